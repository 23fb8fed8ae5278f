/**
 * Issue 13: `gc --repair` with a PostgreSQL index over one replica's local files is
 * refused (exit 2) before anything is opened: the files of this replica cannot judge the
 * blobs other replicas hold, and a repair would drop their rows for the whole cluster.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIRROR_MAIN } from '../helpers/mirror.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Run { code: number; stdout: string; stderr: string }
function run(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MIRROR_MAIN, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env } },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

let dir: string;
let env: Record<string, string>;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mirror-gc-repair-'));
  // Port 1: nothing listens; the refusal must come before any connection attempt.
  env = {
    MIRROR_STORAGE_PATH: join(dir, 'data'), MIRROR_INDEX_DRIVER: 'postgres',
    MIRROR_INDEX_URL: 'postgres://u:secretpw@127.0.0.1:1/db', MIRROR_LOG_LEVEL: 'silent',
  };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gc --repair on a postgres index', () => {
  it('with storage.driver fs: exit 2, a message naming both drivers, no password', async () => {
    const r = await run(['gc', '--repair'], env);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/gc --repair: index\.driver is postgres but storage\.driver is fs/);
    expect(r.stderr).toContain('cannot judge the blobs other replicas hold');
    expect(r.stderr).not.toContain('secretpw');
  });

  it('gc --check and gc --repair --dry-run (which only check) are not refused by it', async () => {
    for (const args of [['gc', '--check'], ['gc', '--repair', '--dry-run']]) {
      const r = await run(args, env);
      // They go on to open the index, which is not there: another failure, not the refusal.
      expect(r.stderr).not.toContain('cannot judge');
      expect(r.stderr).toMatch(/PostgreSQL/);
    }
  });
});
