import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './load.js';
import { configErrorOfEnv as configError } from '../../test/helpers/config-error.js';

/** Issue 13: cluster.self_url, cluster.peers, cluster.secret (src/config/cluster-config.ts). */
const SECRET = 'x'.repeat(32);
const ON = {
  MIRROR_INDEX_DRIVER: 'postgres', MIRROR_INDEX_URL: 'postgres://m:pw@db:5432/m',
  MIRROR_STORAGE_DRIVER: 's3', MIRROR_STORAGE_S3_BUCKET: 'b',
  MIRROR_CLUSTER_PEERS: 'http://10.0.0.1:5000, http://10.0.0.2:5000/,HTTPS://Mirror-C.internal',
  MIRROR_CLUSTER_SELF_URL: 'http://10.0.0.2:5000',
  MIRROR_CLUSTER_SECRET: SECRET,
};

describe('cluster.* config', () => {
  it('is off (absent) by default', () => {
    expect(loadConfig({ env: {} }).cluster).toBeUndefined();
  });

  it('reads the peers comma-separated from env, normalised (no trailing slash, lower-case host)', () => {
    expect(loadConfig({ env: ON }).cluster).toEqual({
      selfUrl: 'http://10.0.0.2:5000',
      peers: ['http://10.0.0.1:5000', 'http://10.0.0.2:5000', 'https://mirror-c.internal'],
      secret: SECRET,
    });
  });

  it('reads the peers as a YAML list, the secret from env', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mirror-cluster-config-'));
    try {
      const file = join(dir, 'mirror.config.yaml');
      writeFileSync(file, [
        'index: { driver: postgres, url: "postgres://m@db/m" }',
        'storage: { driver: s3, s3: { bucket: b } }',
        'cluster:', '  self_url: http://a:5000/', '  peers: [http://a:5000, http://b:5000]', '',
      ].join('\n'));
      const config = loadConfig({ file, env: { MIRROR_CLUSTER_SECRET: SECRET } });
      expect(config.cluster).toEqual({ selfUrl: 'http://a:5000', peers: ['http://a:5000', 'http://b:5000'], secret: SECRET });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a cluster without the shared engines, naming cluster.peers', () => {
    expect(configError({ ...ON, MIRROR_INDEX_DRIVER: 'sqlite' }).message).toMatch(/^config: cluster\.peers: .*postgres/);
    expect(configError({ ...ON, MIRROR_STORAGE_DRIVER: 'fs' }).message).toMatch(/^config: cluster\.peers: .*s3/);
  });

  it('refuses a self_url missing or not among the peers, and a self_url without peers', () => {
    const { MIRROR_CLUSTER_SELF_URL: _, ...noSelf } = ON;
    expect(configError(noSelf).key).toBe('cluster.self_url');
    expect(configError({ ...ON, MIRROR_CLUSTER_SELF_URL: 'http://10.0.0.9:5000' }).key).toBe('cluster.self_url');
    expect(configError({ MIRROR_CLUSTER_SELF_URL: 'http://10.0.0.9:5000' }).key).toBe('cluster.peers');
  });

  it('refuses a short or missing secret without echoing it', () => {
    const short = configError({ ...ON, MIRROR_CLUSTER_SECRET: 'hush-hush-hush' });
    expect(short.key).toBe('cluster.secret');
    expect(short.message).not.toContain('hush');
    expect(configError({ ...ON, MIRROR_CLUSTER_SECRET: '' }).key).toBe('cluster.secret');
  });

  it('refuses peer URLs that are not plain http(s) origins, or listed twice', () => {
    for (const bad of ['ftp://a:21', 'http://user:pw@a:5000', 'http://a:5000/?x=1', 'http://a:5000/#f', 'http://a:5000/mirror', 'not a url']) {
      const err = configError({ ...ON, MIRROR_CLUSTER_PEERS: `http://10.0.0.2:5000,${bad}` });
      expect(err.key, bad).toMatch(/^cluster\.peers/);
      expect(err.message).not.toContain('pw@');
    }
    expect(configError({ ...ON, MIRROR_CLUSTER_PEERS: 'http://10.0.0.2:5000,http://10.0.0.2:5000/' }).key).toMatch(/^cluster\.peers/);
    expect(configError({ ...ON, MIRROR_CLUSTER_SELF_URL: 'http://u:p@10.0.0.2:5000' }).key).toMatch(/^cluster\.self_url/);
  });
});
