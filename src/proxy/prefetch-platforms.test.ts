import { describe, expect, test } from 'vitest';
import { MEDIA_TYPES } from '../oci/manifest.js';
import { PrefetchPlatforms, platformKey } from './prefetch-platforms.js';

const d = (i: number) => `sha256:${String(i).padStart(64, '0')}`;
type Entry = { digest: string; mediaType?: string; platform?: Record<string, string> };
const index = (entries: Entry[]) =>
  Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: entries.map((e) => ({ mediaType: MEDIA_TYPES.ociManifest, size: 1, ...e })) }));
const entry = (i: number, os: string, architecture: string, variant?: string): Entry =>
  ({ digest: d(i), platform: { os, architecture, ...(variant ? { variant } : {}) } });

describe('PrefetchPlatforms', () => {
  test('nothing learned or configured: nothing chosen; a client pull by digest teaches that entry platform', () => {
    const p = new PrefetchPlatforms([]);
    expect(p.choose(index([entry(1, 'linux', 'amd64'), entry(2, 'linux', 'arm64', 'v8')]))).toEqual([]);
    p.noteClientPull(d(3));
    expect(p.learnedPlatforms).toEqual([]);
    p.noteClientPull(d(2));
    expect(p.learnedPlatforms).toEqual(['linux/arm64/v8']);
    expect(p.choose(index([entry(11, 'linux', 'amd64'), entry(12, 'linux', 'arm64', 'v8'), entry(13, 'linux', 'arm', 'v7')]))).toEqual([d(12)]);
  });

  test('configured "os/arch" matches every variant; "os/arch/variant" only that one', () => {
    const p = new PrefetchPlatforms(['linux/arm64', 'Linux/ARM/v7']);
    const chosen = p.choose(index([
      entry(1, 'linux', 'amd64'), entry(2, 'linux', 'arm64', 'v8'), entry(3, 'linux', 'arm', 'v6'), entry(4, 'linux', 'arm', 'v7'),
    ]));
    expect(chosen).toEqual([d(2), d(4)]);
  });

  test('never a nested index, an attestation ("unknown" platform), an entry without a platform, or junk', () => {
    const p = new PrefetchPlatforms(['linux/amd64', 'unknown/unknown']);
    const chosen = p.choose(index([
      { ...entry(1, 'linux', 'amd64'), mediaType: MEDIA_TYPES.ociIndex },
      entry(2, 'unknown', 'unknown'),
      { digest: d(3) },
      entry(4, 'linux', 'amd64'),
      entry(4, 'linux', 'amd64'),
    ]));
    expect(chosen).toEqual([d(4)]);
    expect(p.choose(Buffer.from('not json'))).toEqual([]);
    expect(p.choose(Buffer.from('{"manifests": 3}'))).toEqual([]);
  });

  test('learned platforms are bounded (oldest forgotten)', () => {
    const p = new PrefetchPlatforms([]);
    const entries = Array.from({ length: 40 }, (_, i) => entry(i, 'linux', `arch${i}`));
    p.choose(index(entries));
    for (let i = 0; i < 40; i++) p.noteClientPull(d(i));
    expect(p.learnedPlatforms).toHaveLength(32);
    expect(p.learnedPlatforms[0]).toBe('linux/arch8');
  });

  test('platformKey', () => {
    expect(platformKey({ os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe('linux/arm64/v8');
    expect(platformKey({ os: 'windows', architecture: 'amd64' })).toBe('windows/amd64');
    expect(platformKey({ os: 'linux' })).toBeUndefined();
    expect(platformKey(undefined)).toBeUndefined();
  });
});
