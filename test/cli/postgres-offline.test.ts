/**
 * Issue 13, the PostgreSQL index outside the server: `backup` (a snapshot of the SQLite
 * file) refuses a postgres index and names pg_dump, before opening anything; and the
 * default build never loads pg (the dynamic import in createCore is its only way in).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/args.js';
import { runOffline } from '../../src/cli/offline-commands.js';
import { loadConfig } from '../../src/config/load.js';

const SRC = join(import.meta.dirname, '..', '..', 'src');

describe('registry-mirror on a postgres index, offline', () => {
  it('backup refuses, naming pg_dump, and opens nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirror-pg-backup-'));
    try {
      // Port 1: nothing listens; the refusal must come before any connection attempt.
      const config = loadConfig({ env: {
        MIRROR_STORAGE_PATH: join(dir, 'data'), MIRROR_INDEX_DRIVER: 'postgres', MIRROR_INDEX_URL: 'postgres://u:pw@127.0.0.1:1/db',
        MIRROR_LOG_LEVEL: 'silent',
      } });
      const err = await runOffline({ name: 'backup', dest: join(dir, 'backup'), pushedOnly: false }, config).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(/^backup: index\.driver is postgres: back up the index with pg_dump/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('no module main.ts statically imports reaches pg: the SQLite default does not load it', () => {
    const seen = new Set<string>();
    const offenders: string[] = [];
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      // Static value imports only (`import type` is erased; `import(...)` is dynamic).
      for (const m of source.matchAll(/^import\s+(?!type\s)[^;]*?from\s+'([^']+)'/gms)) {
        const spec = m[1]!;
        if (spec === 'pg' || spec.startsWith('pg/')) offenders.push(file.slice(SRC.length + 1));
        if (!spec.startsWith('.')) continue;
        const base = resolve(dirname(file), spec.replace(/\.js$/, ''));
        walk(existsSync(`${base}.ts`) ? `${base}.ts` : `${base}.tsx`);
      }
    };
    walk(join(SRC, 'main.ts'));
    expect(seen.has(join(SRC, 'core.ts'))).toBe(true);
    expect(seen.has(join(SRC, 'storage', 'sqlite-index.ts'))).toBe(true);
    expect(offenders).toEqual([]);
  });
});
