import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../admin/metrics.js';
import { silentLogger } from '../log/logger.js';
import { sha256Digest } from '../oci/digest.js';
import type { Reference } from '../oci/names.js';
import type { MirrorTarget } from '../routing/resolve-repository.js';
import { openSqliteStorage } from '../storage/sqlite-index.js';
import { AccessBatcher } from '../storage/access-batcher.js';
import type { StoragePorts } from '../storage/ports.js';
import type { UpstreamClient, UpstreamResponse } from '../upstream/client.js';
import { RateLimitBudget } from '../upstream/rate-limit-budget.js';
import { createBlobProxy } from './blobs.js';
import { ManifestMemo, type Served } from './manifest-memo.js';
import { createManifestProxy } from './manifests.js';
import { MirroredRepository } from './mirrored-repository.js';
import { createTagsProxy } from './tags.js';

const TTL = 60_000;
const served = (digest: string): Served => ({ digest, mediaType: 'application/json', key: `${digest} application/json` });

describe('ManifestMemo', () => {
  let clock = 1_000_000;
  const memo = () => new ManifestMemo(() => clock);

  it('answers an entry checked within the TTL', () => {
    const m = memo();
    m.set('r:latest', served('sha256:a'), clock);
    clock += TTL - 1;
    expect(m.get('r:latest', TTL)?.digest).toBe('sha256:a');
  });

  it('paused (issue 13: other replicas cannot be heard), it forgets everything and memoizes nothing until resumed', () => {
    const m = memo();
    m.set('r:latest', served('sha256:a'), clock);
    m.pause(true);
    expect(m.get('r:latest', TTL)).toBeUndefined();
    m.set('r:latest', served('sha256:b'), clock);
    expect(m.get('r:latest', TTL)).toBeUndefined();
    m.pause(false);
    m.set('r:latest', served('sha256:c'), clock);
    expect(m.get('r:latest', TTL)?.digest).toBe('sha256:c');
  });

  it('an entry as old as the TTL is no answer (the caller reads the index again)', () => {
    const m = memo();
    m.set('r:latest', served('sha256:a'), clock);
    clock += TTL;
    expect(m.get('r:latest', TTL)).toBeUndefined();
    clock -= TTL; // even back in time: the expired entry was dropped, not kept
    expect(m.get('r:latest', TTL)).toBeUndefined();
  });

  it('a tag that moved answers its new manifest, with the TTL counted from the new check', () => {
    const m = memo();
    m.set('r:latest', served('sha256:a'), clock);
    clock += TTL / 2;
    m.set('r:latest', served('sha256:b'), clock);
    clock += TTL / 2 + 1;
    expect(m.get('r:latest', TTL)?.digest).toBe('sha256:b');
  });

  it('a deleted tag is no answer; other tags and repositories are untouched', () => {
    const m = memo();
    m.set('r:latest', served('sha256:a'), clock);
    m.set('r:1.0', served('sha256:a'), clock);
    m.set('s:latest', served('sha256:a'), clock);
    m.delete('r:latest');
    expect(m.get('r:latest', TTL)).toBeUndefined();
    expect(m.get('r:1.0', TTL)?.digest).toBe('sha256:a');
    expect(m.get('s:latest', TTL)?.digest).toBe('sha256:a');
  });
});

/** An upstream holding manifests by tag, counting requests. */
function stubUpstream() {
  const tags = new Map<string, Buffer>();
  const requests: string[] = [];
  const config = { name: 'up.example', officialPrefix: 'library/', tagTtlMs: TTL };
  const client = {
    config,
    rateLimit: new RateLimitBudget(),
    async manifest(method: 'HEAD' | 'GET', _repo: string, reference: string): Promise<UpstreamResponse> {
      requests.push(`${method} ${reference}`);
      const bytes = tags.get(reference);
      if (!bytes) return { status: 404, headers: {}, body: Readable.from([]) };
      const headers = { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': sha256Digest(bytes) };
      return { status: 200, headers, body: Readable.from(method === 'GET' ? [bytes] : []) };
    },
  } as unknown as UpstreamClient;
  return { client, tags, requests };
}

const manifest = (n: number) => Buffer.from(JSON.stringify({
  schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${String(n).repeat(64).slice(0, 64)}`, size: 2 },
  layers: [],
}));

describe('the memo in front of MirroredRepository.getManifest', () => {
  let dir: string;
  let ports: StoragePorts;
  let closeIndex: () => void;
  let clock: number;
  let metrics: Metrics;
  let up: ReturnType<typeof stubUpstream>;
  let repo: MirroredRepository;
  /** A mirrored repository over the same index, with nothing in memory (as after a restart). */
  let restarted: () => MirroredRepository;
  const LATEST: Reference = { kind: 'tag', tag: 'latest' };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'memo-'));
    ({ ports, close: closeIndex } = openSqliteStorage(join(dir, 'index.db')));
    const access = new AccessBatcher(ports.access);
    clock = 1_000_000;
    metrics = createMetrics();
    up = stubUpstream();
    const now = () => clock;
    const manifests = createManifestProxy({ ports, access, metrics, log: silentLogger, maxManifestBytes: 1 << 20, now });
    const blobs = createBlobProxy({ store: undefined as never, ports, access, metrics, log: silentLogger, now });
    const tags = createTagsProxy({ tags: ports.tags, metrics, log: silentLogger });
    const target: MirrorTarget = {
      kind: 'mirror', name: 'alpine', upstream: up.client, upstreamRepo: 'library/alpine', cacheRepo: 'up.example/library/alpine',
    };
    repo = new MirroredRepository({ manifests, blobs, tags }, target);
    restarted = () => new MirroredRepository({
      manifests: createManifestProxy({ ports, access, metrics, log: silentLogger, maxManifestBytes: 1 << 20, now }), blobs, tags,
    }, target);
  });
  afterEach(() => {
    closeIndex();
    rmSync(dir, { recursive: true, force: true });
  });

  it('nothing cached: no memo answer, and asking it sends nothing upstream', () => {
    up.tags.set('latest', manifest(1));
    expect(repo.cachedManifest(LATEST)).toBeUndefined();
    expect(up.requests).toEqual([]);
  });

  it('a fetched tag is answered from the memo (HIT, same bytes) without the upstream', async () => {
    up.tags.set('latest', manifest(1));
    const miss = await repo.getManifest(LATEST);
    expect(miss.cache).toBe('MISS');
    clock += TTL - 1;
    const hit = repo.cachedManifest(LATEST);
    expect(hit).toMatchObject({ digest: sha256Digest(manifest(1)), cache: 'HIT' });
    expect(hit!.bytes.equals(manifest(1))).toBe(true);
    expect((await repo.getManifest(LATEST)).cache).toBe('HIT');
    expect(up.requests).toEqual(['GET latest']);
  });

  it('past the TTL the memo does not answer; getManifest revalidates (one HEAD) and the memo answers again', async () => {
    up.tags.set('latest', manifest(1));
    await repo.getManifest(LATEST);
    clock += TTL;
    expect(repo.cachedManifest(LATEST)).toBeUndefined();
    expect((await repo.getManifest(LATEST)).cache).toBe('REVALIDATED');
    expect(repo.cachedManifest(LATEST)?.cache).toBe('HIT');
    expect(up.requests).toEqual(['GET latest', 'HEAD latest']);
  });

  it('a tag that moved upstream: once revalidated, the memo answers the new manifest', async () => {
    up.tags.set('latest', manifest(1));
    await repo.getManifest(LATEST);
    up.tags.set('latest', manifest(2));
    expect(repo.cachedManifest(LATEST)?.digest).toBe(sha256Digest(manifest(1))); // within the TTL: as promised
    clock += TTL;
    expect((await repo.getManifest(LATEST)).digest).toBe(sha256Digest(manifest(2)));
    expect(repo.cachedManifest(LATEST)?.digest).toBe(sha256Digest(manifest(2)));
  });

  it('a tag deleted upstream: MANIFEST_UNKNOWN, and neither the memo nor the index answers it any more', async () => {
    up.tags.set('latest', manifest(1));
    await repo.getManifest(LATEST);
    up.tags.delete('latest');
    clock += TTL;
    await expect(repo.getManifest(LATEST)).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    clock -= TTL; // the memo entry would be fresh again at this time: it must be gone, not merely expired
    expect(repo.cachedManifest(LATEST)).toBeUndefined();
    expect(await ports.tags.getTag('up.example/library/alpine', 'latest')).toBeUndefined();
  });

  it('a tag fresh in the index but not in memory (a restart): no memo answer, getManifest a HIT from the index without the upstream, then the memo answers', async () => {
    up.tags.set('latest', manifest(1));
    await repo.getManifest(LATEST);
    const again = restarted();
    clock += TTL - 1;
    expect(again.cachedManifest(LATEST)).toBeUndefined();
    const [a, b] = await Promise.all([again.getManifest(LATEST), again.getManifest(LATEST)]);
    expect([a.cache, b.cache]).toEqual(['HIT', 'HIT']);
    expect(a.bytes.equals(manifest(1))).toBe(true);
    expect(again.cachedManifest(LATEST)?.cache).toBe('HIT');
    expect(up.requests).toEqual(['GET latest']);
  });

  it('a digest is never a memo answer (the memo holds tags)', async () => {
    up.tags.set('latest', manifest(1));
    const m = await repo.getManifest(LATEST);
    expect(repo.cachedManifest({ kind: 'digest', digest: { algorithm: 'sha256', hex: m.digest.slice(7), value: m.digest } } as Reference)).toBeUndefined();
  });
});
