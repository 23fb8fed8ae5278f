import { describe, expect, test } from 'vitest';
import { createLogger } from '../log/logger.js';
import { EventBus } from './event-bus.js';
import type { RegistryEvent } from './event-types.js';

describe('EventBus', () => {
  test('a listener sees the events of its types, in order, with every field present and the clock\'s time', () => {
    const bus = new EventBus({ now: () => 1234 });
    const seen: RegistryEvent[] = [];
    bus.on(['manifest.pulled', 'blob.filled'], (e) => seen.push(e));
    bus.emit('manifest.pulled', { repository: 'docker.io/library/alpine', digest: 'sha256:a', cache: 'MISS', upstream: 'docker.io', tag: 'latest' });
    bus.emit('blob.pushed', { repository: 'team/app', digest: 'sha256:b' });
    bus.emit('blob.filled', { repository: 'docker.io/library/alpine', digest: 'sha256:c', size: 3 });
    expect(seen).toEqual([
      {
        type: 'manifest.pulled', repository: 'docker.io/library/alpine', digest: 'sha256:a', size: undefined, mediaType: undefined,
        tag: 'latest', actor: undefined, upstream: 'docker.io', cache: 'MISS', time: 1234,
      },
      {
        type: 'blob.filled', repository: 'docker.io/library/alpine', digest: 'sha256:c', size: 3, mediaType: undefined,
        tag: undefined, actor: undefined, upstream: undefined, cache: undefined, time: 1234,
      },
    ]);
    // One shape for every event: the same keys in the same order.
    expect(Object.keys(seen[0]!)).toEqual(Object.keys(seen[1]!));
  });

  test("'*' subscribes to every type; wants() says whether anyone listens; unsubscribe stops delivery", () => {
    const bus = new EventBus();
    expect(bus.wants('blob.evicted')).toBe(false);
    const types: string[] = [];
    const off = bus.on('*', (e) => types.push(e.type));
    expect(bus.wants('blob.evicted')).toBe(true);
    bus.emit('blob.evicted', { digest: 'sha256:a' });
    bus.emit('upload.started', { repository: 'team/app' });
    off();
    expect(bus.wants('blob.evicted')).toBe(false);
    bus.emit('blob.evicted', { digest: 'sha256:b' });
    expect(types).toEqual(['blob.evicted', 'upload.started']);
  });

  test('a listener that throws does not reach the emitter, the others still run, and it is logged once', () => {
    const lines: string[] = [];
    const bus = new EventBus({ log: createLogger('info', (l) => lines.push(l)) });
    const after: string[] = [];
    bus.on('tag.moved', () => { throw new Error('listener bug'); });
    bus.on('tag.moved', (e) => after.push(e.tag!));
    expect(() => {
      bus.emit('tag.moved', { repository: 'team/app', tag: 'v1', digest: 'sha256:a' });
      bus.emit('tag.moved', { repository: 'team/app', tag: 'v2', digest: 'sha256:b' });
    }).not.toThrow();
    expect(after).toEqual(['v1', 'v2']);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/event listener failed/);
    expect(lines[0]).toMatch(/listener bug/);
  });

  test('a listener unsubscribing during dispatch does not skip the next one', () => {
    const bus = new EventBus();
    const seen: string[] = [];
    const off = bus.on('blob.deleted', () => { seen.push('first'); off(); });
    bus.on('blob.deleted', () => seen.push('second'));
    bus.emit('blob.deleted', { digest: 'sha256:a' });
    bus.emit('blob.deleted', { digest: 'sha256:a' });
    expect(seen).toEqual(['first', 'second', 'second']);
  });
});
