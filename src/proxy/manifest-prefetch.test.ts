import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { createMetrics } from '../admin/metrics.js';
import { silentLogger } from '../log/logger.js';
import { sha256Digest, tryParseDigest } from '../oci/digest.js';
import type { MirrorTarget } from '../routing/resolve-repository.js';
import { AccessBatcher } from '../storage/access-batcher.js';
import { openSqliteStorage } from '../storage/sqlite-index.js';
import type { StoragePorts } from '../storage/ports.js';
import type { UpstreamClient, UpstreamResponse } from '../upstream/client.js';
import type { Background } from '../upstream/slots.js';
import { createManifestProxy, type ManifestProxy } from './manifests.js';

const bytes = Buffer.from(JSON.stringify({
  schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'1'.repeat(64)}`, size: 2 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${'2'.repeat(64)}`, size: 3 }],
}));
const digest = sha256Digest(bytes);

describe('manifest prefetch (a platform manifest of an index)', () => {
  let dir: string;
  let ports: StoragePorts;
  let closeIndex: () => void;
  let requests: Array<{ method: string; background: Background | undefined }>;
  let release: () => void;
  let target: MirrorTarget;
  let proxy: ManifestProxy;
  let images: string[][];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'manifest-prefetch-'));
    ({ ports, close: closeIndex } = openSqliteStorage(join(dir, 'index.db')));
    requests = [];
    images = [];
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const upstream = {
      config: { name: 'up.example', officialPrefix: 'library/', tagTtlMs: 60_000 },
      async manifest(method: string, _repo: string, _ref: string, opts?: { background?: Background }): Promise<UpstreamResponse> {
        requests.push({ method, background: opts?.background });
        await gate;
        return { status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: Readable.from([bytes]) };
      },
    } as unknown as UpstreamClient;
    target = { kind: 'mirror', name: 'app', upstream, upstreamRepo: 'library/app', cacheRepo: 'up.example/library/app' };
    proxy = createManifestProxy({
      ports, access: new AccessBatcher(ports.access), metrics: createMetrics(), log: silentLogger, maxManifestBytes: 1 << 20,
      onImageFetched: (_t, blobs) => images.push(blobs),
    });
  });
  afterEach(() => {
    closeIndex();
    rmSync(dir, { recursive: true, force: true });
  });

  test('fetched as background work, cached for the repository, its blobs handed to prefetch', async () => {
    const done = proxy.prefetch(target, digest);
    await new Promise((r) => setImmediate(r));
    expect(requests).toHaveLength(1);
    expect(requests[0]!.background?.isPromoted).toBe(false);
    release();
    await done;
    expect(await ports.manifests.repoManifestType(target.cacheRepo, digest)).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(images).toEqual([[`sha256:${'1'.repeat(64)}`, `sha256:${'2'.repeat(64)}`]]);
    // Cached already: a second prefetch asks nothing.
    await proxy.prefetch(target, digest);
    expect(requests).toHaveLength(1);
  });

  test('a client asking for it meanwhile joins the same GET and promotes it to a client request', async () => {
    const done = proxy.prefetch(target, digest);
    await new Promise((r) => setImmediate(r));
    const client = proxy.get(target, { kind: 'digest', digest: tryParseDigest(digest)! });
    await new Promise((r) => setImmediate(r));
    expect(requests[0]!.background?.isPromoted).toBe(true);
    release();
    const [result] = await Promise.all([client, done]);
    expect(result.bytes.equals(bytes)).toBe(true);
    expect(requests).toHaveLength(1);
  });
});
