import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { parseDigest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import { parseReference } from '../oci/names.js';
import type { ManifestResult, Repository, RepositoryUploads } from '../repository/repository.js';
import { EventBus } from './event-bus.js';
import type { RegistryEvent } from './event-types.js';
import { announceManifestPull, setActor, withEvents } from './repository-events.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const MANIFEST: ManifestResult = { digest: D1, mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes: Buffer.from('{"a":1}'), cache: 'MISS' };

/** A repository that succeeds at everything (or refuses everything with DENIED), recording what it was asked. */
function fakeRepository(fail = false): { repo: Repository; calls: string[] } {
  const calls: string[] = [];
  const step = async <T>(name: string, value: T): Promise<T> => {
    if (fail) throw new OciError('DENIED');
    calls.push(name);
    return value;
  };
  const uploads: RepositoryUploads = {
    start: () => step('start', { id: 'u1', offset: 0 }),
    append: () => step('append', { id: 'u1', offset: 3 }),
    finish: () => step('finish', { digest: D2 }),
    status: () => step('status', { id: 'u1', offset: 3 }),
    cancel: () => step('cancel', undefined),
    mount: async () => { if (fail) return false; calls.push('mount'); return true; },
    mountSources: () => step('mountSources', ['team/src']),
  };
  const repo: Repository = {
    name: 'app', writable: true, uploads,
    cachedManifest: () => MANIFEST,
    getManifest: () => step('getManifest', MANIFEST),
    headManifest: () => step('headManifest', { ...MANIFEST, cache: 'HIT' }),
    putManifest: () => step('putManifest', { digest: D1 }),
    deleteManifest: () => step('deleteManifest', undefined),
    statBlob: (d) => step('statBlob', { digest: d.value, size: 3, cache: 'HIT' as const }),
    openBlob: (d) => step('openBlob', { digest: d.value, size: 3, cache: 'MISS' as const, open: async () => Readable.from([]) }),
    deleteBlob: () => step('deleteBlob', undefined),
    listTags: () => step('listTags', { tags: ['v1'], stale: false }),
    referrers: () => step('referrers', Buffer.from('{}')),
  };
  return { repo, calls };
}

function recorder(bus: EventBus): RegistryEvent[] {
  const seen: RegistryEvent[] = [];
  bus.on('*', (e) => seen.push(e));
  return seen;
}

const CTX = { repository: 'docker.io/library/app', upstream: 'docker.io' };

describe('withEvents(repository)', () => {
  test('each call that succeeded emits its event after the repository answered, with the context, actor and cache result', async () => {
    const { repo, calls } = fakeRepository();
    const bus = new EventBus({ now: () => 7 });
    const seen = recorder(bus);
    const r = withEvents(repo, bus, CTX);
    expect([r.name, r.writable]).toEqual(['app', true]);

    expect(await r.getManifest(parseReference('v1'))).toBe(MANIFEST);
    await r.headManifest(parseReference(D1));
    await r.putManifest(parseReference('v2'), Buffer.from('{}'), 'application/vnd.oci.image.manifest.v1+json', 'alice');
    await r.deleteManifest(parseReference('v2'));
    await r.deleteManifest(parseReference(D1));
    await r.statBlob(parseDigest(D2));
    await r.openBlob(parseDigest(D2));
    await r.deleteBlob(parseDigest(D2));
    await r.uploads.start('alice');
    await r.uploads.append('u1', Readable.from([]));
    await r.uploads.finish('u1', parseDigest(D2));
    await r.uploads.mount('team/src', parseDigest(D2));
    await r.listTags(undefined, undefined);

    expect(seen.map((e) => [e.type, e.digest, e.tag, e.size, e.cache, e.actor])).toEqual([
      ['manifest.pulled', D1, 'v1', 7, 'MISS', undefined],
      ['manifest.pulled', D1, undefined, 7, 'HIT', undefined],
      ['manifest.pushed', D1, 'v2', 2, undefined, 'alice'],
      ['tag.moved', D1, 'v2', 2, undefined, 'alice'],
      ['tag.deleted', undefined, 'v2', undefined, undefined, undefined],
      ['manifest.deleted', D1, undefined, undefined, undefined, undefined],
      ['blob.checked', D2, undefined, 3, 'HIT', undefined],
      ['blob.pulled', D2, undefined, 3, 'MISS', undefined],
      ['blob.deleted', D2, undefined, undefined, undefined, undefined],
      ['upload.started', undefined, undefined, undefined, undefined, 'alice'],
      ['upload.finished', D2, undefined, 3, undefined, undefined],
      ['blob.pushed', D2, undefined, 3, undefined, undefined],
      ['blob.pushed', D2, undefined, 3, undefined, undefined],
    ]);
    expect(seen.every((e) => e.repository === CTX.repository && e.time === 7)).toBe(true);
    expect(seen[0]!.upstream).toBe('docker.io');
    expect(seen[2]!.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    // Reading back a pushed blob's size is the inner repository's statBlob: no blob.checked event.
    expect(calls.filter((c) => c === 'statBlob')).toHaveLength(3);
  });

  test('setActor names the request\'s user on every later event; an actor the call names wins for that call', async () => {
    const { repo } = fakeRepository();
    const bus = new EventBus();
    const seen = recorder(bus);
    const r = withEvents(repo, bus, CTX);
    setActor(r, 'carol');
    await r.getManifest(parseReference('v1'));
    await r.deleteBlob(parseDigest(D2));
    await r.uploads.finish('u1', parseDigest(D2));
    await r.putManifest(parseReference('v2'), Buffer.from('{}'), undefined, 'alice');
    await r.uploads.start(undefined);
    expect(seen.map((e) => [e.type, e.actor])).toEqual([
      ['manifest.pulled', 'carol'], ['blob.deleted', 'carol'], ['upload.finished', 'carol'], ['blob.pushed', 'carol'],
      ['manifest.pushed', 'alice'], ['tag.moved', 'alice'], ['upload.started', 'carol'],
    ]);
  });

  test('a refused call emits nothing and throws what the repository threw', async () => {
    const { repo } = fakeRepository(true);
    const bus = new EventBus();
    const seen = recorder(bus);
    const r = withEvents(repo, bus, CTX);
    await expect(r.getManifest(parseReference('v1'))).rejects.toThrow(OciError);
    await expect(r.putManifest(parseReference('v1'), Buffer.from('{}'), undefined, 'alice')).rejects.toThrow(OciError);
    await expect(r.deleteBlob(parseDigest(D2))).rejects.toThrow(OciError);
    await expect(r.openBlob(parseDigest(D2))).rejects.toThrow(OciError);
    await expect(r.uploads.start('alice')).rejects.toThrow(OciError);
    await expect(r.uploads.finish('u1', parseDigest(D2))).rejects.toThrow(OciError);
    expect(await r.uploads.mount('team/src', parseDigest(D2))).toBe(false);
    expect(seen).toEqual([]);
  });

  test('the memo is forwarded without an event; the memo step announces the pull once answered', () => {
    const { repo } = fakeRepository();
    const bus = new EventBus();
    const seen = recorder(bus);
    const r = withEvents(repo, bus, CTX);
    expect(r.cachedManifest?.(parseReference('v1'))).toBe(MANIFEST);
    expect(seen).toEqual([]);
    announceManifestPull(r, parseReference('v1'), { ...MANIFEST, cache: 'HIT' }, 'bob');
    announceManifestPull(repo, parseReference('v1'), MANIFEST, 'bob'); // not evented: nothing
    expect(seen.map((e) => [e.type, e.tag, e.cache, e.actor])).toEqual([['manifest.pulled', 'v1', 'HIT', 'bob']]);
  });

  test('with nobody listening, pushed blob sizes are not read back', async () => {
    const { repo, calls } = fakeRepository();
    const r = withEvents(repo, new EventBus(), CTX);
    await r.uploads.finish('u1', parseDigest(D2));
    await r.uploads.mount('team/src', parseDigest(D2));
    expect(calls).toEqual(['finish', 'mount']);
  });
});
