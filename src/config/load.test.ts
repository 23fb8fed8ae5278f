import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, envName, loadConfig } from './load.js';
import type { Config } from './schema.js';
import { configError } from '../../test/helpers/config-error.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLE_FILE = join(REPO_ROOT, 'mirror.config.yaml');
const MAIN_JS = join(REPO_ROOT, 'dist', 'main.js');

/**
 * The defaults this suite pins down. Other sections (local, auth...) have their own tests;
 * the checks below compare these parts exactly and ignore sections they do not name.
 */
const DEFAULTS = {
  http: { host: '0.0.0.0', port: 5000, trustedProxies: [] },
  storage: { path: join(process.cwd(), 'data'), maxManifestBytes: 4 * 1024 * 1024 },
  upstream: {
    name: 'docker.io',
    url: 'https://registry-1.docker.io',
    connectTimeoutMs: 10_000,
    timeoutMs: 30_000,
    concurrency: 32,
    tagTtlMs: 300_000,
    officialPrefix: 'library/',
    redirectAllow: [],
    fillDeadlineMs: 3_600_000,
    minThroughput: 16 * 1024,
    throughputWindowMs: 30_000,
    prefetch: 4,
    prefetchPlatforms: [],
    prefetchMinBudget: 10,
    revalidateMinBudget: 5,
  },
  log: { level: 'info', access: true },
};

/** Compares the sections named in DEFAULTS exactly (no extra keys inside them). */
function expectDefaults(config: Config): void {
  expect(config.http).toEqual(DEFAULTS.http);
  expect(config.storage).toMatchObject(DEFAULTS.storage);
  expect(config.upstream).toEqual(DEFAULTS.upstream);
  expect(config.log).toEqual(DEFAULTS.log);
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mirror-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
/** Writes a YAML file into the temp dir and returns its path. */
function yamlFile(text: string): string {
  const path = join(dir, `config-${++fileCount}.yaml`);
  writeFileSync(path, text);
  return path;
}

/** Runs loadConfig and returns the ConfigError it throws (fails the test if none). */
describe('loadConfig defaults', () => {
  it('without a file or env gives a Docker Hub mirror on port 5000 with data in ./data', () => {
    expectDefaults(loadConfig({ env: {} }));
  });

  it('treats an empty file like no file', () => {
    expect(loadConfig({ file: yamlFile(''), env: {} })).toEqual(loadConfig({ env: {} }));
  });

  it('treats a key left empty (null) as its default', () => {
    expect(loadConfig({ file: yamlFile('http:\n  addr:\nupstream:\n'), env: {} })).toEqual(loadConfig({ env: {} }));
  });

  it("loads the repository's mirror.config.yaml, which equals the defaults", () => {
    const example = loadConfig({ file: EXAMPLE_FILE, env: {} });
    expect(example).toEqual(loadConfig({ env: {} }));
    expectDefaults(example);
  });

  it('does not read process.env when env is given', () => {
    const saved = process.env.MIRROR_HTTP_ADDR;
    process.env.MIRROR_HTTP_ADDR = '127.0.0.1:1';
    try {
      expect(loadConfig({ env: {} }).http.port).toBe(5000);
    } finally {
      if (saved === undefined) delete process.env.MIRROR_HTTP_ADDR;
      else process.env.MIRROR_HTTP_ADDR = saved;
    }
  });
});

describe('loadConfig from YAML', () => {
  it('parses durations, sizes, addresses, URLs and booleans into numbers and normal forms', () => {
    const config = loadConfig({
      env: {},
      file: yamlFile(`
http:
  addr: "[::1]:8443"
  tls:
    certificate: /etc/mirror/cert.pem
    key: /etc/mirror/key.pem
storage:
  path: /var/lib/mirror
  max_manifest_size: 512KiB
upstream:
  name: ghcr.io
  url: https://ghcr.io/
  username: bot
  password: s3cret
  connect_timeout: 250ms
  timeout: 1m30s
  concurrency: 4
  tag_ttl: 1h
  official_prefix: library
log:
  level: debug
  access: false
`),
    });
    expect(config.http).toEqual({
      host: '::1', port: 8443, tls: { certificate: '/etc/mirror/cert.pem', key: '/etc/mirror/key.pem' }, trustedProxies: [],
    });
    expect(config.storage).toMatchObject({ path: '/var/lib/mirror', maxManifestBytes: 512 * 1024 });
    expect(config.upstream).toEqual({
      name: 'ghcr.io',
      url: 'https://ghcr.io',
      username: 'bot',
      password: 's3cret',
      connectTimeoutMs: 250,
      timeoutMs: 90_000,
      concurrency: 4,
      tagTtlMs: 3_600_000,
      officialPrefix: 'library/',
      redirectAllow: [],
      fillDeadlineMs: 3_600_000,
      minThroughput: 16 * 1024,
      throughputWindowMs: 30_000,
      prefetch: 4,
      prefetchPlatforms: [],
      prefetchMinBudget: 10,
      revalidateMinBudget: 5,
    });
    expect(config.log).toEqual({ level: 'debug', access: false });
  });

  it('strips a trailing /v2 or /v2/ from upstream.url and says so (else every pull is a 404 at /v2/v2/)', () => {
    for (const url of ['https://registry.example/v2/', 'https://registry.example/v2', 'https://registry.example/V2//']) {
      const warnings: string[] = [];
      const config = loadConfig({ env: { MIRROR_UPSTREAM_URL: url }, warn: (m) => warnings.push(m) });
      expect(config.upstream.url).toBe('https://registry.example');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('upstream.url');
    }
    const fromFile = loadConfig({ env: {}, file: yamlFile('upstream:\n  url: http://10.0.0.5:5000/mirror/v2/\n'), warn: () => {} });
    expect(fromFile.upstream.url).toBe('http://10.0.0.5:5000/mirror');
    // A path that merely contains v2 is left alone, silently.
    const warnings: string[] = [];
    expect(loadConfig({ env: { MIRROR_UPSTREAM_URL: 'https://r.example/v2x' }, warn: (m) => warnings.push(m) }).upstream.url)
      .toBe('https://r.example/v2x');
    expect(warnings).toEqual([]);
  });

  it('reads upstream.redirect_allow as a YAML list or a comma list from env, lower-cased', () => {
    const yaml = loadConfig({ env: {}, file: yamlFile('upstream:\n  redirect_allow: [Blobs.Internal, "10.0.0.9", "[fd00::1]"]\n') });
    expect(yaml.upstream.redirectAllow).toEqual(['blobs.internal', '10.0.0.9', 'fd00::1']);
    const env = loadConfig({ env: { MIRROR_UPSTREAM_REDIRECT_ALLOW: 'cdn.lan, 192.168.1.7' } });
    expect(env.upstream.redirectAllow).toEqual(['cdn.lan', '192.168.1.7']);
    for (const bad of ['http://cdn.lan', 'cdn.lan:8080', 'cdn.lan/x']) {
      expect(configError({ env: { MIRROR_UPSTREAM_REDIRECT_ALLOW: bad } }).key).toContain('upstream.redirect_allow');
    }
  });

  it('reads the fill bounds: fill_deadline, min_throughput (a size per second), throughput_window', () => {
    const config = loadConfig({
      env: {},
      file: yamlFile('upstream:\n  fill_deadline: 2h\n  min_throughput: 1MiB\n  throughput_window: 10s\n'),
    });
    expect(config.upstream).toMatchObject({ fillDeadlineMs: 7_200_000, minThroughput: 1024 * 1024, throughputWindowMs: 10_000 });
    expect(loadConfig({ env: { MIRROR_UPSTREAM_FILL_DEADLINE: '0s', MIRROR_UPSTREAM_MIN_THROUGHPUT: '0' } }).upstream)
      .toMatchObject({ fillDeadlineMs: 0, minThroughput: 0 });
    expect(configError({ env: { MIRROR_UPSTREAM_MIN_THROUGHPUT: 'fast' } }).key).toContain('upstream.min_throughput');
  });

  it('reads storage.fill_workers: default 1, a count, 0 hashes and writes fills on the main thread', () => {
    expect(loadConfig({ env: {} }).storage.fillWorkers).toBe(1);
    expect(loadConfig({ env: {}, file: yamlFile('storage:\n  fill_workers: 2\n') }).storage.fillWorkers).toBe(2);
    expect(loadConfig({ env: { MIRROR_STORAGE_FILL_WORKERS: '0' } }).storage.fillWorkers).toBe(0);
    expect(configError({ env: { MIRROR_STORAGE_FILL_WORKERS: '-1' } }).key).toContain('storage.fill_workers');
    expect(configError({ env: { MIRROR_STORAGE_FILL_WORKERS: 'two' } }).key).toContain('storage.fill_workers');
  });

  it('reads upstream.prefetch: a count, 0 turns eager prefetch off', () => {
    expect(loadConfig({ env: {}, file: yamlFile('upstream:\n  prefetch: 2\n') }).upstream.prefetch).toBe(2);
    expect(loadConfig({ env: { MIRROR_UPSTREAM_PREFETCH: '0' } }).upstream.prefetch).toBe(0);
    expect(configError({ env: { MIRROR_UPSTREAM_PREFETCH: '-1' } }).key).toContain('upstream.prefetch');
    expect(configError({ env: { MIRROR_UPSTREAM_PREFETCH: 'many' } }).key).toContain('upstream.prefetch');
  });

  it('reads upstream.prefetch_platforms (os/arch[/variant], YAML list or comma list) and upstream.prefetch_min_budget', () => {
    const yaml = 'upstream:\n  prefetch_platforms: [linux/amd64, Linux/ARM64/v8]\n  prefetch_min_budget: 0\n';
    expect(loadConfig({ env: {}, file: yamlFile(yaml) }).upstream).toMatchObject({ prefetchPlatforms: ['linux/amd64', 'linux/arm64/v8'], prefetchMinBudget: 0 });
    expect(loadConfig({ env: { MIRROR_UPSTREAM_PREFETCH_PLATFORMS: 'linux/amd64,linux/arm/v7', MIRROR_UPSTREAM_PREFETCH_MIN_BUDGET: '25' } }).upstream)
      .toMatchObject({ prefetchPlatforms: ['linux/amd64', 'linux/arm/v7'], prefetchMinBudget: 25 });
    expect(configError({ env: { MIRROR_UPSTREAM_PREFETCH_PLATFORMS: 'amd64' } }).key).toContain('upstream.prefetch_platforms');
    expect(configError({ env: { MIRROR_UPSTREAM_PREFETCH_PLATFORMS: 'linux/amd64/v1/x' } }).key).toContain('upstream.prefetch_platforms');
    expect(configError({ env: { MIRROR_UPSTREAM_PREFETCH_MIN_BUDGET: 'few' } }).key).toContain('upstream.prefetch_min_budget');
  });

  it('reads upstream.revalidate_min_budget (default 5), also per upstreams entry', () => {
    expect(loadConfig({ env: {} }).upstream.revalidateMinBudget).toBe(5);
    expect(loadConfig({ env: { MIRROR_UPSTREAM_REVALIDATE_MIN_BUDGET: '0' } }).upstream.revalidateMinBudget).toBe(0);
    const c = loadConfig({ env: { MIRROR_UPSTREAMS: '[{"name":"ghcr.io","revalidate_min_budget":50},{"name":"quay.io"}]' } });
    expect(c.upstreams.map((u) => [u.name, u.revalidateMinBudget])).toEqual([['docker.io', 5], ['ghcr.io', 50], ['quay.io', 5]]);
    expect(configError({ env: { MIRROR_UPSTREAM_REVALIDATE_MIN_BUDGET: 'few' } }).key).toContain('upstream.revalidate_min_budget');
  });

  it('reads a bare number as a duration in seconds', () => {
    expect(loadConfig({ file: yamlFile('upstream:\n  tag_ttl: 90\n'), env: {} }).upstream.tagTtlMs).toBe(90_000);
  });

  it('rejects an unknown key, naming its full path', () => {
    const err = configError({ file: yamlFile('upstream:\n  tag_tll: 5m\n'), env: {} });
    expect(err.key).toBe('upstream.tag_tll');
    expect(err.message).toContain('upstream.tag_tll');
    expect(err.message).toContain('unknown key');
  });

  it('rejects an unknown top-level section', () => {
    expect(configError({ file: yamlFile('storrage:\n  path: /x\n'), env: {} }).message).toContain('storrage');
  });

  it('rejects a section written as a scalar', () => {
    const err = configError({ file: yamlFile('upstream: docker.io\n'), env: {} });
    expect(err.key).toBe('upstream');
    expect(err.message).toContain('expected a mapping');
  });

  it('rejects a document that is not a mapping', () => {
    expect(configError({ file: yamlFile('- a\n- b\n'), env: {} }).message).toContain('expected a mapping');
  });

  it('rejects invalid YAML with the file name', () => {
    const file = yamlFile('http:\n  addr: [unclosed\n');
    const err = configError({ file, env: {} });
    expect(err.message).toContain(file);
    expect(err.message).toContain('invalid YAML');
  });

  it('rejects a file it cannot read, naming the file', () => {
    const err = configError({ file: join(dir, 'missing.yaml'), env: {} });
    expect(err.message).toContain('missing.yaml');
    expect(err.message).toContain('ENOENT');
  });

  it.each([
    ['a bad duration', 'upstream:\n  tag_ttl: 5 minutes\n', 'upstream.tag_ttl'],
    ['a duration without a unit', 'upstream:\n  timeout: "30"\n', 'upstream.timeout'],
    ['a bad size', 'storage:\n  max_manifest_size: 4XB\n', 'storage.max_manifest_size'],
    ['a bad address', 'http:\n  addr: localhost\n', 'http.addr'],
    ['a port above 65535', 'http:\n  addr: 0.0.0.0:70000\n', 'http.addr'],
    ['a URL that is not a URL', 'upstream:\n  url: registry-1.docker.io\n', 'upstream.url'],
    ['a URL that is not http(s)', 'upstream:\n  url: ftp://registry.example\n', 'upstream.url'],
    ['a concurrency of 0', 'upstream:\n  concurrency: 0\n', 'upstream.concurrency'],
    ['an unknown log level', 'log:\n  level: verbose\n', 'log.level'],
    ['a non-boolean', 'log:\n  access: maybe\n', 'log.access'],
    ['an empty storage path', 'storage:\n  path: ""\n', 'storage.path'],
  ])('rejects %s, naming the key', (_what, yaml, key) => {
    const err = configError({ file: yamlFile(yaml), env: {} });
    expect(err.key).toBe(key);
    expect(err.message).toMatch(new RegExp(`^config: ${key.replace(/\./g, '\\.')}: `));
    expect(err.message).not.toContain('\n');
  });

  it('rejects TLS with a certificate but no key', () => {
    const err = configError({ file: yamlFile('http:\n  tls:\n    certificate: /c.pem\n'), env: {} });
    expect(err.key).toBe('http.tls.key');
    expect(err.message).toContain('both certificate and key');
  });

  it('rejects TLS with a key but no certificate', () => {
    const err = configError({ file: yamlFile('http:\n  tls:\n    key: /k.pem\n'), env: {} });
    expect(err.key).toBe('http.tls.certificate');
  });

  it('rejects an upstream username without a password', () => {
    expect(configError({ file: yamlFile('upstream:\n  username: bot\n'), env: {} }).key).toBe('upstream.password');
  });
});

describe('loadConfig environment overrides', () => {
  it('names each variable MIRROR_ + the key path in capitals', () => {
    expect(envName('http.addr')).toBe('MIRROR_HTTP_ADDR');
    expect(envName('upstream.tag_ttl')).toBe('MIRROR_UPSTREAM_TAG_TTL');
    expect(envName('http.tls.certificate')).toBe('MIRROR_HTTP_TLS_CERTIFICATE');
  });

  it('applies MIRROR_HTTP_ADDR, MIRROR_STORAGE_PATH, MIRROR_UPSTREAM_URL and MIRROR_UPSTREAM_TAG_TTL', () => {
    const config = loadConfig({
      env: {
        MIRROR_HTTP_ADDR: '127.0.0.1:6000',
        MIRROR_STORAGE_PATH: '/srv/mirror',
        MIRROR_UPSTREAM_URL: 'http://localhost:5001/',
        MIRROR_UPSTREAM_TAG_TTL: '30s',
      },
    });
    expect(config.http).toEqual({ host: '127.0.0.1', port: 6000, trustedProxies: [] });
    expect(config.storage.path).toBe('/srv/mirror');
    expect(config.upstream.url).toBe('http://localhost:5001');
    expect(config.upstream.tagTtlMs).toBe(30_000);
  });

  it('wins over the file', () => {
    const file = yamlFile('http:\n  addr: 0.0.0.0:7000\nupstream:\n  tag_ttl: 1h\n');
    const config = loadConfig({ file, env: { MIRROR_UPSTREAM_TAG_TTL: '2m' } });
    expect(config.upstream.tagTtlMs).toBe(120_000);
    expect(config.http.port).toBe(7000);
  });

  it('parses strings for numbers and booleans', () => {
    const config = loadConfig({ env: { MIRROR_UPSTREAM_CONCURRENCY: '8', MIRROR_LOG_ACCESS: 'false' } });
    expect(config.upstream.concurrency).toBe(8);
    expect(config.log.access).toBe(false);
  });

  it.each([
    ['MIRROR_HTTP_ADDR', 'bad', 'http.addr'],
    ['MIRROR_STORAGE_MAX_MANIFEST_SIZE', 'big', 'storage.max_manifest_size'],
    ['MIRROR_UPSTREAM_URL', 'not a url', 'upstream.url'],
    ['MIRROR_UPSTREAM_TAG_TTL', '5 min', 'upstream.tag_ttl'],
  ])('names both the key and the variable when %s is invalid', (variable, value, key) => {
    const err = configError({ env: { [variable]: value } });
    expect(err.message).toContain(key);
    expect(err.message).toContain(variable);
    expect(err.message).toContain(value);
  });

  it('does not mention a variable when the bad value came from the file', () => {
    const err = configError({ file: yamlFile('http:\n  addr: bad\n'), env: {} });
    expect(err.message).not.toContain('MIRROR_');
  });
});

describe('the loaded config', () => {
  it('is deeply frozen', () => {
    const config = loadConfig({
      env: { MIRROR_HTTP_TLS_CERTIFICATE: '/c.pem', MIRROR_HTTP_TLS_KEY: '/k.pem' },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.http)).toBe(true);
    expect(Object.isFrozen(config.http.tls)).toBe(true);
    expect(Object.isFrozen(config.upstream)).toBe(true);
    expect(() => {
      (config.upstream as { tagTtlMs: number }).tagTtlMs = 1;
    }).toThrow(TypeError);
    expect(config.upstream.tagTtlMs).toBe(300_000);
  });
});

describe('relative paths', () => {
  it('in the file resolve against the file\'s folder, not the working directory', () => {
    const sub = mkdtempSync(join(dir, 'conf-'));
    const file = join(sub, 'mirror.yaml');
    writeFileSync(file, 'storage:\n  path: ./data\nauth:\n  htpasswd: users/htpasswd\nhttp:\n  tls:\n    certificate: ../certs/c.pem\n    key: k.pem\n');
    const config = loadConfig({ file, env: {}, cwd: '/somewhere/else' });
    expect(config.storage.path).toBe(join(sub, 'data'));
    expect(config.auth.htpasswd).toBe(join(sub, 'users', 'htpasswd'));
    expect(config.http.tls).toEqual({ certificate: join(dir, 'certs', 'c.pem'), key: join(sub, 'k.pem') });
  });

  it('from MIRROR_* variables and defaults resolve against the working directory; absolute paths stay', () => {
    const file = yamlFile('auth:\n  htpasswd: /etc/mirror/htpasswd\n');
    const config = loadConfig({ file, env: { MIRROR_STORAGE_PATH: 'var/data' }, cwd: '/srv' });
    expect(config.storage.path).toBe('/srv/var/data');
    expect(config.auth.htpasswd).toBe('/etc/mirror/htpasswd');
    expect(loadConfig({ env: {}, cwd: '/srv' }).storage.path).toBe('/srv/data');
  });
});

describe('storage limits', () => {
  it('default to 1000 open uploads, 100 per user and 1GiB of free space', () => {
    const { storage } = loadConfig({ env: {} });
    expect(storage).toMatchObject({ maxUploads: 1000, maxUploadsPerUser: 100, minFree: { bytes: 2 ** 30, percent: 0 } });
  });

  it('take min_free as a size or a percent, and refuse anything else naming the key', () => {
    expect(loadConfig({ file: yamlFile('storage:\n  min_free: 5%\n'), env: {} }).storage.minFree).toEqual({ bytes: 0, percent: 5 });
    expect(loadConfig({ env: { MIRROR_STORAGE_MIN_FREE: '20GiB' } }).storage.minFree).toEqual({ bytes: 20 * 2 ** 30, percent: 0 });
    expect(configError({ env: { MIRROR_STORAGE_MIN_FREE: '150%' } }).key).toContain('storage.min_free');
    expect(configError({ env: { MIRROR_STORAGE_MAX_UPLOADS: '0' } }).key).toContain('storage.max_uploads');
    expect(configError({ file: yamlFile('storage:\n  max_uploads_per_user: lots\n'), env: {} }).key).toBe('storage.max_uploads_per_user');
  });
});

describe('the CLI with a bad config', () => {
  /** Runs dist/main.js in a temp dir with no MIRROR_* variables but the ones given. */
  function runCli(args: string[], extraEnv: Record<string, string> = {}) {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MIRROR_')) env[k] = v;
    return spawnSync(process.execPath, [MAIN_JS, ...args], {
      cwd: dir,
      env: { ...env, ...extraEnv },
      encoding: 'utf8',
      // A config that wrongly loads would start a server; do not wait for it forever.
      timeout: 20_000,
    });
  }

  it('exits 2 with one line naming the file when --config does not exist', () => {
    const result = runCli(['--config', '/nonexistent']);
    expect(result.status).toBe(2);
    const lines = result.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('/nonexistent');
  });

  it('exits 2 with one line naming the key and variable when MIRROR_HTTP_ADDR is invalid', () => {
    const result = runCli([], { MIRROR_HTTP_ADDR: 'bad' });
    expect(result.status).toBe(2);
    const lines = result.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('http.addr');
    expect(lines[0]).toContain('MIRROR_HTTP_ADDR');
  });

  it('exits 2 with one line naming http.tls.certificate when the certificate file is missing', () => {
    const result = runCli(['serve'], {
      MIRROR_HTTP_ADDR: '127.0.0.1:0', MIRROR_STORAGE_PATH: join(dir, 'tls-data'),
      MIRROR_HTTP_TLS_CERTIFICATE: join(dir, 'missing-cert.pem'), MIRROR_HTTP_TLS_KEY: join(dir, 'missing-key.pem'),
    });
    expect(result.status).toBe(2);
    const lines = result.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('http.tls.certificate');
    expect(lines[0]).toContain('ENOENT');
  });

  it('exits 2 with one line naming http.tls when the TLS files hold no usable PEM', () => {
    writeFileSync(join(dir, 'junk.pem'), 'not a certificate\n');
    const result = runCli(['serve'], {
      MIRROR_HTTP_ADDR: '127.0.0.1:0', MIRROR_STORAGE_PATH: join(dir, 'tls-data-2'),
      MIRROR_HTTP_TLS_CERTIFICATE: join(dir, 'junk.pem'), MIRROR_HTTP_TLS_KEY: join(dir, 'junk.pem'),
    });
    expect(result.status).toBe(2);
    const lines = result.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('http.tls');
  });

  it('exits 2 naming the key path of a typo in the file', () => {
    const result = runCli(['--config', yamlFile('upstream:\n  tag_tll: 5m\n')]);
    expect(result.status).toBe(2);
    const lines = result.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('upstream.tag_tll');
  });
});

describe('storage retention keys (issue 11)', () => {
  it('defaults to off (no max_size, no max_age), watermarks 0.9 / 0.8, every 10 minutes', () => {
    expect(loadConfig({ env: {} }).storage.retention).toEqual({ maxSize: 0, highWatermark: 0.9, lowWatermark: 0.8, maxAgeMs: 0, intervalMs: 600_000 });
  });

  it('reads sizes, durations, fractions and percents; 0 or empty is off', () => {
    const r = loadConfig({ env: {
      MIRROR_STORAGE_MAX_SIZE: '200GiB', MIRROR_STORAGE_HIGH_WATERMARK: '95%', MIRROR_STORAGE_LOW_WATERMARK: '0.7',
      MIRROR_STORAGE_MAX_AGE: '30d', MIRROR_STORAGE_RETENTION_INTERVAL: '5m',
    } }).storage.retention;
    expect(r).toEqual({ maxSize: 200 * 2 ** 30, highWatermark: 0.95, lowWatermark: 0.7, maxAgeMs: 30 * 86_400_000, intervalMs: 300_000 });
    expect(loadConfig({ env: { MIRROR_STORAGE_MAX_AGE: '0', MIRROR_STORAGE_MAX_SIZE: '' } }).storage.retention).toMatchObject({ maxAgeMs: 0, maxSize: 0 });
  });

  it('a bad value is a ConfigError naming its key', () => {
    expect(configError({ env: { MIRROR_STORAGE_MAX_SIZE: 'lots' } }).key).toContain('storage.max_size');
    expect(configError({ env: { MIRROR_STORAGE_HIGH_WATERMARK: '1.5' } }).key).toContain('storage.high_watermark');
    expect(configError({ env: { MIRROR_STORAGE_LOW_WATERMARK: '0' } }).key).toContain('storage.low_watermark');
    expect(configError({ env: { MIRROR_STORAGE_LOW_WATERMARK: '0.95' } }).key).toContain('storage.low_watermark');
    expect(configError({ env: { MIRROR_STORAGE_MAX_AGE: 'a while' } }).key).toContain('storage.max_age');
    expect(configError({ env: { MIRROR_STORAGE_RETENTION_INTERVAL: '10ms' } }).key).toContain('storage.retention_interval');
  });
});
