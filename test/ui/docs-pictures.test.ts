/**
 * The README's console pictures (docs/console/, refreshed by the e2e suite with
 * MIRROR_DOCS_SCREENSHOTS=1): every one it shows exists, is a PNG at scale 1 of one of
 * the suite's viewports, and stays small enough to keep the clone light.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { VIEWPORTS } from '../helpers/browser.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAX_BYTES = 150 * 1024;

describe('README console pictures', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const pictures = [...readme.matchAll(/\]\((docs\/console\/[^)\s]+\.png)\)/g)].map((m) => m[1]!);

  it('the README shows the overview, a repository and a manifest', () => {
    expect(pictures).toEqual(expect.arrayContaining(['docs/console/overview.png', 'docs/console/repository.png', 'docs/console/manifest.png']));
  });

  it('each is a PNG under 150 KB, at the width and height of a desktop or phone viewport', () => {
    const sizes = Object.values(VIEWPORTS).map((v) => `${v.viewport.width}x${v.viewport.height}`);
    for (const path of pictures) {
      const bytes = readFileSync(join(ROOT, path));
      expect(bytes.subarray(1, 4).toString('latin1'), path).toBe('PNG');
      expect(statSync(join(ROOT, path)).size, path).toBeLessThan(MAX_BYTES);
      // The IHDR chunk: width and height, big-endian, at bytes 16 and 20.
      expect(sizes, path).toContain(`${bytes.readUInt32BE(16)}x${bytes.readUInt32BE(20)}`);
    }
  });
});
