import { describe, expect, test } from 'vitest';
import { parseDigest } from '../oci/digest.js';
import { parseReference } from '../oci/names.js';
import { OciError } from '../oci/errors.js';
import type { LocalRegistry } from '../registry/local-registry.js';
import { EventBus } from './event-bus.js';
import type { RegistryEvent } from './event-types.js';
import { withRegistryEvents, type EventLookups } from './registry-events.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

/** A registry that does nothing but succeed (or fail, for `fail`), and counts lookups. */
function fakes(fail = false) {
  const calls: string[] = [];
  const refuse = () => { if (fail) throw new OciError('DENIED'); };
  const registry = {
    putManifest: () => { refuse(); calls.push('put'); return { digest: D1 }; },
    deleteManifest: () => { refuse(); calls.push('deleteManifest'); },
    deleteBlob: () => { refuse(); calls.push('deleteBlob'); },
    startUpload: async () => { refuse(); return { id: 'u1', offset: 0 }; },
    finishUpload: async () => { refuse(); return { digest: D2 }; },
    mountBlob: () => !fail,
    listTags: () => ({ items: ['own'] }),
    extra: 'kept',
  } as unknown as LocalRegistry & { extra: string };
  const lookups: EventLookups = {
    getBlob: (digest) => { calls.push('lookup'); return { digest, size: 7, origin: 'push' }; },
    getTag: () => { calls.push('lookup'); return { digest: D1, fetchedAt: 0, checkedAt: 0 }; },
    repoManifestType: () => { calls.push('lookup'); return 'application/vnd.oci.image.manifest.v1+json'; },
  };
  return { registry, lookups, calls };
}

describe('withRegistryEvents', () => {
  test('each successful write emits its events after the registry did the work, described by the lookups', async () => {
    const { registry, lookups } = fakes();
    const bus = new EventBus({ now: () => 5 });
    const seen: RegistryEvent[] = [];
    bus.on('*', (e) => seen.push(e));
    const r = withRegistryEvents(registry, bus, lookups);

    r.putManifest('team/a', parseReference('v1'), Buffer.from('{}'), undefined);
    r.deleteManifest('team/a', parseReference('v1'));
    r.deleteManifest('team/a', parseReference(D1));
    r.deleteBlob('team/a', parseDigest(D2));
    await r.startUpload('team/a', 'alice');
    await r.finishUpload('team/a', 'u1', parseDigest(D2));
    r.mountBlob('team/b', 'team/a', parseDigest(D2));

    expect(seen.map((e) => [e.type, e.repository, e.digest, e.tag, e.size, e.actor])).toEqual([
      ['manifest.pushed', 'team/a', D1, 'v1', 2, undefined],
      ['tag.moved', 'team/a', D1, 'v1', 2, undefined],
      ['tag.deleted', 'team/a', D1, 'v1', undefined, undefined],
      ['manifest.deleted', 'team/a', D1, undefined, undefined, undefined],
      ['blob.deleted', 'team/a', D2, undefined, 7, undefined],
      ['upload.started', 'team/a', undefined, undefined, undefined, 'alice'],
      ['upload.finished', 'team/a', D2, undefined, 7, undefined],
      ['blob.pushed', 'team/a', D2, undefined, 7, undefined],
      ['blob.pushed', 'team/b', D2, undefined, 7, undefined],
    ]);
    expect(seen[0]!.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(seen.every((e) => e.time === 5)).toBe(true);
  });

  test('a refused write emits nothing and throws what the registry threw; other methods are the registry\'s own', async () => {
    const { registry, lookups } = fakes(true);
    const bus = new EventBus();
    const seen: RegistryEvent[] = [];
    bus.on('*', (e) => seen.push(e));
    const r = withRegistryEvents(registry, bus, lookups);
    expect(() => r.putManifest('team/a', parseReference('v1'), Buffer.from('{}'), undefined)).toThrow(OciError);
    expect(() => r.deleteBlob('team/a', parseDigest(D2))).toThrow(OciError);
    await expect(r.startUpload('team/a', 'alice')).rejects.toThrow(OciError);
    await expect(r.finishUpload('team/a', 'u1', parseDigest(D2))).rejects.toThrow(OciError);
    expect(r.mountBlob('team/b', 'team/a', parseDigest(D2))).toBe(false);
    expect(seen).toEqual([]);
    expect(r.listTags('team/a', undefined, undefined)).toEqual({ items: ['own'] });
    expect(r.extra).toBe('kept');
  });

  test('with nobody listening, no lookups run', async () => {
    const { registry, lookups, calls } = fakes();
    const r = withRegistryEvents(registry, new EventBus(), lookups);
    r.putManifest('team/a', parseReference('v1'), Buffer.from('{}'), undefined);
    r.deleteManifest('team/a', parseReference('v1'));
    r.deleteBlob('team/a', parseDigest(D2));
    await r.finishUpload('team/a', 'u1', parseDigest(D2));
    expect(calls).toEqual(['put', 'deleteManifest', 'deleteBlob']);
  });
});
