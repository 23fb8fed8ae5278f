import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

describe('logger', () => {
  it('writes access-log lines of one event-loop turn in a single write, in order', async () => {
    const writes: string[] = [];
    const log = createLogger('info', (text) => writes.push(text));
    log.line({ n: 1 });
    log.line({ n: 2 });
    log.line({ n: 3 });
    expect(writes).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual(['{"n":1}\n{"n":2}\n{"n":3}\n']);
  });

  it('honours the level: warn drops info lines and access lines, keeps warnings as JSON', async () => {
    const writes: string[] = [];
    const log = createLogger('warn', (text) => writes.push(text));
    log.info('hidden');
    log.line({ hidden: true });
    log.warn('shown', { code: 'X' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toHaveLength(1);
    const entry = JSON.parse(writes[0]!);
    expect(entry).toMatchObject({ level: 'warn', msg: 'shown', code: 'X' });
  });

  it('logs an error as its name, message and code, without a stack', () => {
    const writes: string[] = [];
    const log = createLogger('info', (text) => writes.push(text));
    const err = Object.assign(new Error('boom'), { code: 'ECONNRESET' });
    log.error('failed', { error: err });
    const entry = JSON.parse(writes[0]!);
    expect(entry.error).toEqual({ name: 'Error', message: 'boom', code: 'ECONNRESET' });
    expect(writes[0]).not.toMatch(/\bat /);
  });
});
