import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load.js';

describe('config warm: (issue 11)', () => {
  it('defaults to no images, every 6h, first run after 1m, all platforms, 4 at once', () => {
    expect(loadConfig({ env: {} }).warm).toEqual({ images: [], everyMs: 6 * 3_600_000, startDelayMs: 60_000, platforms: [], concurrency: 4 });
  });

  it('reads the keys from the file and from MIRROR_WARM_* (lists comma-separated)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warm-config-'));
    try {
      const file = join(dir, 'c.yaml');
      writeFileSync(file, 'warm:\n  images: ["alpine:3.20", "ghcr.io/owner/app@sha256:' + 'a'.repeat(64) + '"]\n  every: 12h\n  platforms: [linux/ARM64]\n');
      expect(loadConfig({ file, env: {} }).warm).toMatchObject({
        images: ['alpine:3.20', `ghcr.io/owner/app@sha256:${'a'.repeat(64)}`], everyMs: 12 * 3_600_000, platforms: ['linux/arm64'],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(loadConfig({ env: { MIRROR_WARM_IMAGES: 'alpine, busybox:1', MIRROR_WARM_EVERY: '0', MIRROR_WARM_CONCURRENCY: '8' } }).warm)
      .toMatchObject({ images: ['alpine', 'busybox:1'], everyMs: 0, concurrency: 8 });
  });

  it('refuses a bad image reference or platform, naming the key', () => {
    expect(() => loadConfig({ env: { MIRROR_WARM_IMAGES: 'alpine:bad tag!' } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { MIRROR_WARM_IMAGES: 'alpine@sha256:xyz' } })).toThrow(/^config: warm\.images \(from MIRROR_WARM_IMAGES\): "alpine@sha256:xyz": invalid digest/);
    expect(() => loadConfig({ env: { MIRROR_WARM_PLATFORMS: 'amd64' } })).toThrow(/^config: warm\.platforms/);
    expect(() => loadConfig({ env: { MIRROR_WARM_EVERY: 'often' } })).toThrow(/^config: warm\.every/);
  });
});
