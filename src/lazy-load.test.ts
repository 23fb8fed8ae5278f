import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Issue 13's optional parts are loaded only when configured, so that they never weigh on
 * the default's idle RSS: the AWS SDK (storage.driver s3) and the cluster's modules (and
 * pg with them, cluster.*). Each is reached from the rest of src/ by createCore's dynamic
 * import() alone; a static import would load it for everyone.
 */
const SRC = import.meta.dirname;

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

/** `<file> imports <spec>` for each static import of a module `forbidden` names, in files `allowed` does not exempt. */
function offenders(allowed: (rel: string) => boolean, forbidden: (spec: string) => boolean): string[] {
  const out: string[] = [];
  for (const file of sources(SRC)) {
    const rel = relative(SRC, file);
    if (allowed(rel)) continue;
    for (const spec of staticImports(readFileSync(file, 'utf8'))) if (forbidden(spec)) out.push(`${rel} imports ${spec}`);
  }
  return out;
}

const core = () => readFileSync(join(SRC, 'core.ts'), 'utf8');

describe('the S3 store is loaded only when configured', () => {
  it('outside src/storage/s3-*.ts nothing imports the AWS SDK or an s3-* module statically', () => {
    expect(offenders(
      (rel) => /^storage[\\/]s3-[^\\/]+\.ts$/.test(rel),
      (spec) => spec.startsWith('@aws-sdk/') || /(^|\/)s3-[^/]+\.js$/.test(spec),
    )).toEqual([]);
  });

  it('createCore reaches the S3 store by dynamic import', () => {
    expect(core()).toMatch(/await import\('\.\/storage\/s3-blob-store\.js'\)/);
  });
});

describe('the cluster is loaded only when configured', () => {
  it('only cluster modules import cluster modules statically; createCore imports proxy/cluster.ts dynamically', () => {
    expect(offenders(
      (rel) => /^proxy\/(cluster|cluster-fills|peer-client)\.ts$/.test(rel) || /^storage\/pg-/.test(rel),
      (spec) => /(^|\/)(cluster|cluster-fills|peer-client|pg-lock-session|pg-fills)\.js$/.test(spec),
    )).toEqual([]);
    expect(core()).toMatch(/await import\('\.\/proxy\/cluster\.js'\)/);
  });
});
