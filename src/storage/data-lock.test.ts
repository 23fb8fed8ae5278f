import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireDataLock, DataDirLockedError } from './data-lock.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mirror-lock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The PID of a process that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

describe('acquireDataLock', () => {
  it('writes our PID to <data>/lock and removes it on release', () => {
    const lock = acquireDataLock(dir);
    expect(readFileSync(join(dir, 'lock'), 'utf8').trim()).toBe(String(process.pid));
    lock.release();
    expect(existsSync(join(dir, 'lock'))).toBe(false);
    acquireDataLock(dir).release();
  });

  it('refuses a second holder while the first holds it, naming its PID', () => {
    const lock = acquireDataLock(dir);
    const err = (() => {
      try {
        acquireDataLock(dir);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect((err as DataDirLockedError).pid).toBe(process.pid);
    expect((err as Error).message).toContain(`pid ${process.pid}`);
    lock.release();
  });

  it('refuses a lock held by another live process', () => {
    writeFileSync(join(dir, 'lock'), `${process.ppid}\n`);
    expect(() => acquireDataLock(dir)).toThrow(`pid ${process.ppid}`);
  });

  it('takes over a lock whose process is gone, and one that names our PID from an earlier run', () => {
    const pid = deadPid();
    writeFileSync(join(dir, 'lock'), `${pid}\n`);
    const lock = acquireDataLock(dir);
    expect(lock.tookOverFrom).toBe(pid);
    lock.release();
    // A restarted container often gets the same PID as its previous run.
    writeFileSync(join(dir, 'lock'), `${process.pid}\n`);
    const again = acquireDataLock(dir);
    expect(again.tookOverFrom).toBe(process.pid);
    again.release();
  });

  it('release leaves a lock that is no longer ours', () => {
    const lock = acquireDataLock(dir);
    writeFileSync(join(dir, 'lock'), '1\n');
    lock.release();
    expect(readFileSync(join(dir, 'lock'), 'utf8')).toBe('1\n');
  });
});
