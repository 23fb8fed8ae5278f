/**
 * `gc --check` / `gc --repair`: an index row whose file is missing and a file no row
 * names are found; repair drops the row (a pull fetches the blob again) and removes the
 * stray file; a stray younger than the grace period is left; a second check is clean.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkStorage, type GcFinding } from '../../src/admin/gc-check.js';
import { warmImages } from '../../src/admin/warm.js';
import { createCore, type Core } from '../../src/core.js';
import { parseDigest } from '../../src/oci/digest.js';
import { parseImageRef } from '../../src/oci/image-ref.js';
import { blobPath } from '../../src/storage/fs-blob-store.js';
import { sha256, startFakeUpstream, type FakeImage, type FakeUpstream } from '../helpers/fake-upstream.js';
import { mirrorAppConfig } from '../helpers/mirror-app.js';
import { MIRROR_MAIN } from '../helpers/mirror.js';

const HOUR = 3_600_000;
let up: FakeUpstream;
let core: Core;
let img: FakeImage;

beforeEach(async () => {
  up = await startFakeUpstream();
  core = await createCore(mirrorAppConfig(up.url));
  img = up.addImage('library/alpine', '3.20', { layers: [Buffer.from('layer one'), Buffer.from('layer two')] });
  expect(await warmImages(core.namespace.resolver, [parseImageRef('alpine:3.20')])).toMatchObject({ failed: 0, blobsFetched: 3 });
});
afterEach(async () => {
  await core.close();
  rmSync(core.config.storage.path, { recursive: true, force: true });
  await up.close();
});

const pathOf = (digest: string) => blobPath(core.config.storage.path, parseDigest(digest));
/** A file under blobs/ that no row names (as a crash between rename and row would leave). */
function plantStray(content: string): string {
  const digest = sha256(content);
  mkdirSync(dirname(pathOf(digest)), { recursive: true });
  writeFileSync(pathOf(digest), content);
  return digest;
}
const check = (repair: boolean, now = Date.now() + 2 * HOUR, findings: GcFinding[] = []) =>
  checkStorage(core.ports, core.store, { repair, graceMs: HOUR, now, onFinding: (f) => findings.push(f) });

describe('checkStorage', () => {
  it('finds a missing file and a stray file; repair fixes both; a second check is clean', async () => {
    unlinkSync(pathOf(img.layers[0]!));
    const stray = plantStray('nobody names me');

    const findings: GcFinding[] = [];
    const found = await check(false, undefined, findings);
    expect(found).toMatchObject({ rowsChecked: 3, filesChecked: 3, missingFiles: 1, missingPushed: 0, strayFiles: 1, youngStrays: 0, rowsDropped: 0, filesRemoved: 0, clean: false });
    expect(findings.sort((a, b) => a.kind.localeCompare(b.kind))).toEqual([
      { kind: 'missing', digest: img.layers[0], size: 9, origin: 'upstream', action: 'reported' },
      { kind: 'stray', digest: stray, size: 15, action: 'reported' },
    ]);
    // A check changes nothing.
    expect(await core.ports.blobs.getBlob(img.layers[0]!)).toBeDefined();
    expect(existsSync(pathOf(stray))).toBe(true);

    const repaired = await check(true);
    expect(repaired).toMatchObject({ missingFiles: 1, strayFiles: 1, rowsDropped: 1, filesRemoved: 1, clean: true });
    expect(await core.ports.blobs.getBlob(img.layers[0]!)).toBeUndefined();
    expect(await core.ports.blobs.hasRepoBlob('docker.io/library/alpine', img.layers[0]!)).toBe(false);
    expect(existsSync(pathOf(stray))).toBe(false);
    expect(existsSync(pathOf(img.layers[1]!))).toBe(true);

    expect(await check(false)).toMatchObject({ rowsChecked: 2, filesChecked: 2, missingFiles: 0, strayFiles: 0, clean: true });
    // The dropped row is fetched again by the next pull, and only that blob.
    up.reset();
    expect(await warmImages(core.namespace.resolver, [parseImageRef('alpine:3.20')])).toMatchObject({ blobsFetched: 1, alreadyCached: 2 });
    expect(up.count({ kind: 'blob', method: 'GET' })).toBe(1);
  });

  it('leaves a stray younger than the grace period (a commit writes its row just after the rename)', async () => {
    const young = plantStray('just renamed into place');
    const findings: GcFinding[] = [];
    const s = await check(true, Date.now(), findings);
    expect(s).toMatchObject({ strayFiles: 0, youngStrays: 1, filesRemoved: 0, clean: true });
    expect(findings).toEqual([{ kind: 'stray', digest: young, size: 23, action: 'kept' }]);
    expect(existsSync(pathOf(young))).toBe(true);
  });
});

describe('registry-mirror gc --check / --repair (CLI)', () => {
  const run = promisify(execFile);
  const cli = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [MIRROR_MAIN, 'gc', ...args], {
        env: { PATH: process.env.PATH ?? '', MIRROR_STORAGE_PATH: core.config.storage.path, MIRROR_UPSTREAM_URL: up.url, MIRROR_LOG_LEVEL: 'warn' },
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('exits 1 with findings, repairs with --repair (a young stray kept), then checks clean with exit 0', async () => {
    await core.access.flush();
    unlinkSync(pathOf(img.config));
    const stray = plantStray('stray');

    const found = await cli('--check');
    expect(found.code).toBe(1);
    expect(JSON.parse(found.stdout)).toMatchObject({ missingFiles: 1, strayFiles: 0, youngStrays: 1, clean: false });
    expect(found.stderr).toContain(`missing digest=${img.config} size=`);
    expect(found.stderr).toContain(`stray digest=${stray} size=5 action=kept`);
    expect(found.stderr).toMatch(/^gc --check: 3 rows, 3 files; 1 missing file\(s\)/m);

    const repaired = await cli('--repair', '--grace', '0');
    expect(repaired.code).toBe(0);
    expect(JSON.parse(repaired.stdout)).toMatchObject({ rowsDropped: 1, filesRemoved: 1, clean: true });
    expect(existsSync(pathOf(stray))).toBe(false);

    const again = await cli('--check');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ rowsChecked: 2, filesChecked: 2, missingFiles: 0, strayFiles: 0, clean: true });
  });
});
