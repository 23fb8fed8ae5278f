import { describe, expect, it } from 'vitest';
import { ociError } from '../../test/helpers/oci-error.js';
import { OciError } from './errors.js';
import { MANIFEST_ACCEPT, MEDIA_TYPES, parseManifest } from './manifest.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const bytes = (doc: unknown) => Buffer.from(JSON.stringify(doc));

const dockerManifest = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.dockerManifest,
  config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: d('c'), size: 1470 },
  layers: [
    { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: d('1'), size: 3_000_000 },
    { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: d('2'), size: 42 },
  ],
};

describe('parseManifest', () => {
  it('reads a Docker image manifest: config then layers, artifactType from the config', () => {
    expect(parseManifest(bytes(dockerManifest), MEDIA_TYPES.dockerManifest)).toEqual({
      mediaType: MEDIA_TYPES.dockerManifest,
      refs: [
        { child: d('c'), kind: 'config' },
        { child: d('1'), kind: 'layer' },
        { child: d('2'), kind: 'layer' },
      ],
      subject: null,
      artifactType: 'application/vnd.docker.container.image.v1+json',
      annotations: null,
    });
  });

  it('reads a Docker manifest list: every platform manifest is a child', () => {
    const list = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.dockerList,
      manifests: [
        { mediaType: MEDIA_TYPES.dockerManifest, digest: d('a'), size: 528, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: MEDIA_TYPES.dockerManifest, digest: d('b'), size: 528, platform: { architecture: 'arm64', os: 'linux' } },
      ],
    };
    expect(parseManifest(bytes(list))).toEqual({
      mediaType: MEDIA_TYPES.dockerList,
      refs: [{ child: d('a'), kind: 'manifest' }, { child: d('b'), kind: 'manifest' }],
      subject: null,
      artifactType: null,
      annotations: null,
    });
  });

  it('reads an OCI artifact manifest with subject, artifactType and annotations', () => {
    const sbom = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      artifactType: 'application/spdx+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: d('e'), size: 2 },
      layers: [{ mediaType: 'application/spdx+json', digest: d('f'), size: 1234 }],
      subject: { mediaType: MEDIA_TYPES.ociManifest, digest: d('9'), size: 700 },
      annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
    };
    expect(parseManifest(bytes(sbom))).toEqual({
      mediaType: MEDIA_TYPES.ociManifest,
      refs: [{ child: d('e'), kind: 'config' }, { child: d('f'), kind: 'layer' }],
      subject: d('9'),
      artifactType: 'application/spdx+json',
      annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
    });
  });

  it('reads an OCI index, with its own artifactType and subject', () => {
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      artifactType: 'application/vnd.example.bundle',
      manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest: d('3'), size: 100 }],
      subject: { mediaType: MEDIA_TYPES.ociIndex, digest: d('4'), size: 200 },
    };
    const parsed = parseManifest(bytes(index));
    expect(parsed.mediaType).toBe(MEDIA_TYPES.ociIndex);
    expect(parsed.refs).toEqual([{ child: d('3'), kind: 'manifest' }]);
    expect(parsed.subject).toBe(d('4'));
    expect(parsed.artifactType).toBe('application/vnd.example.bundle');
  });

  describe('without a mediaType field', () => {
    const { mediaType: _omit, ...image } = dockerManifest;

    it('infers an OCI image manifest from layers', () => {
      expect(parseManifest(bytes(image)).mediaType).toBe(MEDIA_TYPES.ociManifest);
    });

    it('infers an OCI index from manifests', () => {
      const index = { schemaVersion: 2, manifests: [{ digest: d('3'), size: 1 }] };
      const parsed = parseManifest(bytes(index));
      expect(parsed.mediaType).toBe(MEDIA_TYPES.ociIndex);
      expect(parsed.refs).toEqual([{ child: d('3'), kind: 'manifest' }]);
    });

    it('uses a specific Content-Type, ignoring its parameters', () => {
      expect(parseManifest(bytes(image), `${MEDIA_TYPES.dockerManifest}; charset=utf-8`).mediaType)
        .toBe(MEDIA_TYPES.dockerManifest);
    });

    it('ignores a generic Content-Type', () => {
      expect(parseManifest(bytes(image), 'application/json').mediaType).toBe(MEDIA_TYPES.ociManifest);
      expect(parseManifest(bytes(image), 'application/octet-stream').mediaType).toBe(MEDIA_TYPES.ociManifest);
    });
  });

  it('prefers the mediaType field over the Content-Type', () => {
    expect(parseManifest(bytes(dockerManifest), MEDIA_TYPES.ociManifest).mediaType).toBe(MEDIA_TYPES.dockerManifest);
  });

  it.each([
    ['invalid JSON', Buffer.from('{"schemaVersion": 2,')],
    ['an empty body', Buffer.alloc(0)],
    ['a JSON array', bytes([dockerManifest])],
    ['JSON null', bytes(null)],
    ['a JSON string', bytes('manifest')],
  ])('refuses %s with MANIFEST_INVALID (400)', (_what, body) => {
    const err = ociError(() => parseManifest(body));
    expect(err.code).toBe('MANIFEST_INVALID');
    expect(err.status).toBe(400);
  });

  it.each([
    ['a layer with a bad digest', { layers: [{ digest: d('1'), size: 1 }, { digest: 'sha256:xyz', size: 1 }] }, 'layers[1]'],
    ['a layer without a size', { layers: [{ digest: d('1') }] }, 'layers[0]'],
    ['a negative size', { layers: [{ digest: d('1'), size: -1 }] }, 'layers[0]'],
    ['a fractional size', { layers: [{ digest: d('1'), size: 1.5 }] }, 'layers[0]'],
    ['a size as a string', { layers: [{ digest: d('1'), size: '1' }] }, 'layers[0]'],
    ['a null layer', { layers: [null] }, 'layers[0]'],
    ['a config without a digest', { config: { size: 2 } }, 'config'],
    ['a bad subject', { layers: [], subject: { digest: 'sha256:1', size: 1 } }, 'subject'],
    ['a bad child manifest', { manifests: [{ digest: d('1'), size: 1 }, { size: 1 }] }, 'manifests[1]'],
  ])('refuses %s, saying where', (_what, doc, where) => {
    const err = ociError(() => parseManifest(bytes({ schemaVersion: 2, ...doc })));
    expect(err.code).toBe('MANIFEST_INVALID');
    expect(err.status).toBe(400);
    expect(JSON.stringify(err.detail)).toContain(where);
  });

  it('refuses an index media type without manifests', () => {
    const err = ociError(() => parseManifest(bytes({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex })));
    expect(err.code).toBe('MANIFEST_INVALID');
  });

  it('refuses layers that are not an array', () => {
    const err = ociError(() => parseManifest(bytes({ ...dockerManifest, layers: { digest: d('1'), size: 1 } })));
    expect(err.code).toBe('MANIFEST_INVALID');
  });
});

describe('MANIFEST_ACCEPT', () => {
  it('lists the four manifest media types a registry serves', () => {
    expect(MANIFEST_ACCEPT.split(', ').sort()).toEqual(Object.values(MEDIA_TYPES).sort());
  });
});
