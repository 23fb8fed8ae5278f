import type { StoragePorts } from '../../src/storage/ports.js';
import type { ManifestRow } from '../../src/storage/index-rows.js';

/** Names and rows shared by the index contract suites. */
/** A digest made of one repeated hex character. */
export const dg = (c: string) => `sha256:${c.repeat(64)}`;

export const MIRROR = 'docker.io/library/alpine';
export const MIRROR2 = 'docker.io/library/busybox';
export const LOCAL = 'team/app';
export const LOCAL2 = 'team/other';
export const UPSTREAM = 'docker.io';
export const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
export const IMAGE_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const DOCKER_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';

export function manifestRow(digest: string, over: Partial<ManifestRow> = {}): ManifestRow {
  const bytes = Buffer.from(`{"schemaVersion":2,"digest-seed":"${digest}"}`);
  return { digest, mediaType: IMAGE_TYPE, size: bytes.length, bytes, subject: null, artifactType: null, annotations: null, ...over };
}

/** Creates the four repositories the suites use: two mirrored of UPSTREAM, two local. */
export async function seedRepositories(p: StoragePorts): Promise<void> {
  await p.repositories.ensureRepository(MIRROR, 'mirror', UPSTREAM, 1);
  await p.repositories.ensureRepository(MIRROR2, 'mirror', UPSTREAM, 1);
  await p.repositories.ensureRepository(LOCAL, 'local', null, 1);
  await p.repositories.ensureRepository(LOCAL2, 'local', null, 1);
}
