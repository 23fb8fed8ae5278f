import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The AWS SDK must not be loaded by a mirror that keeps blobs on disk (idle RSS): only the
 * s3-*.ts files import it, and the rest of src/ reaches them by dynamic import() alone
 * (createCore, when storage.driver is s3). A static import would load it for everyone.
 */
const SRC = join(import.meta.dirname, '..');

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) sources(path, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** Module specifiers of static imports/exports (not `import type`, not import()). */
function staticImports(text: string): string[] {
  return [...text.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^'";]*?from\s+'([^']+)'/gm)].map((m) => m[1]!);
}

describe('the S3 store is loaded only when configured', () => {
  it('outside src/storage/s3-*.ts nothing imports the AWS SDK or an s3-* module statically', () => {
    const offenders: string[] = [];
    for (const file of sources(SRC)) {
      if (/[\\/]storage[\\/]s3-[^\\/]+\.ts$/.test(file)) continue;
      for (const spec of staticImports(readFileSync(file, 'utf8'))) {
        if (spec.startsWith('@aws-sdk/') || /(^|\/)s3-[^/]+\.js$/.test(spec)) offenders.push(`${relative(SRC, file)} imports ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('createCore reaches the S3 store by dynamic import', () => {
    expect(readFileSync(join(SRC, 'core.ts'), 'utf8')).toMatch(/await import\('\.\/storage\/s3-blob-store\.js'\)/);
  });
});
