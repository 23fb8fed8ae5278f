import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from './load.js';
import { configErrorOfEnv as configError } from '../../test/helpers/config-error.js';

const dir = mkdtempSync(join(tmpdir(), 'mirror-config-s3-redirect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const S3 = { MIRROR_STORAGE_DRIVER: 's3', MIRROR_STORAGE_S3_BUCKET: 'b' };

describe('storage.s3.redirect and storage.s3.redirect_ttl (issue 13)', () => {
  it('default: off, 5 minutes', () => {
    expect(loadConfig({ env: S3 }).storage.s3).toMatchObject({ redirect: false, redirectTtlMs: 5 * 60 * 1000 });
  });

  it('reads both from the file and from env', () => {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'storage:\n  driver: s3\n  s3:\n    bucket: blobs\n    redirect: true\n    redirect_ttl: 90s\n');
    expect(loadConfig({ file, env: {} }).storage.s3).toMatchObject({ redirect: true, redirectTtlMs: 90_000 });
    const env = loadConfig({ env: { ...S3, MIRROR_STORAGE_S3_REDIRECT: 'true', MIRROR_STORAGE_S3_REDIRECT_TTL: '1h' } }).storage.s3;
    expect(env).toMatchObject({ redirect: true, redirectTtlMs: 60 * 60 * 1000 });
  });

  it('refuses a TTL above 1h or below 1s, and a redirect that is not a boolean, naming the key', () => {
    const long = configError({ ...S3, MIRROR_STORAGE_S3_REDIRECT_TTL: '2h' });
    expect(long.key).toContain('storage.s3.redirect_ttl');
    expect(long.message).toContain('at most 1h');
    expect(configError({ ...S3, MIRROR_STORAGE_S3_REDIRECT_TTL: '500ms' }).key).toContain('storage.s3.redirect_ttl');
    expect(configError({ ...S3, MIRROR_STORAGE_S3_REDIRECT_TTL: 'soon' }).key).toContain('storage.s3.redirect_ttl');
    expect(configError({ ...S3, MIRROR_STORAGE_S3_REDIRECT: 'maybe' }).key).toContain('storage.s3.redirect');
  });
});
