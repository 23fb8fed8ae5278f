import { linkSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { FILE_MODE } from './fs-ops.js';

/**
 * The data dir's exclusive lock for `serve`: `<data>/lock` holds the PID of the server
 * that owns the directory. A second server on the same data would remove the first one's
 * upload temp files at startup (and race its writes), so it must refuse to start.
 * Offline commands (gc, prune, stats) do not take it: they are meant to run beside a live
 * server, and never touch temp files.
 */
export const LOCK_FILE = 'lock';

export class DataDirLockedError extends Error {
  constructor(readonly pid: number, readonly dir: string) {
    super(`storage.path ${dir} is in use by another registry-mirror (pid ${pid}); stop it first, or remove ${join(dir, LOCK_FILE)} if no such process is running`);
    this.name = 'DataDirLockedError';
  }
}

export interface DataLock {
  /** The PID of a dead holder whose lock was taken over (it crashed), if any. */
  readonly tookOverFrom?: number;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void;
}

/** Lock files this process holds: same-PID locks not in here are a previous run's (PID reuse in containers). */
const held = new Set<string>();

/**
 * Takes the lock or throws DataDirLockedError naming the live holder. A lock whose
 * PID is dead is stale (a crash, SIGKILL) and is taken over.
 */
export function acquireDataLock(dir: string): DataLock {
  const path = join(dir, LOCK_FILE);
  let tookOverFrom: number | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (create(path)) {
      held.add(path);
      let released = false;
      return {
        ...(tookOverFrom !== undefined ? { tookOverFrom } : {}),
        release() {
          if (released) return;
          released = true;
          held.delete(path);
          if (readPid(path) === process.pid) rmSync(path, { force: true });
        },
      };
    }
    const pid = readPid(path);
    if (pid === undefined) continue; // removed meanwhile: try again
    if (isAlive(pid) && (pid !== process.pid || held.has(path))) throw new DataDirLockedError(pid, dir);
    if (takeOver(path, pid)) tookOverFrom = pid;
  }
  throw new Error(`could not take the lock ${path}: it keeps changing`);
}

/** Creates the lock with our PID, whole or not at all: written aside, then linked (fails if it exists). */
function create(path: string): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, `${process.pid}\n`, { mode: FILE_MODE });
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Moves a stale lock aside, then checks that what was moved is the stale lock seen
 * (another starter may have replaced it meanwhile): if not, it is put back.
 */
function takeOver(path: string, stalePid: number): boolean {
  const aside = `${path}.stale.${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  if (readPid(aside) === stalePid) {
    unlinkSync(aside);
    return true;
  }
  try {
    linkSync(aside, path);
  } catch {
    // A third process took it meanwhile: it holds the lock, ours will fail to link.
  }
  rmSync(aside, { force: true });
  return false;
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : 0;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
