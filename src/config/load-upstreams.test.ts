import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load.js';

/** The `upstreams:` list of issue 10 (many registries in one mirror). */
const dir = mkdtempSync(join(tmpdir(), 'mirror-upstreams-'));
mkdirSync(join(dir, 'certs'));
writeFileSync(join(dir, 'certs/ca.pem'), '-----BEGIN CERTIFICATE-----\n');
let n = 0;
function yamlFile(text: string): string {
  const path = join(dir, `config-${++n}.yaml`);
  writeFileSync(path, text);
  return path;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no ConfigError');
}

describe('loadConfig: upstreams', () => {
  it('without a list there is one upstream, docker.io from the upstream: block, as before', () => {
    const c = loadConfig({ env: { MIRROR_UPSTREAM_URL: 'http://127.0.0.1:9/' } });
    expect(c.upstreams).toHaveLength(1);
    expect(c.upstreams[0]).toBe(c.upstream);
    expect(c.upstream).toMatchObject({ name: 'docker.io', url: 'http://127.0.0.1:9', officialPrefix: 'library/' });
  });

  it('reads a YAML list: endpoints in order, defaults from upstream:, no official prefix but for docker.io, relative files against the file', () => {
    const c = loadConfig({
      env: {},
      file: yamlFile([
        'upstream:', '  tag_ttl: 2m', '  concurrency: 7',
        'upstreams:',
        '  - name: GHCR.io', '    urls: [https://near.example/ghcr, "https://ghcr.io/"]', '    token: abc',
        '    tls: { ca_file: certs/ca.pem }', '    breaker: { failures: 3, open_for: 1m }',
        '  - name: quay.io', '    username: bot', '    password_file: secrets/quay', '    tag_ttl: 10m', '    timeout: 5s',
        '  - name: registry.example:5000', '    url: http://10.0.0.5:5000', '    credential_helper: ecr-login',
        '    tls: { insecure_skip_verify: true }',
      ].join('\n')),
    });
    expect(c.upstreams.map((u) => u.name)).toEqual(['docker.io', 'ghcr.io', 'quay.io', 'registry.example:5000']);
    const [, ghcr, quay, lab] = c.upstreams;
    expect(ghcr).toMatchObject({
      url: 'https://near.example/ghcr', urls: ['https://near.example/ghcr', 'https://ghcr.io'], officialPrefix: '',
      credentials: { kind: 'token', token: 'abc' }, tls: { caFile: join(dir, 'certs/ca.pem'), insecureSkipVerify: false },
      breaker: { failures: 3, openMs: 60_000 }, tagTtlMs: 120_000, concurrency: 7,
    });
    expect(quay).toMatchObject({
      url: 'https://quay.io', urls: ['https://quay.io'], credentials: { kind: 'password_file', username: 'bot', file: join(dir, 'secrets/quay') },
      breaker: { failures: 5, openMs: 30_000 }, tagTtlMs: 600_000, timeoutMs: 5000, concurrency: 7,
    });
    expect(lab).toMatchObject({ url: 'http://10.0.0.5:5000', credentials: { kind: 'helper', helper: 'ecr-login' }, tls: { insecureSkipVerify: true } });
  });

  it('index.docker.io is docker.io too', () => {
    expect(loadConfig({ env: { MIRROR_UPSTREAMS: '[{"name":"index.docker.io","tag_ttl":"1h"}]' } }).upstreams).toEqual([
      expect.objectContaining({ name: 'docker.io', tagTtlMs: 3_600_000 }),
    ]);
  });

  it('an entry named docker.io (or registry-1.docker.io) replaces the upstream: block, keeping its endpoint unless given', () => {
    const c = loadConfig({ env: { MIRROR_UPSTREAMS: JSON.stringify([{ name: 'ghcr.io' }, { name: 'registry-1.docker.io', username: 'me', password: 'pw' }]) } });
    expect(c.upstreams.map((u) => u.name)).toEqual(['docker.io', 'ghcr.io']);
    expect(c.upstream).toMatchObject({
      name: 'docker.io', url: 'https://registry-1.docker.io', officialPrefix: 'library/',
      credentials: { kind: 'basic', username: 'me', password: 'pw' }, username: 'me', password: 'pw',
    });
  });

  it.each([
    ['[{"name":"ghcr.io"},{"name":"GHCR.IO"}]', 'upstreams[1].name', 'already'],
    ['[{"urls":["https://x.example"]}]', 'upstreams[0].name', 'required'],
    ['[{"name":"https://ghcr.io"}]', 'upstreams[0].name', 'not a registry host'],
    ['[{"name":"ghcr.io","urls":["https://a.example","ftp://b.example"]}]', 'upstreams[0].urls[1]', 'http(s)'],
    ['[{"name":"ghcr.io","urls":[]}]', 'upstreams[0].urls', 'non-empty'],
    ['[{"name":"ghcr.io","url":"https://ghcr.io/v2"}]', 'upstreams[0].url', '/v2'],
    ['[{"name":"ghcr.io","token":"t","password":"p","username":"u"}]', 'upstreams[0].token', 'one of'],
    ['[{"name":"ghcr.io","password":"p"}]', 'upstreams[0].username', 'needs a username'],
    ['[{"name":"ghcr.io","username":"u"}]', 'upstreams[0].password', 'needs password'],
    ['[{"name":"ghcr.io","credential_helper":"../x"}]', 'upstreams[0].credential_helper', 'helper name'],
    ['[{"name":"ghcr.io","tag_ttl":"soon"}]', 'upstreams[0].tag_ttl', 'duration'],
    ['[{"name":"ghcr.io","breaker":{"failures":0}}]', 'upstreams[0].breaker.failures', '≥ 1'],
    ['[{"name":"ghcr.io","tls":{"verify":false}}]', 'upstreams[0].tls.verify', 'unknown key'],
    ['[{"name":"ghcr.io","mirror":true}]', 'upstreams[0].mirror', 'unknown key'],
    ['[{"name":"ghcr.io","tls":{"ca_file":"/nonexistent/ca.pem"}}]', 'upstreams[0].tls.ca_file', 'cannot read'],
    ['{"name":"ghcr.io"}', 'upstreams', 'list'],
    ['[{"name":"ghcr.io"', 'upstreams', 'JSON'],
  ])('MIRROR_UPSTREAMS=%s: one line naming %s', (json, key, reason) => {
    const err = configError(() => loadConfig({ env: { MIRROR_UPSTREAMS: json } }));
    expect(err.message).toContain(`config: ${key} (from MIRROR_UPSTREAMS): `);
    expect(err.message).toContain(reason);
    expect(err.message).not.toContain('\n');
  });

  it('a bad entry in the file names its key without the env note', () => {
    const err = configError(() => loadConfig({ env: {}, file: yamlFile('upstreams:\n  - name: quay.io\n    concurrency: 0\n') }));
    expect(err.message).toMatch(/^config: upstreams\[0\]\.concurrency: /);
  });

  it('a local namespace under an upstream\'s host would shadow its prefixed names: refused unless allow_shadowing', () => {
    const env = { MIRROR_UPSTREAMS: '[{"name":"ghcr.io"}]', MIRROR_LOCAL_NAMESPACES: 'team/*,ghcr.io/corp/**' };
    expect(configError(() => loadConfig({ env })).message).toMatch(/^config: local\.namespaces: "ghcr\.io\/corp\/\*\*" would shadow the names of upstream ghcr\.io/);
    expect(loadConfig({ env: { ...env, MIRROR_LOCAL_ALLOW_SHADOWING: 'true' } }).local.namespaces).toContain('ghcr.io/corp/**');
    expect(loadConfig({ env: { ...env, MIRROR_LOCAL_NAMESPACES: 'team/*,quay.io/corp/**' } }).local.namespaces).toContain('quay.io/corp/**');
  });
});
