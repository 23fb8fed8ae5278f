import { spawn } from 'node:child_process';
import { parseJsonObject } from './json-object.js';

/**
 * Runs a docker credential helper the way docker does:
 *   echo <server URL> | docker-credential-<name> get
 * answering `{"ServerURL": ..., "Username": ..., "Secret": ...}` on stdout
 * (https://github.com/docker/docker-credential-helpers). No shell; the helper is found on
 * PATH of the given environment. The run is bounded: a time limit (the helper and anything
 * it started are killed — its process group), a cap on output, and a non-zero exit is an
 * error carrying only a truncated stderr (for the log; never for a client).
 */

export interface HelperAnswer {
  /** "<token>" means `secret` is an identity (refresh) token, per the protocol. */
  readonly username: string;
  readonly secret: string;
}

export interface HelperRunOptions {
  /** Environment of the helper (PATH, HOME, AWS_*...). Default: the process's. */
  readonly env?: NodeJS.ProcessEnv;
  /** Default 10 s. */
  readonly timeoutMs?: number;
  /** Bytes of stdout (and of stderr) at most. Default 64 KiB. */
  readonly maxOutputBytes?: number;
}

/** Helper names: what docker's config allows in practice, and nothing a path or option could hide in. */
const HELPER_NAME = /^[a-z0-9][a-z0-9-]*$/;
/** How much of a failing helper's stderr goes to the log. */
const STDERR_LOGGED = 200;

/** True when `name` may be a helper name (the part after `docker-credential-`). */
export function isValidHelperName(name: string): boolean {
  return HELPER_NAME.test(name) && name.length <= 64;
}

/** Runs `docker-credential-<name> get` for `serverUrl`. Rejects with an Error whose message holds no secret. */
export function runCredentialHelper(name: string, serverUrl: string, options: HelperRunOptions = {}): Promise<HelperAnswer> {
  if (!isValidHelperName(name)) return Promise.reject(new Error('invalid credential helper name'));
  const timeoutMs = options.timeoutMs ?? 10_000;
  const max = options.maxOutputBytes ?? 64 * 1024;

  return new Promise<HelperAnswer>((resolve, reject) => {
    const child = spawn(`docker-credential-${name}`, ['get'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group, so a timeout kills what the helper started too (a hung
      // grandchild would otherwise hold the pipes open).
      detached: true,
      ...(options.env ? { env: options.env } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let settled = false;

    const finish = (error: Error | undefined, answer?: HelperAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        kill();
        child.stdout.destroy();
        child.stderr.destroy();
        reject(error);
      } else resolve(answer!);
    };
    const kill = (): void => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => finish(new Error(`credential helper timed out after ${timeoutMs} ms`)), timeoutMs);
    timer.unref();

    child.on('error', (e) => finish(new Error(`credential helper could not run: ${(e as NodeJS.ErrnoException).code ?? 'error'}`)));
    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > max) finish(new Error('credential helper output too large'));
      else out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (errBytes < max) err.push(chunk);
      errBytes += chunk.length;
    });
    // 'close': exited and its pipes are done, so stdout is complete.
    child.on('close', (code, signal) => {
      if (code !== 0) {
        const stderr = Buffer.concat(err).toString('utf8').replace(/\s+/g, ' ').trim().slice(0, STDERR_LOGGED);
        finish(new Error(`credential helper exited with ${code ?? signal}${stderr ? `: ${stderr}` : ''}`));
        return;
      }
      const answer = parseHelperAnswer(Buffer.concat(out).toString('utf8'));
      if (answer) finish(undefined, answer);
      else finish(new Error('credential helper answered no usable credentials'));
    });
    // A helper that exits without reading stdin makes the write fail with EPIPE: its exit
    // status decides, not the pipe.
    child.stdin.on('error', () => {});
    child.stdin.end(serverUrl);
  });
}

/** The Username and Secret of a helper's JSON answer, or undefined when it has none. */
export function parseHelperAnswer(text: string): HelperAnswer | undefined {
  const o = parseJsonObject(text);
  if (o === undefined) return undefined;
  const username = o['Username'];
  const secret = o['Secret'];
  if (typeof username !== 'string' || typeof secret !== 'string' || secret === '') return undefined;
  return { username, secret };
}
