import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLogger, type LogLevel } from './logger.js';

/** A logger over an array, and its lines parsed once every write of this turn is out. */
function capture(level: LogLevel) {
  const writes: string[] = [];
  const log = createLogger(level, (text) => writes.push(text));
  const lines = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    return writes.join('').split('\n').filter(Boolean);
  };
  return { log, lines };
}

/** What the access-log writers in src/http pass to line() (http/access-log.ts accessEntry). */
const ACCESS_ENTRY = {
  time: '2026-11-29T20:00:00.000Z', msg: 'request', method: 'GET', target: '/v2/library/alpine/manifests/latest',
  status: 200, ms: 0.4, cache: 'hit', aborted: undefined,
};

describe('logger', () => {
  it('writes access-log lines of one event-loop turn in a single write, in order', async () => {
    const writes: string[] = [];
    const log = createLogger('info', (text) => writes.push(text));
    log.line({ n: 1 });
    log.line({ n: 2 });
    log.line({ n: 3 });
    expect(writes).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual(['{"level":"info","n":1}\n{"level":"info","n":2}\n{"level":"info","n":3}\n']);
  });

  it('writes an access line with the fields a shipper reads: its own time, level "info", msg, method, target, status, ms', async () => {
    const { log, lines } = capture('info');
    log.line(ACCESS_ENTRY);
    const [line] = await lines();
    expect(JSON.parse(line!)).toEqual({
      time: '2026-11-29T20:00:00.000Z', level: 'info', msg: 'request', method: 'GET',
      target: '/v2/library/alpine/manifests/latest', status: 200, ms: 0.4, cache: 'hit',
    });
    // One `time` and one `level` key: JSON.parse keeps the last of duplicates, a shipper may not.
    expect(line!.match(/"time":/g)).toHaveLength(1);
    expect(line!.match(/"level":/g)).toHaveLength(1);
  });

  it('writes an app line as time (ISO), level as a string, msg, then the fields in the order given', async () => {
    const { log, lines } = capture('debug');
    log.info('serving', { url: 'http://127.0.0.1:5000', note: 'x' });
    log.debug('detail');
    const [serving, detail] = (await lines()).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(serving).toEqual({ time: expect.any(String), level: 'info', msg: 'serving', url: 'http://127.0.0.1:5000', note: 'x' });
    expect(new Date(serving!.time as string).toISOString()).toBe(serving!.time);
    expect(detail).toMatchObject({ level: 'debug', msg: 'detail' });
    // Tests and greps read `"msg":"serving","url":...` (test/cli/readme-commands.test.ts).
    expect((await lines())[0]).toMatch(/"msg":"serving","url":"http:\/\/127\.0\.0\.1:5000","note":"x"/);
  });

  it('honours the level: warn drops debug, info and access lines, keeps warnings and errors', async () => {
    const { log, lines } = capture('warn');
    log.debug('hidden');
    log.info('hidden');
    log.line({ ...ACCESS_ENTRY });
    log.warn('shown', { code: 'X' });
    log.error('also shown');
    const entries = (await lines()).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries).toEqual([
      expect.objectContaining({ level: 'warn', msg: 'shown', code: 'X' }),
      expect.objectContaining({ level: 'error', msg: 'also shown' }),
    ]);
  });

  it('writes nothing at level silent', async () => {
    const { log, lines } = capture('silent');
    log.error('hidden');
    log.line({ ...ACCESS_ENTRY });
    expect(await lines()).toEqual([]);
  });

  it('logs an error as its name, message and code (and cause), without a stack, under any key and nested', async () => {
    const { log, lines } = capture('info');
    const err = Object.assign(new Error('boom', { cause: new Error('socket hang up') }), { code: 'ECONNRESET' });
    log.error('failed', { error: err, err, detail: { attempts: [new TypeError('bad header')] } });
    const [line] = await lines();
    const entry = JSON.parse(line!);
    const plain = { name: 'Error', message: 'boom', code: 'ECONNRESET', cause: 'Error: socket hang up' };
    expect(entry.error).toEqual(plain);
    expect(entry.err).toEqual(plain);
    expect(entry.detail).toEqual({ attempts: [{ name: 'TypeError', message: 'bad header' }] });
    expect(line).not.toMatch(/\bat |stack/);
  });

  it('keeps a field it cannot serialise as JSON from breaking the line (a circular object)', async () => {
    const { log, lines } = capture('info');
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;
    log.warn('odd', { loop });
    const [line] = await lines();
    expect(JSON.parse(line!)).toMatchObject({ level: 'warn', msg: 'odd', loop: { name: 'loop' } });
  });

  it('has every line on stdout when the process exits in the turn it logged them, in the order logged', () => {
    // dist/ is built by test/global-setup.ts: the logger as `node dist/main.js` loads it.
    const built = fileURLToPath(new URL('../../dist/log/logger.js', import.meta.url));
    const script = `
      const { createLogger } = await import(${JSON.stringify(built)});
      const log = createLogger('info');
      const request = (n) => log.line({ time: new Date().toISOString(), msg: 'request', n, target: '/v2/'.padEnd(64, 'x') });
      for (let n = 0; n < 200; n++) request(n);
      log.info('shutting down', { signal: 'SIGTERM' });
      for (let n = 200; n < 400; n++) request(n);
      process.exit(0);`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.status, child.stderr).toBe(0);
    const lines = child.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => (l.msg === 'request' ? l.n : l.msg))).toEqual([
      ...Array.from({ length: 200 }, (_, n) => n), 'shutting down', ...Array.from({ length: 200 }, (_, n) => n + 200),
    ]);
  });
});
