import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** public/ at the package root, from both src/ui and dist/ui (as migrations/ is found). */
export const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

const require = createRequire(import.meta.url);

/** What the console serves, by logical name: our own files in public/, and the two libraries from node_modules. */
const SOURCES: Record<string, () => string> = {
  'console.css': () => `${PUBLIC_DIR}console.css`,
  'console.js': () => `${PUBLIC_DIR}console.js`,
  // Part A (overview): draws the overview's charts with uPlot.
  'charts.js': () => `${PUBLIC_DIR}charts.js`,
  'htmx.js': () => require.resolve('htmx.org/dist/htmx.min.js'),
  'uplot.js': () => require.resolve('uplot/dist/uPlot.iife.min.js'),
  'uplot.css': () => require.resolve('uplot/dist/uPlot.min.css'),
};

const TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

export interface Asset {
  body: Buffer;
  type: string;
  /** /ui/assets/<name>.<hash>.<ext>: a new URL whenever the bytes change, so it may be cached for good. */
  url: string;
}

export interface Assets {
  /** The URL of a logical name ("console.js"); throws for a name that is not one. */
  url(name: string): string;
  /** The asset a request path's last segment names, or undefined. */
  byFile(file: string): Asset | undefined;
}

/** Reads every asset once, at start (a few hundred KiB together), and names each by its content hash. */
export function loadAssets(): Assets {
  const byName = new Map<string, Asset>();
  const byFile = new Map<string, Asset>();
  for (const [name, path] of Object.entries(SOURCES)) {
    let body: Buffer;
    try {
      body = readFileSync(path());
    } catch (err) {
      // The package is incomplete (an image built without public/): say which file, not a config key.
      throw new Error(`console assets: cannot read ${name}: ${(err as Error).message}`, { cause: err });
    }
    const dot = name.lastIndexOf('.');
    const ext = name.slice(dot + 1);
    const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
    const file = `${name.slice(0, dot)}.${hash}.${ext}`;
    const asset = { body, type: TYPES[ext]!, url: `/ui/assets/${file}` };
    byName.set(name, asset);
    byFile.set(file, asset);
  }
  return {
    url(name) {
      const a = byName.get(name);
      if (!a) throw new Error(`no console asset ${name}`);
      return a.url;
    },
    byFile: (file) => byFile.get(file),
  };
}
