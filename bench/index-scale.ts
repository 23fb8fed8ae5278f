/**
 * Index scale: does the mirror start fast and serve a cached manifest as fast with a big
 * index (1,000,000 blobs, 100,000 manifests) as with a small one (1,000 / 100)?
 *
 * Each data dir is made by the mirror itself (its migrations, and one real cached tag
 * fetched through it), then filled with raw INSERTs shaped like what the mirror writes:
 * per manifest a tag, a repo link and 10 layer refs; per blob a repo link.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startMirror } from '../test/helpers/mirror.js';
import type { Cleanup } from './cleanup.js';
import { rotate, type Recorder } from './recorder.js';
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

const REPOS = 1_000;
const LAYERS_PER_MANIFEST = 10;
const BATCH = 100_000;

const fakeDigest = (kind: string, i: number): string =>
  `sha256:${createHash('sha256').update(`${kind}:${i}`).digest('hex')}`;

/** A data dir holding `manifestPath`'s tag (cached by the mirror itself) plus `size` rows. */
export async function prepareIndexDir(size: IndexSize, upstreamUrl: string, manifestPath: string, cleanup: Cleanup): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-index-'));
  cleanup.add(`index dir ${size.label}`, () => rmSync(dir, { recursive: true, force: true }));
  const mirror = await startMirror({ upstreamUrl, dataDir: dir, env: MIRROR_ENV });
  try {
    const res = await curlGet(mirror.url + manifestPath, [`Accept: ${MANIFEST_ACCEPT}`]);
    if (res.status !== 200) throw new Error(`index scale: caching ${manifestPath} failed: HTTP ${res.status}`);
  } finally {
    await mirror.stop();
  }
  fillIndex(join(dir, 'index.db'), size);
  return dir;
}

export { fillIndex as fillIndexForTest };
function fillIndex(file: string, size: IndexSize): void {
  const db = new Database(file);
  // A throwaway build: no journal, no fsync, and a cache big enough that random-key
  // inserts into 1M-row B-trees do not thrash (the default 2 MiB cache makes this take minutes).
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -1048576');
  const now = Date.now();
  const repo = (i: number): string => `docker.io/library/scale-${i % REPOS}`;
  const st = {
    repo: db.prepare("INSERT OR IGNORE INTO repositories (name, kind, upstream, created_at) VALUES (?, 'mirror', 'docker.io', ?)"),
    blob: db.prepare("INSERT INTO blobs (digest, size, created_at, last_access, hits, origin) VALUES (?, ?, ?, ?, 1, 'upstream')"),
    repoBlob: db.prepare('INSERT OR IGNORE INTO repo_blobs (repo, digest) VALUES (?, ?)'),
    manifest: db.prepare(`INSERT INTO manifests (digest, media_type, size, bytes, subject, artifact_type, created_at, last_access)
      VALUES (?, 'application/vnd.docker.distribution.manifest.v2+json', ?, ?, NULL, NULL, ?, ?)`),
    repoManifest: db.prepare('INSERT OR IGNORE INTO repo_manifests (repo, digest) VALUES (?, ?)'),
    tag: db.prepare('INSERT INTO tags (repo, tag, digest, fetched_at, checked_at) VALUES (?, ?, ?, ?, ?)'),
    ref: db.prepare("INSERT OR IGNORE INTO manifest_refs (parent, child, kind) VALUES (?, ?, 'layer')"),
  };
  const batch = (from: number, to: number, body: (i: number) => void): void =>
    db.transaction(() => { for (let i = from; i < to; i++) body(i); })();

  batch(0, REPOS, (i) => st.repo.run(repo(i), now));
  for (let b = 0; b < size.blobs; b += BATCH) {
    batch(b, Math.min(b + BATCH, size.blobs), (i) => {
      const digest = fakeDigest('blob', i);
      st.blob.run(digest, 1_000_000 + i, now - i, now - i);
      st.repoBlob.run(repo(Math.floor(i / LAYERS_PER_MANIFEST)), digest);
    });
  }
  for (let m = 0; m < size.manifests; m += BATCH) {
    batch(m, Math.min(m + BATCH, size.manifests), (i) => {
      const layers = Array.from({ length: LAYERS_PER_MANIFEST }, (_, k) => fakeDigest('blob', (i * LAYERS_PER_MANIFEST + k) % size.blobs));
      const bytes = Buffer.from(JSON.stringify({
        schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        layers: layers.map((digest) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest, size: 1 })),
      }));
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      st.manifest.run(digest, bytes.length, bytes, now, now);
      st.repoManifest.run(repo(i), digest);
      st.tag.run(repo(i), `t${i}`, digest, now, now);
      for (const layer of layers) st.ref.run(digest, layer);
    });
  }
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
      await mirror.process.stop();
    }
  }
}
