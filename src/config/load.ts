import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Config } from './schema.js';
import { shadowsOfficialImages } from '../oci/name-pattern.js';
import type { AccessRule, UpstreamConfig } from './schema.js';
import {
  parseAddr, parseBoolean, parseCount, parseDuration, parseOneOf, parseSize, parseString, parseUrl,
} from './parse.js';
import { parseUpstreams, UpstreamsError } from './upstreams.js';
import { indexConfig } from './index-config.js';
import { clusterConfig, parsePeerList, parsePeerUrl } from './cluster-config.js';
import {
  parseOffSize, parseOffDuration, parseFraction, parseCountOrZero, parseHostList, parseMinFree, parsePatternList, parseRules, parsePlatformList, parseImageList, parseUserList, parseAddressList,
} from './value-parsers.js';

/**
 * Reads mirror.config.yaml, applies MIRROR_* environment overrides, validates every key
 * and returns a frozen Config. This is the only module that reads process.env.
 *
 * Each key `a.b_c` can be overridden by `MIRROR_A_B_C`, as the reference registry does
 * with REGISTRY_*. The defaults below make an empty file (or no file) a working mirror.
 * Relative paths written in the file resolve against the file's folder (so a config works
 * from any working directory); paths from MIRROR_* variables and defaults resolve against
 * the working directory. Config paths are absolute from here on.
 */
export class ConfigError extends Error {
  constructor(readonly key: string, reason: string) {
    super(`config: ${key}: ${reason}`);
    this.name = 'ConfigError';
  }
}

interface Field {
  parse: (value: unknown) => unknown;
  default?: unknown;
}




/** storage.driver and, for s3, storage.s3.* (a bucket is required; the keys come as a pair). */
function s3Config(get: <T>(key: string) => T): Pick<Config['storage'], 'driver' | 's3'> {
  const driver = get<'fs' | 's3'>('storage.driver');
  if (driver === 'fs') return { driver };
  const bucket = get<string>('storage.s3.bucket');
  if (!bucket) throw new ConfigError('storage.s3.bucket', 'must be set when storage.driver is s3');
  const accessKey = get<string>('storage.s3.access_key');
  const secretKey = get<string>('storage.s3.secret_key');
  if (Boolean(accessKey) !== Boolean(secretKey)) {
    throw new ConfigError(accessKey ? 'storage.s3.secret_key' : 'storage.s3.access_key', 'S3 credentials need both access_key and secret_key');
  }
  const endpoint = get<string>('storage.s3.endpoint').replace(/\/+$/, '');
  const pathStyle = get<boolean | ''>('storage.s3.force_path_style');
  return {
    driver,
    s3: {
      endpoint, region: get<string>('storage.s3.region'), bucket, prefix: get<string>('storage.s3.prefix'),
      accessKey, secretKey, forcePathStyle: pathStyle === '' ? endpoint !== '' : pathStyle,
      ...s3RedirectConfig(get),
    },
  };
}

/** storage.s3.redirect and its TTL (at most 1 h: a presigned URL is a bearer credential for one blob). */
function s3RedirectConfig(get: <T>(key: string) => T): { redirect: boolean; redirectTtlMs: number } {
  const redirectTtlMs = get<number>('storage.s3.redirect_ttl');
  if (redirectTtlMs < 1000) throw new ConfigError('storage.s3.redirect_ttl', 'must be at least 1s');
  if (redirectTtlMs > 60 * 60 * 1000) throw new ConfigError('storage.s3.redirect_ttl', 'must be at most 1h');
  return { redirect: get<boolean>('storage.s3.redirect'), redirectTtlMs };
}

/** storage.max_size and its watermarks (low below high), storage.max_age, storage.retention_interval. */
function retentionConfig(get: <T>(key: string) => T): Config['storage']['retention'] {
  const highWatermark = get<number>('storage.high_watermark');
  const lowWatermark = get<number>('storage.low_watermark');
  if (lowWatermark > highWatermark) throw new ConfigError('storage.low_watermark', `must not exceed storage.high_watermark (${highWatermark})`);
  const intervalMs = get<number>('storage.retention_interval');
  if (intervalMs < 1000) throw new ConfigError('storage.retention_interval', 'must be at least 1s');
  return { maxSize: get<number>('storage.max_size'), highWatermark, lowWatermark, maxAgeMs: get<number>('storage.max_age'), intervalMs };
}


/** Every accepted key, its parser and its default. Unknown keys are errors (typos matter). */
const FIELDS: Record<string, Field> = {
  'http.addr': { parse: parseAddr, default: '0.0.0.0:5000' },
  'http.tls.certificate': { parse: parseString, default: '' },
  'http.tls.key': { parse: parseString, default: '' },
  'http.trusted_proxies': { parse: parseAddressList, default: [] },
  'storage.path': { parse: parseString, default: './data' },
  'storage.max_manifest_size': { parse: parseSize, default: '4MiB' },
  'storage.upload_expiry': { parse: parseDuration, default: '1h' },
  'storage.max_uploads': { parse: parseCount, default: 1000 },
  'storage.max_uploads_per_user': { parse: parseCount, default: 100 },
  'storage.min_free': { parse: parseMinFree, default: '1GiB' },
  'storage.fill_workers': { parse: parseCountOrZero, default: 1 },
  // Retention (issue 11): applied by the server in the background (admin/retention.ts).
  'storage.max_size': { parse: parseOffSize, default: 0 },
  'storage.high_watermark': { parse: parseFraction, default: 0.9 },
  'storage.low_watermark': { parse: parseFraction, default: 0.8 },
  'storage.max_age': { parse: parseOffDuration, default: 0 },
  'storage.retention_interval': { parse: parseDuration, default: '10m' },
  // Issue 13: blobs in an S3-compatible store (src/storage/s3-blob-store.ts) instead of under storage.path.
  'storage.driver': { parse: parseOneOf(['fs', 's3'] as const), default: 'fs' },
  'storage.s3.endpoint': { parse: (v) => (v === '' ? '' : parseUrl(v)), default: '' },
  'storage.s3.region': { parse: parseString, default: 'us-east-1' },
  'storage.s3.bucket': { parse: parseString, default: '' },
  'storage.s3.prefix': { parse: parseString, default: '' },
  'storage.s3.access_key': { parse: parseString, default: '' },
  'storage.s3.secret_key': { parse: parseString, default: '' },
  // Empty: true when an endpoint is set (radosgw, MinIO), false for AWS itself.
  'storage.s3.force_path_style': { parse: (v) => (v === '' ? '' : parseBoolean(v)), default: '' },
  // Issue 13 (part R): warm blob GETs answered 307 to a presigned GET URL of the object.
  'storage.s3.redirect': { parse: parseBoolean, default: false },
  'storage.s3.redirect_ttl': { parse: parseDuration, default: '5m' },
  'local.namespaces': { parse: parsePatternList, default: [] },
  'local.allow_shadowing': { parse: parseBoolean, default: false },
  'auth.htpasswd': { parse: parseString, default: '' },
  'auth.realm': { parse: (v) => (v === '' ? '' : parseUrl(v)), default: '' },
  'auth.token_ttl': { parse: parseDuration, default: '5m' },
  'auth.token_secret': { parse: parseString, default: '' },
  'auth.mirror_pull': { parse: parseOneOf(['anonymous', 'authenticated'] as const), default: 'anonymous' },
  'auth.rules': { parse: parseRules, default: [] },
  'auth.admins': { parse: parseUserList, default: [] },
  'auth.metrics_anonymous': { parse: parseBoolean, default: false },
  'auth.max_failures': { parse: parseCount, default: 10 },
  'auth.max_user_failures': { parse: parseCount, default: 50 },
  'auth.failure_window': { parse: parseDuration, default: '1m' },
  'upstream.name': { parse: parseString, default: 'docker.io' },
  'upstream.url': { parse: parseUrl, default: 'https://registry-1.docker.io' },
  'upstream.username': { parse: parseString, default: '' },
  'upstream.password': { parse: parseString, default: '' },
  'upstream.connect_timeout': { parse: parseDuration, default: '10s' },
  'upstream.timeout': { parse: parseDuration, default: '30s' },
  'upstream.concurrency': { parse: parseCount, default: 32 },
  'upstream.tag_ttl': { parse: parseDuration, default: '5m' },
  'upstream.official_prefix': { parse: parseString, default: 'library/' },
  'upstream.redirect_allow': { parse: parseHostList, default: [] },
  'upstream.fill_deadline': { parse: parseDuration, default: '1h' },
  'upstream.min_throughput': { parse: parseSize, default: '16KiB' },
  'upstream.throughput_window': { parse: parseDuration, default: '30s' },
  'upstream.prefetch': { parse: parseCountOrZero, default: 4 },
  'upstream.prefetch_platforms': { parse: parsePlatformList, default: [] },
  'upstream.prefetch_min_budget': { parse: parseCountOrZero, default: 10 },
  'upstream.revalidate_min_budget': { parse: parseCountOrZero, default: 5 },
  // Issue 10: more registries (a list; JSON from MIRROR_UPSTREAMS). Parsed in build(), over upstream.*.
  'upstreams': { parse: (v) => v, default: [] },
  // Issue 11: images pre-pulled by the server on a schedule (registry-mirror warm, repeated).
  'warm.images': { parse: parseImageList, default: [] },
  'warm.every': { parse: (v) => (String(v).trim() === '0' ? 0 : parseDuration(v)), default: '6h' },
  'warm.start_delay': { parse: parseDuration, default: '1m' },
  'warm.platforms': { parse: (v) => (Array.isArray(v) && v.length === 0 ? [] : parsePlatformList(v)), default: [] },
  'warm.concurrency': { parse: parseCount, default: 4 },
  'log.level': { parse: parseOneOf(['debug', 'info', 'warn', 'error', 'silent'] as const), default: 'info' },
  'log.access': { parse: parseBoolean, default: true },
  'metrics.gc': { parse: parseBoolean, default: false },
  // Issue 13: the index database (src/config/index-config.ts); the URL may hold a password (env: MIRROR_INDEX_URL).
  'index.driver': { parse: parseOneOf(['sqlite', 'postgres'] as const), default: 'sqlite' },
  'index.url': { parse: parseString, default: '' },
  'index.pool_size': { parse: parseCount, default: 10 },
  // Issue 13 (part F): replicas sharing one upstream fetch per blob (src/config/cluster-config.ts); the secret from env.
  'cluster.self_url': { parse: (v) => (v === '' ? '' : parsePeerUrl(v)), default: '' },
  'cluster.peers': { parse: parsePeerList, default: [] },
  'cluster.secret': { parse: parseString, default: '' },
};

export function envName(key: string): string {
  return 'MIRROR_' + key.replace(/\./g, '_').toUpperCase();
}

/** Flattens nested YAML objects into dotted keys; rejects keys we do not know. */
function flatten(value: unknown, prefix: string, out: Map<string, unknown>): void {
  if (value === null || value === undefined) return;
  if (typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const key = prefix ? `${prefix}.${k}` : k;
      const isSection = Object.keys(FIELDS).some((f) => f.startsWith(key + '.'));
      if (isSection) flatten(v, key, out);
      else if (key in FIELDS) out.set(key, v);
      else throw new ConfigError(key, 'unknown key');
    }
    return;
  }
  throw new ConfigError(prefix || '(top level)', 'expected a mapping');
}

export interface LoadOptions {
  /** Path of the YAML file; undefined means defaults plus environment only. */
  file?: string;
  env?: Record<string, string | undefined>;
  /** Told about values that were accepted after a fix-up. Default: a line on stderr. */
  warn?: (message: string) => void;
  /** Base of relative paths from the environment and defaults; process.cwd() if omitted. */
  cwd?: string;
}

/** Keys that name files or directories: resolved to absolute paths (see above). */
const PATH_KEYS = new Set(['storage.path', 'auth.htpasswd', 'http.tls.certificate', 'http.tls.key']);

export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const raw = new Map<string, unknown>();
  if (options.file) {
    let text: string;
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (err) {
      throw new ConfigError(options.file, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      throw new ConfigError(options.file, `invalid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    flatten(doc, '', raw);
  }
  const values = new Map<string, unknown>();
  let upstreamsDir = options.cwd ?? process.cwd();
  let upstreamsFromEnv = false;
  for (const [key, field] of Object.entries(FIELDS)) {
    const fromEnv = env[envName(key)];
    const fromFile = fromEnv === undefined && raw.has(key) && raw.get(key) !== null && raw.get(key) !== undefined;
    const source = fromEnv !== undefined ? fromEnv : raw.has(key) ? raw.get(key) : field.default;
    const value = source === null || source === undefined ? field.default : source;
    try {
      let parsed = field.parse(value);
      if (PATH_KEYS.has(key) && typeof parsed === 'string' && parsed !== '') {
        parsed = resolve(fromFile ? dirname(resolve(options.file!)) : (options.cwd ?? process.cwd()), parsed);
      }
      values.set(key, parsed);
      if (key === 'upstreams') {
        upstreamsFromEnv = fromEnv !== undefined;
        if (fromFile) upstreamsDir = dirname(resolve(options.file!));
      }
    } catch (err) {
      const where = fromEnv !== undefined ? `${key} (from ${envName(key)})` : key;
      throw new ConfigError(where, (err as Error).message);
    }
  }
  return build(values, options.warn ?? ((m) => process.stderr.write(`registry-mirror: ${m}\n`)), { dir: upstreamsDir, fromEnv: upstreamsFromEnv });
}

function build(v: Map<string, unknown>, warn: (message: string) => void, upstreamsSource: { dir: string; fromEnv: boolean }): Config {
  const get = <T>(key: string) => v.get(key) as T;
  const addr = get<{ host: string; port: number }>('http.addr');
  const cert = get<string>('http.tls.certificate');
  const key = get<string>('http.tls.key');
  if (Boolean(cert) !== Boolean(key)) {
    throw new ConfigError(cert ? 'http.tls.key' : 'http.tls.certificate', 'TLS needs both certificate and key');
  }
  const username = get<string>('upstream.username');
  const password = get<string>('upstream.password');
  if (Boolean(username) !== Boolean(password)) {
    throw new ConfigError(username ? 'upstream.password' : 'upstream.username', 'credentials need both username and password');
  }
  let upstreamUrl = get<string>('upstream.url');
  // The client appends /v2/... itself; a URL copied with its /v2 would make every pull a
  // silent 404 at /v2/v2/...
  if (/\/v2$/i.test(upstreamUrl)) {
    const fixed = upstreamUrl.replace(/\/v2$/i, '');
    warn(`config: upstream.url: "${upstreamUrl}" ends in /v2; using "${fixed}" (the /v2 API path is added by the mirror)`);
    upstreamUrl = fixed;
  }
  let officialPrefix = get<string>('upstream.official_prefix');
  if (officialPrefix && !officialPrefix.endsWith('/')) officialPrefix += '/';
  const storagePath = get<string>('storage.path');
  if (!storagePath) throw new ConfigError('storage.path', 'must not be empty');
  const namespaces = get<string[]>('local.namespaces');
  if (!get<boolean>('local.allow_shadowing')) {
    const bad = namespaces.find((p) => shadowsOfficialImages(p, officialPrefix));
    if (bad) {
      throw new ConfigError('local.namespaces', `"${bad}" would shadow mirrored images; set local.allow_shadowing: true if that is intended`);
    }
  }
  const base: UpstreamConfig = {
    name: get<string>('upstream.name'),
    url: upstreamUrl,
    ...(username ? { username, password } : {}),
    connectTimeoutMs: get<number>('upstream.connect_timeout'),
    timeoutMs: get<number>('upstream.timeout'),
    concurrency: get<number>('upstream.concurrency'),
    tagTtlMs: get<number>('upstream.tag_ttl'),
    officialPrefix,
    redirectAllow: get<string[]>('upstream.redirect_allow'),
    fillDeadlineMs: get<number>('upstream.fill_deadline'),
    minThroughput: get<number>('upstream.min_throughput'),
    throughputWindowMs: get<number>('upstream.throughput_window'),
    prefetch: get<number>('upstream.prefetch'),
    prefetchPlatforms: get<string[]>('upstream.prefetch_platforms'),
    prefetchMinBudget: get<number>('upstream.prefetch_min_budget'),
    revalidateMinBudget: get<number>('upstream.revalidate_min_budget'),
  };
  let upstreams: UpstreamConfig[];
  try {
    upstreams = parseUpstreams(get<unknown>('upstreams'), {
      base, baseDir: upstreamsSource.dir,
    });
  } catch (err) {
    if (!(err instanceof UpstreamsError)) throw err;
    throw new ConfigError(upstreamsSource.fromEnv ? `${err.key} (from MIRROR_UPSTREAMS)` : err.key, err.message);
  }
  if (!get<boolean>('local.allow_shadowing')) {
    // "ghcr.io/**" local would take every /v2/ghcr.io/... name from that upstream (and its cache key space).
    // Not checked for the default upstream: "docker.io/**" loaded before issue 10 (writes into it are refused at run time).
    for (const u of upstreams.slice(1)) {
      const bad = namespaces.find((p) => p.split('/')[0] === u.name);
      if (bad) throw new ConfigError('local.namespaces', `"${bad}" would shadow the names of upstream ${u.name}; set local.allow_shadowing: true if that is intended`);
    }
  }
  const cluster = clusterConfig(get, (key, reason) => new ConfigError(key, reason));
  const config: Config = {
    http: {
      host: addr.host, port: addr.port, ...(cert ? { tls: { certificate: cert, key } } : {}),
      trustedProxies: get<string[]>('http.trusted_proxies'),
    },
    storage: {
      path: storagePath,
      maxManifestBytes: get<number>('storage.max_manifest_size'),
      uploadExpiryMs: get<number>('storage.upload_expiry'),
      maxUploads: get<number>('storage.max_uploads'),
      maxUploadsPerUser: get<number>('storage.max_uploads_per_user'),
      minFree: get<{ bytes: number; percent: number }>('storage.min_free'),
      fillWorkers: get<number>('storage.fill_workers'),
      retention: retentionConfig(get),
      ...s3Config(get),
    },
    local: { namespaces, allowShadowing: get<boolean>('local.allow_shadowing') },
    auth: {
      htpasswd: get<string>('auth.htpasswd'),
      realm: get<string>('auth.realm'),
      tokenTtlMs: get<number>('auth.token_ttl'),
      tokenSecret: get<string>('auth.token_secret'),
      mirrorPull: get<'anonymous' | 'authenticated'>('auth.mirror_pull'),
      rules: get<AccessRule[]>('auth.rules'),
      admins: get<string[]>('auth.admins'),
      metricsAnonymous: get<boolean>('auth.metrics_anonymous'),
      maxFailures: get<number>('auth.max_failures'),
      maxUserFailures: get<number>('auth.max_user_failures'),
      failureWindowMs: get<number>('auth.failure_window'),
    },
    upstream: upstreams[0]!,
    upstreams,
    log: { level: get<Config['log']['level']>('log.level'), access: get<boolean>('log.access') },
    metrics: { gc: get<boolean>('metrics.gc') },
    warm: {
      images: get<string[]>('warm.images'), everyMs: get<number>('warm.every'), startDelayMs: get<number>('warm.start_delay'),
      platforms: get<string[]>('warm.platforms'), concurrency: get<number>('warm.concurrency'),
    },
    index: indexConfig(get, (key, reason) => new ConfigError(key, reason)),
    ...(cluster ? { cluster } : {}),
  };
  return deepFreeze(config);
}










function deepFreeze<T>(obj: T): T {
  for (const value of Object.values(obj as object)) {
    if (value && typeof value === 'object') deepFreeze(value);
  }
  return Object.freeze(obj);
}
