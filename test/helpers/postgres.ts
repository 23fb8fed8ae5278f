/**
 * A throwaway PostgreSQL 15 for tests: initdb under a temp dir, the postmaster on a free
 * 127.0.0.1 port (unix socket in the temp dir), fsync off, stopped by its PID and the dir
 * removed. PostgreSQL refuses to run as root, so both run as the `postgres` system user
 * (Node's spawn uid/gid: the spawned PID is the postmaster itself, no wrapper to outlive).
 *
 * PG_TEST_URL (e.g. a managed PostgreSQL: postgres://user:pass@host:5432/postgres) makes
 * the helper use that server instead: it must allow CREATE DATABASE, and each suite's
 * databases are dropped by stop().
 *
 * Usage: `const pg = await startPostgres(); afterAll(() => pg.stop()); const url = await pg.createDatabase();`
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './free-port.js';

export const INITDB_BIN = '/usr/lib/postgresql/15/bin/initdb';
export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin/postgres';

/**
 * The binary of Debian's PostgreSQL 15 (this machine, CI's bookworm), or of the newest
 * major installed when another Debian release ships another one.
 */
function pgBin(path: string): string {
  if (existsSync(path)) return path;
  const name = path.split('/').at(-1)!;
  const majors = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').map(Number).filter((n) => n > 0).sort((a, b) => b - a) : [];
  const found = majors.map((m) => `/usr/lib/postgresql/${m}/bin/${name}`).find((p) => existsSync(p));
  if (!found) throw new Error(`${name} not found under /usr/lib/postgresql: install postgresql (apt-get install postgresql)`);
  return found;
}

/** The system user the server runs as (root is refused by PostgreSQL). */
const PG_USER = 'postgres';

export interface TestPostgres {
  /** The server's URL with the superuser's credentials, database `postgres`. */
  readonly url: string;
  /** Creates an empty database (t_<random>) and returns its URL. */
  createDatabase(): Promise<string>;
  /** The same URL with another password (a wrong one, for startup-error tests). */
  withPassword(url: string, password: string): string;
  /** Stops the postmaster by PID (or, external, drops the databases created) and removes the temp dir. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) {
    try { if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
  }
});

/**
 * Starts a server (or adopts PG_TEST_URL); one per test file. `local`: always a local
 * server of its own, for a test that stops it under the mirror.
 */
export async function startPostgres(options: { local?: boolean } = {}): Promise<TestPostgres> {
  const external = options.local ? undefined : process.env.PG_TEST_URL;
  if (external) return handle(external, async () => {}, true);
  const { uid, gid } = await systemUser(PG_USER);
  reapOrphans();
  const dir = mkdtempSync(join(tmpdir(), 'mirror-pg-'));
  // The test process that owns this server: a later run stops it should that one die first.
  writeFileSync(join(dir, 'owner'), String(process.pid));
  const data = join(dir, 'data');
  mkdirSync(data, { mode: 0o700 });
  const password = randomBytes(12).toString('hex');
  writeFileSync(join(dir, 'pwfile'), `${password}\n`, { mode: 0o600 });
  for (const p of [dir, data, join(dir, 'pwfile')]) chownSync(p, uid, gid);
  const run = promisify(execFile);
  try {
    await run(pgBin(INITDB_BIN), ['-D', data, '-U', 'mirror', '--pwfile', join(dir, 'pwfile'), '--auth-local=trust',
      '--auth-host=scram-sha-256', '--no-sync', '--no-instructions', '-E', 'UTF8', '--locale=C'], { uid, gid, cwd: dir });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const port = await freePort();
  const child = spawn(pgBin(POSTGRES_BIN), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
  { uid, gid, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let output = '';
  const capture = (b: Buffer) => { output = (output + b.toString()).slice(-16_384); };
  child.stdout?.on('data', capture);
  child.stderr?.on('data', capture);
  const exited = new Promise<void>((resolve) => child.once('exit', () => { live.delete(child); resolve(); }));
  const url = `postgres://mirror:${password}@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT'); // fast shutdown
      const killed = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
      if (!killed) { child.kill('SIGKILL'); await exited; }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) { await stop(); throw new Error(`postgres exited at start:\n${output}`); }
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      break;
    } catch {
      await client.end().catch(() => {});
      if (Date.now() > deadline) { await stop(); throw new Error(`postgres did not accept connections:\n${output}`); }
      await sleep(50);
    }
  }
  return handle(url, stop, false);
}

function handle(url: string, stopServer: () => Promise<void>, external: boolean): TestPostgres {
  const created: string[] = [];
  const admin = async <T>(fn: (c: pg.Client) => Promise<T>) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try { return await fn(client); } finally { await client.end(); }
  };
  const withDb = (name: string) => { const u = new URL(url); u.pathname = `/${name}`; return u.toString(); };
  return {
    url,
    async createDatabase() {
      const name = `t_${randomBytes(6).toString('hex')}`;
      await admin((c) => c.query(`CREATE DATABASE ${name}`));
      created.push(name);
      return withDb(name);
    },
    withPassword(u, password) { const x = new URL(u); x.password = password; return x.toString(); },
    async stop() {
      if (external) {
        await admin(async (c) => { for (const n of created) await c.query(`DROP DATABASE IF EXISTS ${n} WITH (FORCE)`); });
      }
      await stopServer();
    },
  };
}

/**
 * A test worker killed by a signal (a timeout, ^C) leaves its postmaster running (no exit
 * handler runs): servers whose owner process is gone are stopped here by their PID
 * (postmaster.pid's first line) and their dirs removed.
 */
function reapOrphans(): void {
  for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith('mirror-pg-'))) {
    const dir = join(tmpdir(), name);
    try {
      const owner = Number(readFileSync(join(dir, 'owner'), 'utf8'));
      if (alive(owner)) continue;
      const pid = Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
      // Only that very postmaster (a PID may have been reused): its command line names the dir.
      const ours = pid > 0 && alive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
      if (ours) process.kill(pid, 'SIGQUIT'); // immediate shutdown: a throwaway server
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Not ours, still starting, or already gone.
    }
  }
}

function alive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** uid and gid of a local system user (Debian's postgresql package creates `postgres`). */
async function systemUser(name: string): Promise<{ uid: number; gid: number }> {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no system user ${name}: install postgresql`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
