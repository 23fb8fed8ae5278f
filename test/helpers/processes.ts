/**
 * Long-running child processes for end-to-end tests: spawn, wait until an HTTP
 * endpoint answers, stop by PID (SIGTERM, then SIGKILL after a grace period).
 *
 * Usage:
 * ```ts
 * const proc = spawnProcess('registry', '/usr/bin/docker-registry', ['serve', cfg]);
 * afterAll(() => proc.stop());
 * await waitForHttp('http://127.0.0.1:5000/v2/', { process: proc });
 * ```
 * A failing test still stops the process as long as `stop()` is called from
 * `afterAll`; as a last resort every live child is SIGKILLed when the test
 * worker exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';

/** Keep this much of the most recent output in memory for error messages. */
const MAX_OUTPUT_CHARS = 64 * 1024;

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Also append stdout and stderr to this file (useful for long runs). */
  logFile?: string;
}

export interface ProcessHandle {
  readonly name: string;
  readonly pid: number;
  /** The last ~64 KiB of interleaved stdout and stderr. */
  output(): string;
  /** Exit code (or signal name) once the process has exited, else undefined. */
  exitStatus(): number | string | undefined;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) {
    try {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Start `command args...` with output captured; throws if it cannot be spawned. */
export function spawnProcess(
  name: string,
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ProcessHandle {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`${name}: could not spawn ${command}`);
  const pid = child.pid;
  live.add(child);

  let output = '';
  const log: WriteStream | undefined = options.logFile
    ? createWriteStream(options.logFile, { flags: 'a' })
    : undefined;
  const capture = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-MAX_OUTPUT_CHARS);
    log?.write(chunk);
  };
  child.stdout?.on('data', capture);
  child.stderr?.on('data', capture);

  let status: number | string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      status = code ?? signal ?? 'unknown';
      live.delete(child);
      resolve();
    });
    child.once('error', (err) => {
      capture(Buffer.from(`\n[spawn error] ${err.message}\n`));
      status ??= 'error';
      live.delete(child);
      resolve();
    });
  });
  // Close the log only after the pipes are drained.
  child.once('close', () => log?.end());

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 5_000): Promise<void> => {
    stopping ??= (async () => {
      if (status !== undefined) return;
      signalPid(pid, 'SIGTERM');
      const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs, true)]);
      if (timedOut) {
        signalPid(pid, 'SIGKILL');
        await exited;
      }
    })();
    return stopping;
  };

  return { name, pid, output: () => output, exitStatus: () => status, exited, stop };
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

export interface WaitForHttpOptions {
  /** Give up after this long (default 20 s). */
  timeoutMs?: number;
  /** Poll interval (default 100 ms). */
  intervalMs?: number;
  /** Which statuses count as "up" (default: any HTTP answer). */
  accept?: (status: number) => boolean;
  /** Fail fast (with its output) if this process exits while we wait. */
  process?: ProcessHandle;
  /** e.g. an Agent that trusts a test CA, for https URLs. */
  dispatcher?: import('undici').Dispatcher;
}

/** Poll `url` with GET until it answers with an accepted status; returns that status. */
export async function waitForHttp(url: string, options: WaitForHttpOptions = {}): Promise<number> {
  const { timeoutMs = 20_000, intervalMs = 100, accept = () => true, process: proc, dispatcher } = options;
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  while (Date.now() < deadline) {
    if (proc?.exitStatus() !== undefined) {
      throw new Error(
        `${proc.name} exited (${String(proc.exitStatus())}) before ${url} answered:\n${proc.output()}`,
      );
    }
    try {
      const res = await request(url, { method: 'GET', headersTimeout: 2_000, bodyTimeout: 2_000, dispatcher });
      await res.body.dump();
      if (accept(res.statusCode)) return res.statusCode;
      last = `HTTP ${res.statusCode}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(intervalMs);
  }
  const tail = proc ? `\n--- ${proc.name} output ---\n${proc.output()}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${url} (last: ${last})${tail}`);
}
