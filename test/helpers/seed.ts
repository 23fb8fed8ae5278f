/**
 * Seed a registry with images whose every digest the test knows.
 *
 * ```ts
 * const multi = await seedMultiArch(upstream, 'library/multi', 'latest', { mediaType: 'docker' });
 * const big = await seedImage(upstream, 'library/big', 'latest', {
 *   layers: [{ size: 64 * 1024 * 1024, seed: 'big' }],   // streamed, never in memory
 * });
 * ```
 * Generated layers are real tar.gz (one file of deterministic bytes) unless
 * `format: 'raw'`; a Buffer layer is pushed as given (its diff_id is the sha256
 * of its gunzipped bytes when it is gzip, else of itself).
 */
import { gunzipSync } from 'node:zlib';
import { deterministicStream, tarGzStream } from './layers.js';
import {
  MediaTypes, pushBlob, pushManifest, sha256, type Descriptor, type RegistryTarget,
} from './push.js';

export {
  MediaTypes, pushAuthorization, pushBlob, pushManifest, sha256,
  type Descriptor, type RegistryTarget, type StreamSource,
} from './push.js';

/** A layer: bytes as given, or `size` deterministic bytes made from `seed`. */
export type LayerSpec = Buffer | { size: number; seed: string | number; format?: 'tar+gzip' | 'raw' };
export type ManifestFlavor = 'docker' | 'oci';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** linux/amd64 and linux/arm64/v8, like most multi-arch images on Docker Hub. */
export const DEFAULT_PLATFORMS: readonly Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
];

export interface SeedImageOptions {
  layers: LayerSpec[];
  /** Docker schema 2 or OCI types for manifest, config and layers (default docker). */
  mediaType?: ManifestFlavor;
  platform?: Platform;
  /** Config labels; by default one naming the repository, so images differ. */
  labels?: Record<string, string>;
}

export interface SeededImage {
  repo: string;
  /** Undefined when pushed by digest only (e.g. an index child). */
  tag: string | undefined;
  digest: string;
  mediaType: string;
  /** The exact manifest bytes pushed. */
  manifest: Buffer;
  size: number;
  platform: Platform;
  config: Descriptor;
  configDigest: string;
  layers: Descriptor[];
  layerDigests: string[];
}

export interface SeededIndex {
  repo: string;
  tag: string | undefined;
  digest: string;
  mediaType: string;
  manifest: Buffer;
  size: number;
  children: SeededImage[];
}

/** Push layers, config and manifest; tag it when `tag` is given, else push by digest. */
export async function seedImage(
  registry: RegistryTarget,
  repo: string,
  tag: string | undefined,
  options: SeedImageOptions,
): Promise<SeededImage> {
  const oci = options.mediaType === 'oci';
  const platform = options.platform ?? DEFAULT_PLATFORMS[0]!;
  const layerType = oci ? MediaTypes.ociLayer : MediaTypes.dockerLayer;

  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const spec of options.layers) {
    const { digest, size, diffId } = await pushLayer(registry, repo, spec);
    layers.push({ mediaType: layerType, digest, size });
    diffIds.push(diffId);
  }

  const configJson = Buffer.from(JSON.stringify({
    created: '2024-01-01T00:00:00Z',
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    os: platform.os,
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Labels: options.labels ?? { 'org.registry-mirror.test.repo': repo },
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `seed layer ${i}` })),
  }));
  const pushed = await pushBlob(registry, repo, configJson);
  const config = { mediaType: oci ? MediaTypes.ociConfig : MediaTypes.dockerConfig, ...pushed };

  const mediaType = oci ? MediaTypes.ociManifest : MediaTypes.dockerManifest;
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, config, layers }, null, 3));
  const digest = await pushManifest(registry, repo, tag, manifest, mediaType);
  return {
    repo, tag, digest, mediaType, manifest, size: manifest.length, platform,
    config, configDigest: config.digest, layers, layerDigests: layers.map((l) => l.digest),
  };
}

/** Push a docker manifest list or an OCI index over already-pushed children. */
export async function seedIndex(
  registry: RegistryTarget,
  repo: string,
  tag: string | undefined,
  children: SeededImage[],
  mediaType: ManifestFlavor = 'docker',
): Promise<SeededIndex> {
  const type = mediaType === 'oci' ? MediaTypes.ociIndex : MediaTypes.dockerList;
  const manifests = children.map((c) => ({
    mediaType: c.mediaType, digest: c.digest, size: c.size, platform: c.platform,
  }));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: type, manifests }, null, 3));
  const digest = await pushManifest(registry, repo, tag, manifest, type);
  return { repo, tag, digest, mediaType: type, manifest, size: manifest.length, children };
}

export interface SeedMultiArchOptions {
  mediaType?: ManifestFlavor;
  platforms?: readonly Platform[];
  /** Layers of each child; default one small tar.gz layer seeded by repo and platform. */
  layers?: (platform: Platform) => LayerSpec[];
}

/** One image per platform (pushed by digest), then the index under `tag`. */
export async function seedMultiArch(
  registry: RegistryTarget,
  repo: string,
  tag: string,
  options: SeedMultiArchOptions = {},
): Promise<SeededIndex> {
  const children: SeededImage[] = [];
  for (const platform of options.platforms ?? DEFAULT_PLATFORMS) {
    const layers = options.layers?.(platform)
      ?? [{ size: 4096, seed: `${repo}:${tag}:${platformString(platform)}` }];
    children.push(await seedImage(registry, repo, undefined, {
      layers, platform, ...(options.mediaType ? { mediaType: options.mediaType } : {}),
    }));
  }
  return seedIndex(registry, repo, tag, children, options.mediaType);
}

/** linux/arm64/v8 */
export function platformString(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

async function pushLayer(
  registry: RegistryTarget,
  repo: string,
  spec: LayerSpec,
): Promise<{ digest: string; size: number; diffId: string }> {
  if (Buffer.isBuffer(spec)) {
    const isGzip = spec[0] === 0x1f && spec[1] === 0x8b;
    const diffId = isGzip ? sha256(gunzipSync(spec)) : sha256(spec);
    return { ...(await pushBlob(registry, repo, spec)), diffId };
  }
  if (spec.format === 'raw') {
    // Not a real tar.gz: diff_id is just the blob digest (fine for skopeo copies, not for unpacking).
    const pushed = await pushBlob(registry, repo, { stream: () => deterministicStream(spec.size, spec.seed) });
    return { ...pushed, diffId: pushed.digest };
  }
  let diffId: Promise<string> | undefined;
  const pushed = await pushBlob(registry, repo, {
    stream: () => {
      const layer = tarGzStream(spec.size, spec.seed);
      diffId = layer.diffId;
      return layer.stream;
    },
  });
  return { ...pushed, diffId: await diffId! };
}
