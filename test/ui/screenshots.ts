/**
 * The README's console pictures (docs/console/*.png), taken by the end-to-end suite on the
 * pages it visits anyway, so they show a real mirror after a real pull. Only when asked:
 *
 *   MIRROR_DOCS_SCREENSHOTS=1 npx vitest run test/ui/browser-e2e.test.ts
 *
 * A normal run leaves docs/ alone (its screenshots of every page go to test-output/).
 * Pictures are the viewport only, at scale 1, so each stays well under 150 KB.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { screenshot } from '../helpers/browser.js';

export const DOCS_SCREENSHOT_DIR = fileURLToPath(new URL('../../docs/console', import.meta.url));

/** The pictures the README shows, by file name (without .png). */
export type DocsPicture = 'overview' | 'overview-phone' | 'repository' | 'manifest';

/** Writes docs/console/<name>.png when MIRROR_DOCS_SCREENSHOTS=1; returns its path, or undefined when not asked. */
export async function docsScreenshot(page: Page, name: DocsPicture): Promise<string | undefined> {
  if (process.env.MIRROR_DOCS_SCREENSHOTS !== '1') return undefined;
  mkdirSync(DOCS_SCREENSHOT_DIR, { recursive: true });
  return screenshot(page, name, { fullPage: false, path: join(DOCS_SCREENSHOT_DIR, `${name}.png`) });
}
