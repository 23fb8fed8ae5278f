import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * cluster.* off (the default) loads nothing of the cluster: its modules (and pg with the
 * lock session) are reached only by createCore's dynamic import of proxy/cluster.ts.
 */
const SRC = join(import.meta.dirname, '..');
const CLUSTER_ONLY = /(^|\/)(cluster|cluster-fills|peer-client|pg-lock-session|pg-fills)\.js$/;

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) sources(path, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

describe('the cluster is loaded only when configured', () => {
  it('only cluster modules import cluster modules statically; createCore imports proxy/cluster.ts dynamically', () => {
    const offenders: string[] = [];
    for (const file of sources(SRC)) {
      const rel = relative(SRC, file);
      if (/^proxy\/(cluster|cluster-fills|peer-client)\.ts$/.test(rel) || /^storage\/pg-/.test(rel)) continue;
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^'";]*?from\s+'([^']+)'/gm)) {
        if (CLUSTER_ONLY.test(m[1]!)) offenders.push(`${rel} imports ${m[1]}`);
      }
    }
    expect(offenders).toEqual([]);
    expect(readFileSync(join(SRC, 'core.ts'), 'utf8')).toMatch(/await import\('\.\/proxy\/cluster\.js'\)/);
  });
});
