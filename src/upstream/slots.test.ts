import { describe, expect, test } from 'vitest';
import { Background, createSlots } from './slots.js';

const tick = () => new Promise((r) => setImmediate(r));

/** Acquires a slot and records, by name, the order in which slots were granted. */
function recorder(concurrency: number) {
  const slots = createSlots(concurrency);
  const order: string[] = [];
  const releases = new Map<string, () => void>();
  const take = (name: string, bg?: Background) => {
    void slots.acquire(bg).then((release) => {
      order.push(name);
      releases.set(name, release);
    });
  };
  return { order, take, release: (name: string) => releases.get(name)!() };
}

describe('upstream slots', () => {
  test('a client request waiting takes the next free slot before background requests queued earlier', async () => {
    const s = recorder(1);
    s.take('running', new Background());
    s.take('bg1', new Background());
    s.take('bg2', new Background());
    s.take('client');
    await tick();
    expect(s.order).toEqual(['running']);
    s.release('running');
    await tick();
    expect(s.order).toEqual(['running', 'client']);
    s.release('client');
    await tick();
    s.release('bg1');
    await tick();
    expect(s.order).toEqual(['running', 'client', 'bg1', 'bg2']);
  });

  test('FIFO within each class; a running background request keeps its slot', async () => {
    const s = recorder(2);
    s.take('bg-running', new Background());
    s.take('c0');
    s.take('bg1', new Background());
    s.take('c1');
    s.take('c2');
    await tick();
    expect(s.order).toEqual(['bg-running', 'c0']);
    s.release('c0');
    await tick();
    s.release('c1');
    await tick();
    expect(s.order).toEqual(['bg-running', 'c0', 'c1', 'c2']);
    s.release('c2');
    await tick();
    expect(s.order).toEqual(['bg-running', 'c0', 'c1', 'c2', 'bg1']);
  });

  test('a promoted background request waits as a client request from then on', async () => {
    const s = recorder(1);
    const joined = new Background();
    s.take('running');
    s.take('bg1', new Background());
    s.take('joined', joined);
    s.take('client');
    joined.promote();
    joined.promote();
    await tick();
    s.release('running');
    await tick();
    s.release('client');
    await tick();
    expect(s.order).toEqual(['running', 'client', 'joined']);
    s.release('joined');
    await tick();
    expect(s.order).toEqual(['running', 'client', 'joined', 'bg1']);
  });

  test('release() twice frees one slot only', async () => {
    const slots = createSlots(1);
    const first = await slots.acquire();
    let second = false;
    let third = false;
    void slots.acquire().then(() => { second = true; });
    void slots.acquire().then(() => { third = true; });
    first();
    first();
    await tick();
    expect([second, third]).toEqual([true, false]);
  });
});
