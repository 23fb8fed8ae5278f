/**
 * Crash safety: the mirror process is SIGKILLed in the middle of a blob fill and
 * restarted on the same data dir. No partial blob is ever at a final path or served,
 * the index agrees with the disk, and the blob is fetched again and served whole.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startMirror, type MirrorProcess } from '../helpers/mirror.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Every blob row has its file with its size; every blob file has its row. */
function indexAgreesWithDisk(dataDir: string): void {
  const db = new Database(join(dataDir, 'index.db'), { readonly: true });
  const rows = db.prepare('SELECT digest, size FROM blobs').all() as Array<{ digest: string; size: number }>;
  db.close();
  const files = filesUnder(join(dataDir, 'blobs'));
  for (const row of rows) {
    const hex = row.digest.slice('sha256:'.length);
    const path = join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
    expect(existsSync(path), `file for ${row.digest}`).toBe(true);
    expect(statSync(path).size).toBe(row.size);
  }
  expect(files.length).toBe(rows.length);
}

describe('SIGKILL in the middle of a blob fill', () => {
  let up: FakeUpstream;
  let first: MirrorProcess | undefined;
  let second: MirrorProcess | undefined;
  const bytes = randomBytes(8 * 1024 * 1024);
  const digest = sha256(bytes);
  const small = randomBytes(10_000);

  beforeAll(async () => {
    up = await startFakeUpstream();
    up.addImage('library/crash', 'latest', { layers: [bytes, small] });
  });
  afterAll(async () => {
    await first?.stop();
    await second?.destroy();
    await up?.close();
  });

  test('leaves no corrupt blob; after restart the index agrees with the disk and the blob is served whole', async () => {
    first = await startMirror({ upstreamUrl: up.url });
    const dataDir = first.dataDir;
    // One complete blob before the crash, so the index has a row to keep.
    const ok = await request(`${first.url}/v2/library/crash/blobs/${sha256(small)}`);
    expect(Buffer.from(await ok.body.arrayBuffer()).equals(small)).toBe(true);

    up.faults.throttle = { bytesPerChunk: 64 * 1024, intervalMs: 20 };
    const res = await request(`${first.url}/v2/library/crash/blobs/${digest}`);
    expect(res.statusCode).toBe(200);
    let received = 0;
    const reading = (async () => {
      for await (const chunk of res.body) {
        received += (chunk as Buffer).length;
        if (received >= 512 * 1024) await first!.kill();
      }
    })();
    await expect(reading).rejects.toThrow();
    expect(received).toBeLessThan(bytes.length);

    // The crash left a partial temp file at most, never a file at the final path.
    const hex = digest.slice('sha256:'.length);
    expect(existsSync(join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex))).toBe(false);
    expect(filesUnder(join(dataDir, 'tmp')).length).toBeLessThanOrEqual(1);

    up.reset();
    second = await startMirror({ upstreamUrl: up.url, dataDir });
    expect(filesUnder(join(dataDir, 'tmp'))).toEqual([]);
    indexAgreesWithDisk(dataDir);

    const again = await request(`${second.url}/v2/library/crash/blobs/${digest}`);
    const body = Buffer.from(await again.body.arrayBuffer());
    expect(again.headers['x-cache']).toBe('MISS');
    expect(sha256(body)).toBe(digest);
    const warm = await request(`${second.url}/v2/library/crash/blobs/${sha256(small)}`);
    await warm.body.dump();
    expect(warm.headers['x-cache']).toBe('HIT');
    indexAgreesWithDisk(dataDir);
  });
});
