import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from './load.js';
import { configErrorOfEnv as configError } from '../../test/helpers/config-error.js';

const dir = mkdtempSync(join(tmpdir(), 'mirror-config-s3-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('storage.driver and storage.s3.* (issue 13)', () => {
  it('defaults to the file store, with no s3 section', () => {
    const { storage } = loadConfig({ env: {} });
    expect(storage.driver).toBe('fs');
    expect(storage.s3).toBeUndefined();
  });

  it('reads the s3 keys from the file and env; path-style defaults to on with an endpoint, off without', () => {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'storage:\n  driver: s3\n  s3:\n    endpoint: http://127.0.0.1:7480/\n    bucket: blobs\n    prefix: mirror/\n');
    const { storage } = loadConfig({ file, env: { MIRROR_STORAGE_S3_ACCESS_KEY: 'AK', MIRROR_STORAGE_S3_SECRET_KEY: 'SK' } });
    expect(storage).toMatchObject({
      driver: 's3',
      s3: { endpoint: 'http://127.0.0.1:7480', region: 'us-east-1', bucket: 'blobs', prefix: 'mirror/', accessKey: 'AK', secretKey: 'SK', forcePathStyle: true },
    });
    const aws = loadConfig({ env: { MIRROR_STORAGE_DRIVER: 's3', MIRROR_STORAGE_S3_BUCKET: 'b', MIRROR_STORAGE_S3_REGION: 'eu-west-1' } }).storage.s3;
    expect(aws).toMatchObject({ endpoint: '', region: 'eu-west-1', accessKey: '', secretKey: '', forcePathStyle: false });
    const forced = loadConfig({ env: { MIRROR_STORAGE_DRIVER: 's3', MIRROR_STORAGE_S3_BUCKET: 'b', MIRROR_STORAGE_S3_FORCE_PATH_STYLE: 'true' } });
    expect(forced.storage.s3?.forcePathStyle).toBe(true);
  });

  it('refuses an unknown driver, s3 without a bucket, half a key pair, a bad endpoint — naming the key, not the secret', () => {
    expect(configError({ MIRROR_STORAGE_DRIVER: 'gcs' }).key).toContain('storage.driver');
    expect(configError({ MIRROR_STORAGE_DRIVER: 's3' }).key).toContain('storage.s3.bucket');
    const half = configError({ MIRROR_STORAGE_DRIVER: 's3', MIRROR_STORAGE_S3_BUCKET: 'b', MIRROR_STORAGE_S3_SECRET_KEY: 'hunter2secret' });
    expect(half.key).toContain('storage.s3.access_key');
    expect(half.message).not.toContain('hunter2secret');
    expect(configError({ MIRROR_STORAGE_DRIVER: 's3', MIRROR_STORAGE_S3_BUCKET: 'b', MIRROR_STORAGE_S3_ENDPOINT: 'not a url' }).key)
      .toContain('storage.s3.endpoint');
  });
});
