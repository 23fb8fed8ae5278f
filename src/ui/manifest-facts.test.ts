import { describe, expect, it } from 'vitest';
import { imageSize, MAX_ENTRIES, rawText, readManifestFacts, shownArtifactType } from './manifest-facts.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;
const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('readManifestFacts', () => {
  it('an image: config and layers with sizes; the image size adds them up', () => {
    const f = readManifestFacts(bytes({
      schemaVersion: 2, config: { mediaType: 'c', digest: D('c'), size: 10 },
      layers: [{ mediaType: 'l', digest: D('1'), size: 100 }, { mediaType: 'l', digest: D('2'), size: 1000 }],
      annotations: { a: 'x', n: 5 },
    }));
    expect(f.kind).toBe('image');
    expect(f.layers.map((l) => l.digest)).toEqual([D('1'), D('2')]);
    expect(imageSize(f)).toBe(1110);
    expect(f.annotations).toEqual([['a', 'x'], ['n', '5']]);
  });

  it('an index: its entries with os/arch[/variant]; attestation entries keep unknown/unknown', () => {
    const f = readManifestFacts(bytes({
      manifests: [
        { digest: D('a'), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
        { digest: D('b'), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
        { digest: D('c'), size: 1 },
      ],
    }));
    expect(f.kind).toBe('index');
    expect(f.manifests.map((m) => m.platform)).toEqual(['linux/arm/v7', 'unknown/unknown', undefined]);
    expect(Number.isNaN(imageSize(f))).toBe(true);
  });

  it('never throws: text that is not JSON, odd descriptors, negative or missing sizes', () => {
    const text = readManifestFacts(Buffer.from('<html>not json'));
    expect(text.kind).toBe('other');
    expect(rawText(Buffer.from('<html>not json'), text)).toBe('<html>not json');
    expect(readManifestFacts(bytes([1, 2])).kind).toBe('other');
    expect(readManifestFacts(bytes(null)).kind).toBe('other');
    const odd = readManifestFacts(bytes({ config: { digest: 5 }, layers: [null, 'x', { digest: D('1'), size: -1 }, { digest: D('2') }], subject: 'x' }));
    expect(odd.kind).toBe('image');
    expect(odd.config).toBeUndefined();
    expect(odd.layers.map((l) => l.digest)).toEqual([D('1'), D('2')]);
    expect(Number.isNaN(imageSize(odd))).toBe(true);
    expect(odd.subject).toBeUndefined();
  });

  it('keeps at most MAX_ENTRIES entries and counts the rest; the size is then unknown', () => {
    const layers = Array.from({ length: MAX_ENTRIES + 7 }, () => ({ digest: D('1'), size: 1 }));
    const f = readManifestFacts(bytes({ config: { digest: D('c'), size: 1 }, layers }));
    expect(f.layers).toHaveLength(MAX_ENTRIES);
    expect(f.omitted).toBe(7);
    expect(Number.isNaN(imageSize(f))).toBe(true);
  });

  it('shows artifact types other than a plain image config', () => {
    expect(shownArtifactType('application/vnd.oci.image.config.v1+json')).toBeUndefined();
    expect(shownArtifactType(null)).toBeUndefined();
    expect(shownArtifactType('application/spdx+json')).toBe('application/spdx+json');
  });
});
