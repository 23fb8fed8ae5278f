/**
 * Dependency-confusion guards: a local namespace never hides mirrored content unless the
 * config says so, both in config (patterns over official images) and at push time (a
 * name the mirror already holds from the upstream cannot be taken over by a push).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, test } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { startLocalRegistry, type LocalRegistry } from '../helpers/local-registry.js';

let reg: LocalRegistry | undefined;
afterEach(async () => {
  await reg?.close();
  reg = undefined;
});

describe('local namespaces that would shadow mirrored images', () => {
  test.each(['library/*', 'alpine', '*', '**', '*/tools'])('config refuses %s unless local.allow_shadowing is true', (pattern) => {
    expect(() => loadConfig({ env: { MIRROR_LOCAL_NAMESPACES: pattern } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { MIRROR_LOCAL_NAMESPACES: pattern } })).toThrow(/local\.namespaces.*shadow/);
    expect(loadConfig({ env: { MIRROR_LOCAL_NAMESPACES: pattern, MIRROR_LOCAL_ALLOW_SHADOWING: 'true' } }).local.namespaces)
      .toEqual([pattern]);
  });

  test('a push to a name already mirrored from the upstream is DENIED; nothing is stored', async () => {
    reg = await startLocalRegistry();
    // team/app was pulled through the mirror before team/* became a local namespace.
    await reg.mirror.ports.repositories.ensureRepository('docker.io/team/app', 'mirror', 'docker.io', Date.now());
    const start = await reg.alice.call('/v2/team/app/blobs/uploads/', { method: 'POST' });
    expect(start.status).toBe(403);
    expect(start.codes()).toEqual(['DENIED']);
    expect(await reg.mirror.ports.repositories.hasRepository('team/app')).toBe(false);
    // Another name in the namespace is fine.
    await reg.alice.pushImage('team/other', 'v1', { layers: [randomBytes(100)] });
    expect(await reg.mirror.ports.repositories.hasRepository('team/other')).toBe(true);
  });

  test('with local.allow_shadowing the push is accepted', async () => {
    reg = await startLocalRegistry({ MIRROR_LOCAL_ALLOW_SHADOWING: 'true' });
    await reg.mirror.ports.repositories.ensureRepository('docker.io/team/app', 'mirror', 'docker.io', Date.now());
    const pushed = await reg.alice.pushImage('team/app', 'v1', { layers: [randomBytes(100)] });
    const got = await reg.alice.call(`/v2/team/app/manifests/v1`);
    expect(got.status).toBe(200);
    expect(got.headers['docker-content-digest']).toBe(pushed.descriptor.digest);
  });
});
