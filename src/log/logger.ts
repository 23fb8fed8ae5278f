import { writeSync } from 'node:fs';

/**
 * JSON-lines logger: one object per line on stdout, so that log shippers need no parser.
 * Every line has `time` (ISO string), `level` ("info", ...) and `msg`, then its fields.
 * Never pass secrets (passwords, tokens, Authorization headers) in fields.
 *
 * Our own, not pino (issue 11 item 5), because pino costs manifest throughput with the
 * access log on. Measured on 2 cores with pino 10 over pino.destination({ sync: false }),
 * `npm run bench -- --only manifest`, runs alternated own/pino 4 × 4 (3 rounds each),
 * "cached manifest GET by tag", mirror+log: own median 24,659 req/s (p99 4.36 ms), pino
 * 22,843 req/s (p99 3.04 ms): 0.93×, below the 0.97× we would call noise. The same
 * 400k access lines written alone take pino 1.8× the CPU of JSON.stringify (its key-by-key
 * serialiser on Node 20; minLength 4096 saves the syscalls, not that).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A raw line (the access log), written when the level allows info. */
  line(fields: Record<string, unknown>): void;
}

/** The flushes of loggers holding access lines not yet written: run on process exit. */
const unflushed = new Set<(atExit: boolean) => void>();
let exitHooked = false;

/**
 * The logger over stdout, or over `write` (tests, and the CLI's stderr); a `write` of ours
 * must be synchronous for the lines of the last turn to survive a process.exit.
 */
export function createLogger(level: LogLevel, write?: (line: string) => void): Logger {
  const min = ORDER[level];
  const out = write ?? ((text: string) => process.stdout.write(text));
  // On exit there is no event loop left to drain process.stdout's queue (a pipe is
  // non-blocking): the last lines go out with a blocking write instead.
  const outAtExit = write ?? writeStdoutSync;
  // Access-log lines written in the same turn of the event loop go out in one write: one
  // syscall per request halved the cached-manifest rate under load.
  let pending: string[] = [];
  const flush = (atExit = false) => {
    unflushed.delete(flush);
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    (atExit ? outAtExit : out)(text);
  };
  const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < min) return;
    // Access lines of this turn first: the log keeps the order things happened in.
    if (pending.length > 0) flush();
    out(stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields }, errorReplacer) + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    line: (f) => {
      if (ORDER.info < min) return;
      if (pending.length === 0) {
        setImmediate(flush);
        // A process that exits in this turn (process.exit after the last request of a
        // shutdown, a CLI command) would otherwise lose these lines.
        unflushed.add(flush);
        if (!exitHooked) {
          exitHooked = true;
          process.once('exit', () => unflushed.forEach((f) => f(true)));
        }
      }
      // An access line carries `level` like every other line, so a shipper filtering on it
      // keeps them (time and msg the entry brings: http/access-log.ts). Prefixed to the
      // JSON rather than spread into a copy: this runs once per request.
      const json = stringify(f, undefined);
      pending.push(json.length > 2 ? `{"level":"info",${json.slice(1)}\n` : '{"level":"info"}\n');
    },
  };
}

/**
 * JSON of a log line; a field JSON cannot take (a cycle, a BigInt) must not turn a log call
 * into an exception, so those lines are written with the value replaced. Access entries
 * (strings and numbers only) go without a replacer: it would slow every request's line.
 */
function stringify(entry: Record<string, unknown>, replacer: typeof errorReplacer | undefined): string {
  try {
    return JSON.stringify(entry, replacer);
  } catch {
    const seen = new WeakSet<object>();
    return JSON.stringify(entry, (key, value: unknown) => {
      if (typeof value === 'bigint') return value.toString();
      if (typeof value === 'object' && value !== null) {
        if (seen.has(value)) return '[Circular]';
        seen.add(value);
      }
      return errorReplacer(key, value);
    });
  }
}

/** How long a write at exit waits in all for a full pipe to drain before dropping the rest. */
const EXIT_WRITE_PATIENCE_MS = 2000;

/**
 * Writes `text` to fd 1 blocking, retrying while the (non-blocking) pipe is full. Bytes
 * process.stdout still queues are lost on exit, the tail of a line among them: a newline
 * first then keeps our lines whole.
 */
function writeStdoutSync(text: string): void {
  let buf = Buffer.from(process.stdout.writableLength > 0 ? `\n${text}` : text);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + EXIT_WRITE_PATIENCE_MS;
  while (buf.length > 0) {
    try {
      buf = buf.subarray(writeSync(1, buf));
    } catch (err) {
      // EPIPE: nobody reads any more; anything else but a full pipe: nothing left to try.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > deadline) return;
      Atomics.wait(sleeper, 0, 0, 1);
    }
  }
}

/** Errors serialise as their message and code (and cause), never a stack: logs get shipped. */
function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const e = value as Error & { code?: unknown };
    return { name: e.name, message: e.message, ...(e.code ? { code: e.code } : {}), ...(e.cause ? { cause: String(e.cause) } : {}) };
  }
  return value;
}

export const silentLogger: Logger = createLogger('silent', () => {});
