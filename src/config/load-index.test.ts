import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './load.js';
import { configErrorOfEnv as configError } from '../../test/helpers/config-error.js';

/** Issue 13: index.driver, index.url, index.pool_size (src/config/index-config.ts). */
describe('index.* config', () => {
  it('defaults to the SQLite file with a pool of 10 for postgres', () => {
    expect(loadConfig({ env: {} }).index).toEqual({ driver: 'sqlite', url: '', poolSize: 10 });
  });

  it('reads postgres from the file and the URL (with its password) from MIRROR_INDEX_URL', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirror-index-config-'));
    try {
      const file = join(dir, 'mirror.config.yaml');
      writeFileSync(file, 'index:\n  driver: postgres\n  pool_size: 4\n');
      const config = loadConfig({ file, env: { MIRROR_INDEX_URL: 'postgres://mirror:s3cret@db.internal:5432/mirror' } });
      expect(config.index).toEqual({ driver: 'postgres', url: 'postgres://mirror:s3cret@db.internal:5432/mirror', poolSize: 4 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses postgres without a URL, a URL of another scheme, an unknown driver or a pool of 0, naming the key', () => {
    expect(configError({ MIRROR_INDEX_DRIVER: 'postgres' }).key).toBe('index.url');
    const wrong = configError({ MIRROR_INDEX_DRIVER: 'postgres', MIRROR_INDEX_URL: 'mysql://u:topsecret@h/db' });
    expect(wrong.key).toBe('index.url');
    expect(wrong.message).not.toContain('topsecret');
    expect(configError({ MIRROR_INDEX_DRIVER: 'postgres', MIRROR_INDEX_URL: 'not a url pw=hush' }).message).not.toContain('hush');
    expect(configError({ MIRROR_INDEX_DRIVER: 'mysql' }).key).toMatch(/^index\.driver/);
    expect(configError({ MIRROR_INDEX_POOL_SIZE: '0' }).key).toMatch(/^index\.pool_size/);
  });
});
