/**
 * The event stream as a subscriber sees it: black-box through the app (the fake upstream
 * behind the mirrored names, a local namespace `team/*` for pushes), then prune run on the
 * same core. Each test subscribes to every type and checks which events came, in order.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { collectGarbage } from '../../src/admin/gc.js';
import { prune } from '../../src/admin/prune.js';
import type { RegistryEvent } from '../../src/events/event-types.js';
import { startLocalRegistry, type LocalRegistry } from '../helpers/local-registry.js';
import { eventually, MT, sha256 } from '../helpers/oci-client.js';

let reg: LocalRegistry;
let n = 0;

beforeAll(async () => {
  // Without eager prefetch: these tests follow the events of each client request in order.
  reg = await startLocalRegistry({ MIRROR_UPSTREAM_PREFETCH: '0' });
});
afterAll(async () => {
  await reg?.close();
});

/** Every event from now until the returned function is called. */
function record(): () => RegistryEvent[] {
  const seen: RegistryEvent[] = [];
  const off = reg.mirror.events.on('*', (e) => seen.push(e));
  return () => {
    off();
    return seen;
  };
}
/** "type subject [cache]": the subject of a tag event is its tag, of the others their digest. */
const brief = (events: RegistryEvent[]) =>
  events.map((e) => `${e.type} ${(e.type.startsWith('tag.') ? e.tag : e.digest) ?? ''}${e.cache ? ` ${e.cache}` : ''}`);

describe('event stream', () => {
  test('a pull: manifest by tag MISS then HIT, blob MISS then filled, then HIT', async () => {
    const name = `library/events-${++n}`;
    const layer = randomBytes(64 * 1024);
    const img = reg.up.addImage(name, 'v1', { layers: [layer] });
    const digest = img.layers[0]!;
    const stop = record();
    const accept = { accept: MT.manifest };
    expect((await reg.anon.call(`/v2/${name}/manifests/v1`, { headers: accept })).status).toBe(200);
    expect((await reg.anon.call(`/v2/${name}/manifests/v1`, { headers: accept })).status).toBe(200);
    const cold = await reg.anon.call(`/v2/${name}/blobs/${digest}`);
    expect(cold.body.equals(layer)).toBe(true);
    expect(await eventually(async () => await reg.mirror.ports.blobs.getBlob(digest) !== undefined)).toBe(true);
    expect((await reg.anon.call(`/v2/${name}/blobs/${digest}`)).status).toBe(200);
    const events = stop();

    expect(brief(events)).toEqual([
      `manifest.pulled ${img.digest} MISS`,
      `manifest.pulled ${img.digest} HIT`,
      `blob.pulled ${digest} MISS`,
      `blob.filled ${digest} MISS`,
      `blob.pulled ${digest} HIT`,
    ]);
    const upstream = reg.mirror.config.upstream.name;
    const repository = `${upstream}/${name}`;
    expect(events[0]).toMatchObject({ repository, tag: 'v1', upstream, size: img.manifest.length, mediaType: img.mediaType, actor: undefined });
    expect(events[2]).toMatchObject({ repository, upstream, size: layer.length });
    expect(events[3]).toMatchObject({ repository, upstream, size: layer.length });
    // Cache results are what the metrics count.
    expect(reg.mirror.metrics.cache.manifest.HIT).toBeGreaterThanOrEqual(1);
  });

  test('a push: upload started/finished and blob pushed per blob, then manifest pushed and tag moved, naming the user', async () => {
    const name = `team/events-${++n}`;
    const stop = record();
    const img = await reg.alice.pushImage(name, 'v1', { layers: [randomBytes(1000)] });
    expect((await reg.alice.call(`/v2/${name}/manifests/v1`, { headers: { accept: MT.manifest } })).status).toBe(200);
    const events = stop();

    const [config, layer] = [img.config.digest, img.layers[0]!.digest];
    expect(brief(events)).toEqual([
      'upload.started ', `upload.finished ${config}`, `blob.pushed ${config}`,
      'upload.started ', `upload.finished ${layer}`, `blob.pushed ${layer}`,
      `manifest.pushed ${img.descriptor.digest}`, 'tag.moved v1',
      `manifest.pulled ${img.descriptor.digest}`,
    ]);
    expect(events[0]).toMatchObject({ repository: name, actor: 'alice', upstream: undefined });
    expect(events[5]).toMatchObject({ repository: name, size: 1000 });
    expect(events[6]).toMatchObject({ repository: name, size: img.manifest.length, mediaType: MT.manifest, tag: 'v1', actor: 'alice' });
    expect(events[7]).toMatchObject({ repository: name, tag: 'v1', digest: img.descriptor.digest, actor: 'alice' });
    expect(events[8]).toMatchObject({ repository: name, tag: 'v1', cache: undefined, upstream: undefined });
    // Every event of an authenticated request names its user.
    expect(events.every((e) => e.actor === 'alice')).toBe(true);
  });

  test('a delete: tag deleted, manifest deleted, blob deleted; a refused delete emits nothing', async () => {
    const name = `team/events-${++n}`;
    const img = await reg.alice.pushImage(name, 'v1');
    const stop = record();
    expect((await reg.alice.call(`/v2/${name}/manifests/v1`, { method: 'DELETE' })).status).toBe(202);
    expect((await reg.alice.call(`/v2/${name}/manifests/${img.descriptor.digest}`, { method: 'DELETE' })).status).toBe(202);
    expect((await reg.alice.call(`/v2/${name}/blobs/${img.layers[0]!.digest}`, { method: 'DELETE' })).status).toBe(202);
    expect((await reg.alice.call(`/v2/${name}/manifests/${sha256(randomBytes(8))}`, { method: 'DELETE' })).status).toBe(404);
    const events = stop();

    expect(brief(events)).toEqual([
      'tag.deleted v1', `manifest.deleted ${img.descriptor.digest}`, `blob.deleted ${img.layers[0]!.digest}`,
    ]);
    expect(events.every((e) => e.repository === name && e.upstream === undefined && e.actor === 'alice')).toBe(true);
  });

  test('a listener that throws breaks no request, on the router or the memo step', async () => {
    const name = `library/events-${++n}`;
    reg.up.addImage(name, 'v1', { layers: [randomBytes(100)] });
    const off = reg.mirror.events.on(['manifest.pulled', 'blob.pulled'], () => { throw new Error('listener bug'); });
    try {
      const accept = { accept: MT.manifest };
      const cold = await reg.anon.call(`/v2/${name}/manifests/v1`, { headers: accept });
      const warm = await reg.anon.call(`/v2/${name}/manifests/v1`, { headers: accept });
      expect([cold.status, cold.header('x-cache'), warm.status, warm.header('x-cache')]).toEqual([200, 'MISS', 200, 'HIT']);
      expect(warm.body.equals(cold.body)).toBe(true);
    } finally {
      off();
    }
  });

  test('a prune: one blob.evicted per mirrored blob removed, with its size', async () => {
    const name = `library/events-${++n}`;
    const layer = randomBytes(4096);
    const img = reg.up.addImage(name, 'v1', { layers: [layer] });
    const digest = img.layers[0]!;
    expect((await reg.anon.call(`/v2/${name}/blobs/${digest}`)).body.equals(layer)).toBe(true);
    expect(await eventually(async () => await reg.mirror.ports.blobs.getBlob(digest) !== undefined)).toBe(true);

    const stop = record();
    const summary = await prune(reg.mirror.ports.maintenance, reg.mirror.store, {
      olderThanMs: 0, now: Date.now() + 3_600_000, events: reg.mirror.events,
    });
    const events = stop();
    const evicted = events.filter((e) => e.type === 'blob.evicted');
    expect(events).toHaveLength(evicted.length);
    expect(evicted).toHaveLength(summary.evicted);
    expect(evicted.find((e) => e.digest === digest)).toMatchObject({ size: layer.length });
    expect(evicted.reduce((sum, e) => sum + e.size!, 0)).toBe(summary.bytesFreed);
  });

  test('gc: one manifest.deleted and blob.deleted per item it removed; a dry run emits nothing', async () => {
    const name = `team/events-${++n}`;
    const img = await reg.alice.pushImage(name, 'v1', { layers: [randomBytes(500)] });
    expect((await reg.alice.call(`/v2/${name}/manifests/${img.descriptor.digest}`, { method: 'DELETE' })).status).toBe(202);

    const stop = record();
    const later = Date.now() + 3_600_000;
    const dry = await collectGarbage(reg.mirror.ports.maintenance, reg.mirror.store, { graceMs: 0, now: later, dryRun: true, events: reg.mirror.events });
    expect(dry.manifests).toBeGreaterThanOrEqual(1);
    expect(stop()).toEqual([]);

    const stop2 = record();
    const summary = await collectGarbage(reg.mirror.ports.maintenance, reg.mirror.store, { graceMs: 0, now: later, events: reg.mirror.events });
    const events = stop2();
    const manifests = events.filter((e) => e.type === 'manifest.deleted');
    const blobs = events.filter((e) => e.type === 'blob.deleted');
    expect(manifests.length + blobs.length).toBe(events.length);
    expect(manifests.map((e) => e.digest)).toContain(img.descriptor.digest);
    expect(manifests).toHaveLength(summary.manifests);
    // The config blob (the same default config bytes) is still used by other tests' images.
    expect(blobs.map((e) => e.digest)).toContain(img.layers[0]!.digest);
    expect(blobs).toHaveLength(summary.blobs);
    expect(blobs.reduce((sum, e) => sum + e.size!, 0)).toBe(summary.bytesFreed);
  });
});
