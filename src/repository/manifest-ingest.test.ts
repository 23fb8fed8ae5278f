import { describe, expect, it } from 'vitest';
import { sha256Digest } from '../oci/digest.js';
import { isOciError } from '../oci/errors.js';
import { ingestManifest } from './manifest-ingest.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const image = Buffer.from(JSON.stringify({
  schemaVersion: 2, mediaType: OCI_MANIFEST,
  config: { mediaType: 'application/vnd.example.sbom', digest: d('c'), size: 2 },
  layers: [{ mediaType: 'application/octet-stream', digest: d('1'), size: 3 }],
  subject: { mediaType: OCI_MANIFEST, digest: d('5'), size: 9 },
  annotations: { 'org.example': 'x' },
}));

describe('ingestManifest: one parse, the rows the index stores', () => {
  it('a manifest with a subject: the row carries subject, artifact type and annotations; refs end with the subject', () => {
    const m = ingestManifest(image, OCI_MANIFEST);
    expect(m.digest).toBe(sha256Digest(image));
    expect(m.row).toEqual({
      digest: sha256Digest(image), mediaType: OCI_MANIFEST, size: image.length, bytes: image,
      subject: d('5'), artifactType: 'application/vnd.example.sbom', annotations: '{"org.example":"x"}',
    });
    expect(m.refs).toEqual([
      { child: d('c'), kind: 'config' }, { child: d('1'), kind: 'layer' }, { child: d('5'), kind: 'subject' },
    ]);
    expect(m.schemaVersion).toBe(2);
    expect(m.declaredMediaType).toBe(OCI_MANIFEST);
  });

  it('a digest the caller computed is used as given (it checked it first)', () => {
    expect(ingestManifest(image, undefined, d('a')).row.digest).toBe(d('a'));
  });

  it('no subject, no mediaType field: refs are the manifest\'s own, the type comes from the header', () => {
    const plain = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: d('c'), size: 1 }, layers: [] }));
    const m = ingestManifest(plain, 'application/vnd.docker.distribution.manifest.v2+json');
    expect(m.refs).toEqual([{ child: d('c'), kind: 'config' }]);
    expect(m.row).toMatchObject({ subject: null, annotations: null, mediaType: 'application/vnd.docker.distribution.manifest.v2+json' });
    expect(m.declaredMediaType).toBeUndefined();
  });

  it.each([
    ['not JSON', Buffer.from('{')],
    ['too deep', Buffer.from('['.repeat(100) + ']'.repeat(100))],
    ['a text/html mediaType', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'text/html', layers: [] }))],
  ])('%s is MANIFEST_INVALID', (_what, bytes) => {
    let code: string | undefined;
    try {
      ingestManifest(bytes, undefined);
    } catch (err) {
      code = isOciError(err) ? err.code : 'other';
    }
    expect(code).toBe('MANIFEST_INVALID');
  });
});
