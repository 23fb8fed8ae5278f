import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../admin/metrics.js';
import type { MirrorTarget } from '../routing/resolve-repository.js';
import type { UpstreamClient, UpstreamResponse } from '../upstream/client.js';
import { upstreamConfirms } from './upstream-confirms.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

/** A target whose upstream answers every HEAD with `res`, recording what was asked. */
function targetAnswering(res: { status: number; headers?: Record<string, string> }) {
  const asked: string[] = [];
  const bodies: Readable[] = [];
  const answer = (kind: string) => async (method: string, repo: string, ref: string): Promise<UpstreamResponse> => {
    asked.push(`${kind} ${method} ${repo} ${ref}`);
    const body = Readable.from([]);
    bodies.push(body);
    return { status: res.status, headers: res.headers ?? {}, body };
  };
  const upstream = { config: { name: 'up.example' }, manifest: answer('manifest'), blob: answer('blob') } as unknown as UpstreamClient;
  const target: MirrorTarget = { kind: 'mirror', name: 'alpine', upstream, upstreamRepo: 'library/alpine', cacheRepo: 'up.example/library/alpine' };
  return { target, asked, bodies };
}

describe('upstreamConfirms: one HEAD for manifests and blobs', () => {
  it('a 200 naming the same digest confirms a manifest: one manifest HEAD, counted, its body released', async () => {
    const { target, asked, bodies } = targetAnswering({ status: 200, headers: { 'docker-content-digest': DIGEST } });
    const metrics = createMetrics();
    expect(await upstreamConfirms(target, 'manifest', DIGEST, metrics)).toBe(true);
    expect(asked).toEqual([`manifest HEAD library/alpine ${DIGEST}`]);
    expect(metrics.upstreamRequests).toMatchObject({ manifest_head: 1, blob_head: 0 });
    expect(bodies[0]!.destroyed).toBe(true);
  });

  it('a blob is confirmed only with the same digest and, when we know it, the same length', async () => {
    const metrics = createMetrics();
    const same = targetAnswering({ status: 200, headers: { 'docker-content-digest': DIGEST, 'content-length': '10' } });
    expect(await upstreamConfirms(same.target, 'blob', DIGEST, metrics, 10)).toBe(true);
    expect(await upstreamConfirms(same.target, 'blob', DIGEST, metrics, 11)).toBe(false);
    expect(await upstreamConfirms(same.target, 'blob', DIGEST, metrics)).toBe(true);
    expect(same.asked[0]).toBe(`blob HEAD library/alpine ${DIGEST}`);
    expect(metrics.upstreamRequests).toMatchObject({ manifest_head: 0, blob_head: 3 });
  });

  it('another digest is no confirmation; no digest header is', async () => {
    const other = targetAnswering({ status: 200, headers: { 'docker-content-digest': `sha256:${'b'.repeat(64)}` } });
    expect(await upstreamConfirms(other.target, 'manifest', DIGEST, createMetrics())).toBe(false);
    const none = targetAnswering({ status: 200 });
    expect(await upstreamConfirms(none.target, 'manifest', DIGEST, createMetrics())).toBe(true);
  });

  it('a failure throws what it means: 404 unknown (of the right kind), 429 passed on, 5xx the upstream failing', async () => {
    const m = createMetrics();
    await expect(upstreamConfirms(targetAnswering({ status: 404 }).target, 'manifest', DIGEST, m)).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
    await expect(upstreamConfirms(targetAnswering({ status: 404 }).target, 'blob', DIGEST, m)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    await expect(upstreamConfirms(targetAnswering({ status: 429 }).target, 'blob', DIGEST, m)).rejects.toMatchObject({ code: 'TOOMANYREQUESTS' });
    await expect(upstreamConfirms(targetAnswering({ status: 503 }).target, 'blob', DIGEST, m)).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });
});
