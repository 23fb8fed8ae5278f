import { describe, expect, it } from 'vitest';
import { ociError } from '../../test/helpers/oci-error.js';
import { OciError } from './errors.js';
import { MANIFEST_ACCEPT, MAX_JSON_DEPTH, MEDIA_TYPES, exceedsJsonDepth, isManifestMediaType, parseManifest, servedMediaType } from './manifest.js';

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

describe('manifest media types (RFC 6838, JSON types only)', () => {
  it.each([
    ...Object.values(MEDIA_TYPES),
    'application/vnd.docker.distribution.manifest.v1+prettyjws',
    'application/vnd.oci.artifact.manifest.v1+json',
    'application/json',
  ])('accepts %s', (type) => {
    expect(isManifestMediaType(type)).toBe(true);
  });

  it.each([
    ['text/html', 'text/html'],
    ['an SVG (scriptable)', 'image/svg+xml'],
    ['XHTML', 'application/xhtml+xml'],
    ['CR/LF', 'application/vnd.oci.image.manifest.v1+json\r\nSet-Cookie: a=b'],
    ['a parameter', 'application/vnd.oci.image.manifest.v1+json; charset=utf-8'],
    ['a space', 'application/vnd.oci.image.manifest.v1+json '],
    ['no subtype', 'application/'],
    ['no slash', 'application'],
    ['a leading dot', 'application/.json'],
    ['the empty string', ''],
  ])('refuses %s', (_what, type) => {
    expect(isManifestMediaType(type)).toBe(false);
  });

  it('serves a stored type that fails the check as application/octet-stream', () => {
    expect(servedMediaType('text/html')).toBe('application/octet-stream');
    expect(servedMediaType(MEDIA_TYPES.ociIndex)).toBe(MEDIA_TYPES.ociIndex);
  });

  it.each([
    ['text/html', 'text/html'],
    ['CR/LF', `${MEDIA_TYPES.ociManifest}\r\nX-Injected: 1`],
    ['parameters', `${MEDIA_TYPES.ociManifest}; charset=utf-8`],
    ['a number', 7],
  ])('parseManifest refuses a mediaType field with %s: MANIFEST_INVALID (400)', (_what, mediaType) => {
    const err = ociError(() => parseManifest(bytes({ ...dockerManifest, mediaType })));
    expect(err.code).toBe('MANIFEST_INVALID');
    expect(err.status).toBe(400);
  });

  it('parseManifest refuses a text/html Content-Type for a manifest without mediaType', () => {
    const { mediaType: _omit, ...image } = dockerManifest;
    const err = ociError(() => parseManifest(bytes(image), 'text/html; charset=utf-8'));
    expect(err.code).toBe('MANIFEST_INVALID');
    // ...and also when the JSON has one: both are checked.
    expect(ociError(() => parseManifest(bytes(dockerManifest), 'text/html')).code).toBe('MANIFEST_INVALID');
  });
});

describe('JSON depth limit', () => {
  const nested = (depth: number) => Buffer.from(`{"schemaVersion":2,"annotations":${'['.repeat(depth)}${']'.repeat(depth)}}`);

  it('refuses a manifest nested 5,000 deep with MANIFEST_INVALID (400), not a stack overflow', () => {
    const err = ociError(() => parseManifest(nested(5000)));
    expect(err.code).toBe('MANIFEST_INVALID');
    expect(err.status).toBe(400);
    expect(JSON.stringify(err.detail)).toContain('deeper');
  });

  it(`accepts ${MAX_JSON_DEPTH} levels and refuses one more; brackets inside strings do not count`, () => {
    expect(exceedsJsonDepth(nested(MAX_JSON_DEPTH - 1))).toBe(false);
    expect(exceedsJsonDepth(nested(MAX_JSON_DEPTH))).toBe(true);
    expect(exceedsJsonDepth(Buffer.from(JSON.stringify({ a: '{'.repeat(500), b: '\\"[[[[' })))).toBe(false);
  });
});

describe('MANIFEST_ACCEPT', () => {
  it('lists the four manifest media types a registry serves', () => {
    expect(MANIFEST_ACCEPT.split(', ').sort()).toEqual(Object.values(MEDIA_TYPES).sort());
  });
});
