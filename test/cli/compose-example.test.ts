/**
 * examples/compose (issue 13, "Scaling out"): three replicas, PostgreSQL, MinIO with a
 * bucket-creating step and nginx in front. No Docker engine here, so what can be checked
 * without one is: the file parses (after compose's ${VAR} interpolation from env.example),
 * every replica's environment is a valid mirror config naming the S3, index, token and
 * cluster keys consistently with the other services, and nginx.conf balances over exactly
 * those replicas (and passes `nginx -t` when nginx is on this machine).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';

/** Debian's nginx (nginx-light), for `nginx -t` of the example's balancer config. */
export const NGINX_BIN = '/usr/sbin/nginx';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIR = join(ROOT, 'examples', 'compose');
const REPLICAS = ['mirror-1', 'mirror-2', 'mirror-3'];

/** KEY=value lines of env.example (what `cp env.example .env` gives compose). */
const dotenv = Object.fromEntries(readFileSync(join(DIR, 'env.example'), 'utf8').split('\n')
  .filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

/** Compose's interpolation: ${VAR}, ${VAR:?message} (an error when unset), $$ for a literal $. */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\{([A-Z_][A-Z0-9_]*)(?::\?[^}]*)?\}/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    const value = env[name!];
    if (value === undefined) throw new Error(`compose.yaml needs ${name} (not in env.example)`);
    return value;
  });
}

type Service = { environment?: Record<string, string>; build?: { context: string; dockerfile: string }; command?: string[];
  networks?: Record<string, { ipv4_address?: string }> | string[]; ports?: string[]; volumes?: string[]; depends_on?: unknown };
const compose = parse(interpolate(readFileSync(join(DIR, 'compose.yaml'), 'utf8'), dotenv), { merge: true }) as {
  services: Record<string, Service>;
};
const service = (name: string): Service => {
  const s = compose.services[name];
  expect(s, `service ${name}`).toBeDefined();
  return s!;
};

/** Keys a replica of a cluster must have (issue 13): the shared store, index, token key and cluster. */
const REQUIRED = [
  'MIRROR_STORAGE_DRIVER', 'MIRROR_STORAGE_S3_ENDPOINT', 'MIRROR_STORAGE_S3_REGION', 'MIRROR_STORAGE_S3_BUCKET',
  'MIRROR_STORAGE_S3_ACCESS_KEY', 'MIRROR_STORAGE_S3_SECRET_KEY', 'MIRROR_INDEX_DRIVER', 'MIRROR_INDEX_URL',
  'MIRROR_AUTH_TOKEN_SECRET', 'MIRROR_CLUSTER_PEERS', 'MIRROR_CLUSTER_SELF_URL', 'MIRROR_CLUSTER_SECRET',
];

describe('examples/compose', () => {
  it('has three replicas built from our Dockerfile, PostgreSQL, MinIO, a bucket-creating step and a load balancer', () => {
    expect(Object.keys(compose.services).sort()).toEqual([...REPLICAS, 'lb', 'minio', 'minio-init', 'postgres'].sort());
    for (const name of REPLICAS) {
      const build = service(name).build!;
      expect(existsSync(join(DIR, build.context, build.dockerfile))).toBe(true);
      expect(join(DIR, build.context, build.dockerfile)).toBe(join(ROOT, 'Dockerfile'));
    }
  });

  it('gives every replica every cluster key, each its own self_url among the same peers and the same secrets', () => {
    const envs = REPLICAS.map((name) => service(name).environment!);
    for (const env of envs) for (const key of REQUIRED) expect(env[key], key).toBeTruthy();
    const peers = REPLICAS.map((name) => `http://${name}:5000`);
    envs.forEach((env, i) => {
      expect(env.MIRROR_CLUSTER_PEERS!.split(',')).toEqual(peers);
      expect(env.MIRROR_CLUSTER_SELF_URL).toBe(peers[i]);
    });
    for (const key of REQUIRED.filter((k) => k !== 'MIRROR_CLUSTER_SELF_URL')) {
      expect(new Set(envs.map((env) => env[key])).size, key).toBe(1);
    }
    expect(envs[0]!.MIRROR_STORAGE_DRIVER).toBe('s3');
    expect(envs[0]!.MIRROR_INDEX_DRIVER).toBe('postgres');
    expect(envs[0]!.MIRROR_AUTH_TOKEN_SECRET!.length).toBeGreaterThanOrEqual(32);
    expect(envs[0]!.MIRROR_CLUSTER_SECRET!.length).toBeGreaterThanOrEqual(32);
  });

  it('each replica environment loads as a mirror config (the image reads the example config, MIRROR_* on top)', () => {
    for (const name of REPLICAS) {
      const env = service(name).environment!;
      const config = loadConfig({ file: join(ROOT, 'mirror.config.yaml'), env });
      expect(config.storage.driver).toBe('s3');
      expect(config.index.driver).toBe('postgres');
      expect(config.auth.tokenSecret).toBe(env.MIRROR_AUTH_TOKEN_SECRET);
    }
  });

  it('the replicas use the bucket minio-init creates, MinIO\'s credentials and the PostgreSQL database and user', () => {
    const env = service('mirror-1').environment!;
    const init = service('minio-init').command!.join(' ');
    expect(init).toContain(`mc mb --ignore-existing local/${env.MIRROR_STORAGE_S3_BUCKET}`);
    expect(env.MIRROR_STORAGE_S3_ENDPOINT).toBe('http://minio:9000');
    expect(init).toContain('http://minio:9000');
    const minio = service('minio').environment!;
    expect([env.MIRROR_STORAGE_S3_ACCESS_KEY, env.MIRROR_STORAGE_S3_SECRET_KEY]).toEqual([minio.MINIO_ROOT_USER, minio.MINIO_ROOT_PASSWORD]);
    const pg = service('postgres').environment!;
    const url = new URL(env.MIRROR_INDEX_URL!);
    expect([url.hostname, url.port, url.username, url.password, url.pathname])
      .toEqual(['postgres', '5432', pg.POSTGRES_USER, pg.POSTGRES_PASSWORD, `/${pg.POSTGRES_DB}`]);
  });

  it('nginx.conf balances over exactly the three replicas, streams bodies unbuffered, and the replicas trust its address', () => {
    const conf = readFileSync(join(DIR, 'nginx.conf'), 'utf8').replace(/#.*$/gm, '');
    const upstream = /upstream\s+mirrors\s*\{([^}]*)\}/.exec(conf)?.[1] ?? '';
    expect([...upstream.matchAll(/server\s+([\w.-]+:\d+)/g)].map((m) => m[1])).toEqual(REPLICAS.map((r) => `${r}:5000`));
    expect(conf).toMatch(/proxy_pass\s+http:\/\/mirrors;/);
    // The replicas' internal endpoint is not reachable through the balancer.
    expect(conf).toMatch(/location\s+\/internal\/\s*\{\s*return\s+404;\s*\}/);
    for (const directive of ['client_max_body_size 0;', 'proxy_request_buffering off;', 'proxy_buffering off;']) expect(conf).toContain(directive);
    expect(service('lb').volumes).toContain('./nginx.conf:/etc/nginx/nginx.conf:ro');
    const lbAddress = (service('lb').networks as Record<string, { ipv4_address?: string }>).mirror!.ipv4_address;
    expect(service('mirror-1').environment!.MIRROR_HTTP_TRUSTED_PROXIES).toBe(lbAddress);
  });

  it('nginx.conf passes `nginx -t` (Debian nginx-light, installed by .ci/run; replica names as 127.0.0.1: no Docker DNS here)', () => {
    expect(existsSync(NGINX_BIN), `${NGINX_BIN} missing: apt-get install nginx-light`).toBe(true);
    const conf = readFileSync(join(DIR, 'nginx.conf'), 'utf8');
    const dir = mkdtempSync(join(tmpdir(), 'compose-nginx-'));
    try {
      writeFileSync(join(dir, 'nginx.conf'), conf.replace(/mirror-\d:5000/g, '127.0.0.1:5000').replace(/pid \/tmp\/nginx.pid;/, `pid ${dir}/nginx.pid;`));
      const out = execFileSync(NGINX_BIN, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr'], { stdio: 'pipe', encoding: 'utf8' });
      expect(out).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
