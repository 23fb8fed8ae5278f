/**
 * Index scale: does the mirror start fast and serve a cached manifest as fast with a big
 * index (1,000,000 blobs, 100,000 manifests) as with a small one (1,000 / 100)?
 *
 * Each data dir is made by the mirror itself (its migrations, and one real cached tag
 * fetched through it), then filled with rows shaped like what the mirror writes: per
 * manifest a tag, a repo link and 10 layer refs; per blob a repo link.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { spawnProcess } from '../test/helpers/processes.js';
import type { Cleanup } from './cleanup.js';
import { rotate, type Recorder } from './recorder.js';
import { MIRROR_MAIN } from './setup.js';
import { launchMirror, MIRROR_ENV, peakRssMiB } from './systems.js';
import { curlGet, MANIFEST_ACCEPT, wrk } from './tools.js';

export interface IndexSize {
  label: string;
  blobs: number;
  manifests: number;
}

export const INDEX_SIZES: readonly IndexSize[] = [
  { label: '1k-row index', blobs: 1_000, manifests: 100 },
  { label: '1M-row index', blobs: 1_000_000, manifests: 100_000 },
];

const MANIFEST_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
const LAYER_TYPE = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

/** A data dir holding `manifestPath`'s tag (cached by the mirror itself) plus `size` rows. */
export async function prepareIndexDir(size: IndexSize, upstreamUrl: string, manifestPath: string, cleanup: Cleanup): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-index-'));
  cleanup.add(`index dir ${size.label}`, () => rmSync(dir, { recursive: true, force: true }));
  const mirror = await launchMirror({ upstreamUrl, dataDir: dir });
  try {
    const res = await curlGet(mirror.url + manifestPath, [`Accept: ${MANIFEST_ACCEPT}`]);
    if (res.status !== 200) throw new Error(`index scale: caching ${manifestPath} failed: HTTP ${res.status}`);
  } finally {
    await mirror.stop();
  }
  fillIndex(join(dir, 'index.db'), size);
  return dir;
}

/**
 * Rows made inside SQLite (INSERT ... SELECT over a counter), not one JS call per row:
 * blob digests are random; manifest i lists blobs 10i..10i+9 as its layers (refs and
 * bytes agree) and is tagged t<i> in repository scale-<i mod 1000>.
 */
const FILL_SQL = [
  'CREATE TEMP TABLE fake_blobs (i INTEGER PRIMARY KEY, digest TEXT NOT NULL)',
  `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < @blobs)
   INSERT INTO fake_blobs SELECT i, 'sha256:' || lower(hex(randomblob(32))) FROM n`,
  `INSERT INTO blobs (digest, size, created_at, last_access, hits, origin)
   SELECT digest, 1000000 + i, @now - i, @now - i, 1, 'upstream' FROM fake_blobs ORDER BY digest`,
  `INSERT INTO repo_blobs (repo, digest)
   SELECT 'docker.io/library/scale-' || (i / 10 % 1000) AS repo, digest FROM fake_blobs ORDER BY repo, digest`,
  'CREATE TEMP TABLE fake_manifests (m INTEGER PRIMARY KEY, digest TEXT, bytes BLOB)',
  `INSERT INTO fake_manifests (m, bytes)
   SELECT i / 10, CAST('{"schemaVersion":2,"mediaType":"${MANIFEST_TYPE}","layers":[' || group_concat(
     '{"mediaType":"${LAYER_TYPE}","digest":"' || digest || '","size":' || (1000000 + i) || '}', ',') || ']}' AS BLOB)
   FROM fake_blobs WHERE i / 10 < @manifests GROUP BY i / 10`,
  'UPDATE fake_manifests SET digest = bench_sha256(bytes)',
  `INSERT INTO manifests (digest, media_type, size, bytes, subject, artifact_type, created_at, last_access)
   SELECT digest, '${MANIFEST_TYPE}', length(bytes), bytes, NULL, NULL, @now, @now FROM fake_manifests ORDER BY digest`,
  `INSERT INTO repo_manifests (repo, digest)
   SELECT 'docker.io/library/scale-' || (m % 1000) AS repo, digest FROM fake_manifests ORDER BY repo, digest`,
  `INSERT INTO tags (repo, tag, digest, fetched_at, checked_at)
   SELECT 'docker.io/library/scale-' || (m % 1000) AS repo, 't' || m AS tag, digest, @now, @now FROM fake_manifests ORDER BY repo, tag`,
  `INSERT INTO manifest_refs (parent, child, kind)
   SELECT fm.digest AS parent, fb.digest AS child, 'layer' FROM fake_blobs fb JOIN fake_manifests fm ON fm.m = fb.i / 10
   ORDER BY parent, child`,
  `INSERT OR IGNORE INTO repositories (name, kind, upstream, created_at)
   SELECT DISTINCT 'docker.io/library/scale-' || (m % 1000), 'mirror', 'docker.io', @now FROM fake_manifests`,
];

function fillIndex(file: string, size: IndexSize): void {
  const db = new Database(file);
  // A throwaway build: no journal, no fsync, and a cache big enough that the 1M-row
  // B-trees do not thrash (row by row with the defaults, this took over a minute).
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -1048576');
  db.function('bench_sha256', (bytes: unknown) => `sha256:${createHash('sha256').update(bytes as Buffer).digest('hex')}`);
  const params = { blobs: size.blobs, manifests: size.manifests, now: Date.now() };
  // Secondary indexes are dropped and rebuilt after (a sorted build beats 1M random inserts);
  // their definitions come from the migrated schema itself, so they stay the mirror's own.
  const indexes = db.prepare<[], { name: string; sql: string }>(
    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").all();
  db.transaction(() => {
    for (const { name } of indexes) db.exec(`DROP INDEX "${name}"`);
    for (const sql of FILL_SQL) {
      const st = db.prepare(sql);
      const names = ['blobs', 'manifests', 'now'].filter((n) => sql.includes(`@${n}`));
      st.run(Object.fromEntries(names.map((n) => [n, params[n as keyof typeof params]])));
    }
    for (const { sql } of indexes) db.exec(sql);
  })();
  db.pragma('journal_mode = WAL'); // as the mirror keeps it
  db.close();
}

/** Start the mirror on each dir in turn: time to a 200 on /healthz, then the manifest rate. */
export async function measureIndexScale(
  dirs: Record<string, string>, upstreamUrl: string, manifestPath: string, rec: Recorder, round: number, wrkSeconds: number,
): Promise<void> {
  for (const label of rotate(Object.keys(dirs), round)) {
    const mirror = await launchMirror({ dataDir: dirs[label]!, upstreamUrl });
    try {
      rec.add('index scale: start to /healthz 200', label, 's', mirror.startSeconds);
      const result = await wrk(mirror.url + manifestPath, { connections: 16, seconds: wrkSeconds, headers: [`Accept: ${MANIFEST_ACCEPT}`] });
      if (result.errors > 0) rec.note(`index scale, ${label}: ${result.errors} errors in ${result.requests} requests`);
      rec.add('index scale: cached manifest GET', label, 'req/s', result.rps);
      rec.add('index scale: manifest GET p99', label, 'ms', result.p99Ms);
      rec.add('peak RSS', `mirror, ${label}`, 'MiB', (await peakRssMiB(mirror.process.pid)).mib);
    } finally {
      await mirror.stop();
    }
  }
}

/** Evicted by the prune figure: the oldest blobs of the big index (its target: ≤ 30 s). */
export const PRUNE_BLOBS = 100_000;

/**
 * `registry-mirror prune --max-size` on the big index, sized so that exactly the
 * PRUNE_BLOBS least recently used blobs must go (blob i: 1,000,000 + i bytes, last
 * accessed i ms before the build). Their files do not exist: the figure is the index side.
 * Run last: it changes the dir.
 */
export async function measurePrune(dir: string, size: IndexSize, rec: Recorder): Promise<void> {
  const keep = size.blobs - PRUNE_BLOBS;
  const maxSize = keep * 1_000_000 + (keep * (keep - 1)) / 2;
  const started = performance.now();
  const proc = spawnProcess('mirror prune', process.execPath, [MIRROR_MAIN, 'prune', '--max-size', String(maxSize)], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...MIRROR_ENV, MIRROR_STORAGE_PATH: dir },
  });
  await proc.exited;
  const seconds = (performance.now() - started) / 1000;
  if (proc.exitStatus() !== 0) {
    rec.note(`prune failed (exit ${String(proc.exitStatus())}): ${proc.output().trim().split('\n').slice(-3).join(' / ')}`);
    return;
  }
  const db = new Database(join(dir, 'index.db'), { readonly: true });
  const left = db.prepare('SELECT COUNT(*) FROM blobs').pluck().get() as number;
  db.close();
  if (size.blobs - left !== PRUNE_BLOBS) rec.note(`prune evicted ${size.blobs - left} blobs, expected ${PRUNE_BLOBS}`);
  rec.add(`index scale: prune ${PRUNE_BLOBS.toLocaleString('en-US')} of 1M blobs`, size.label, 's', seconds);
}
