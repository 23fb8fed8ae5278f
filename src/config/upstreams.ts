import { accessSync, constants } from 'node:fs';
import { resolve } from 'node:path';
import type { UpstreamConfig, UpstreamCredentials } from './schema.js';
import { parseBoolean, parseCount, parseDuration, parseSize, parseString, parseUrl } from './parse.js';
import { parseCountOrZero, parseHostList, parsePlatformList } from './value-parsers.js';

/**
 * The `upstreams:` list (issue 10): one entry per registry the mirror serves, each a full
 * UpstreamConfig whose unset knobs come from the top-level `upstream:` block. Hand-written
 * rather than zod: it reuses parse.ts (the same messages for durations and sizes as every
 * other key) and names the exact key of a bad value, e.g. `upstreams[1].urls[0]`.
 */

/** A bad value inside the list; load.ts turns it into a ConfigError for `key`. */
export class UpstreamsError extends Error {
  constructor(readonly key: string, message: string) {
    super(message);
  }
}

/** The registry host every mirror knows without configuration. */
export const DOCKER_HUB = 'docker.io';

/** Keys an entry may have; anything else is a typo. Nested maps list their own keys. */
const KEYS = new Set([
  'name', 'url', 'urls', 'username', 'password', 'password_file', 'token', 'credential_helper', 'tls', 'breaker',
  'connect_timeout', 'timeout', 'concurrency', 'tag_ttl', 'official_prefix', 'redirect_allow', 'fill_deadline',
  'min_throughput', 'throughput_window', 'prefetch', 'prefetch_platforms', 'prefetch_min_budget',
  'revalidate_min_budget',
]);
const TLS_KEYS = new Set(['ca_file', 'insecure_skip_verify']);
const BREAKER_KEYS = new Set(['failures', 'open_for']);

/** A registry host as clients write it: DNS labels or an IP, an optional port; lower-cased. */
const HOST_RE = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/;

export interface UpstreamsContext {
  /** The top-level `upstream:` block: the docker.io upstream and every entry's defaults. */
  base: UpstreamConfig;
  /** Relative files (password_file, tls.ca_file) resolve against this folder. */
  baseDir: string;
}

/**
 * Parses the raw list (YAML, or JSON text from MIRROR_UPSTREAMS) into every upstream, the
 * docker.io one first: from `base`, or from an entry named docker.io that overrides it.
 */
export function parseUpstreams(raw: unknown, ctx: UpstreamsContext): UpstreamConfig[] {
  let list = raw;
  if (typeof raw === 'string') {
    if (raw.trim() === '') list = [];
    else {
      try {
        list = JSON.parse(raw);
      } catch {
        throw new UpstreamsError('upstreams', 'expected a JSON list of {name, urls, ...} entries');
      }
    }
  }
  if (!Array.isArray(list)) throw new UpstreamsError('upstreams', 'expected a list of {name, urls, ...} entries');
  const entries = list.map((e, i) => parseEntry(e, `upstreams[${i}]`, ctx));
  const seen = new Map<string, string>();
  entries.forEach((e, i) => {
    const earlier = seen.get(e.name);
    if (earlier !== undefined) throw new UpstreamsError(`upstreams[${i}].name`, `"${e.name}" is already the name of ${earlier}`);
    seen.set(e.name, `upstreams[${i}]`);
  });
  // The `upstream:` block is the default upstream (docker.io unless renamed); an entry of its name replaces it.
  const hub = entries.find((e) => e.name === ctx.base.name);
  return [hub ?? ctx.base, ...entries.filter((e) => e !== hub)];
}

function parseEntry(raw: unknown, at: string, ctx: UpstreamsContext): UpstreamConfig {
  const e = mapping(raw, at, KEYS);
  const field = <T>(key: string, parse: (v: unknown) => T): T | undefined => {
    const v = e[key];
    if (v === undefined || v === null) return undefined;
    try {
      return parse(v);
    } catch (err) {
      throw new UpstreamsError(`${at}.${key}`, (err as Error).message);
    }
  };
  const name = field('name', parseHost);
  if (name === undefined) throw new UpstreamsError(`${at}.name`, 'required: the registry host clients name, e.g. "ghcr.io"');
  // The entry standing for the `upstream:` block inherits its endpoint and official prefix.
  const isHub = name === ctx.base.name;
  const { base } = ctx;
  if (e.url !== undefined && e.urls !== undefined) throw new UpstreamsError(`${at}.urls`, 'give url or urls, not both');
  let urls: string[];
  if (e.urls !== undefined) {
    if (!Array.isArray(e.urls) || e.urls.length === 0) throw new UpstreamsError(`${at}.urls`, 'expected a non-empty list of http(s) URLs');
    urls = e.urls.map((u, j) => {
      try {
        return endpoint(u);
      } catch (err) {
        throw new UpstreamsError(`${at}.urls[${j}]`, (err as Error).message);
      }
    });
  } else {
    const one = field('url', endpoint);
    // Unset: the registry itself, which for Docker Hub is not at its name.
    urls = [one ?? (isHub ? base.url : `https://${name}`)];
  }
  const path = (v: unknown) => {
    const p = parseString(v);
    if (p === '') throw new Error('must not be empty');
    return resolve(ctx.baseDir, p);
  };
  const tlsRaw = e.tls === undefined || e.tls === null ? undefined : mapping(e.tls, `${at}.tls`, TLS_KEYS);
  const tlsField = <T>(key: string, parse: (v: unknown) => T): T | undefined => {
    const v = tlsRaw?.[key];
    if (v === undefined || v === null) return undefined;
    try {
      return parse(v);
    } catch (err) {
      throw new UpstreamsError(`${at}.tls.${key}`, (err as Error).message);
    }
  };
  // Read at start by the upstream's client: a missing file is a config error now, not a failed pull later.
  const caFile = tlsField('ca_file', (v) => {
    const file = path(v);
    try {
      accessSync(file, constants.R_OK);
    } catch (err) {
      throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    return file;
  });
  const insecureSkipVerify = tlsField('insecure_skip_verify', parseBoolean) ?? false;
  const breakerRaw = e.breaker === undefined || e.breaker === null ? {} : mapping(e.breaker, `${at}.breaker`, BREAKER_KEYS);
  const breakerField = <T>(key: string, parse: (v: unknown) => T, dflt: T): T => {
    const v = breakerRaw[key];
    if (v === undefined || v === null) return dflt;
    try {
      return parse(v);
    } catch (err) {
      throw new UpstreamsError(`${at}.breaker.${key}`, (err as Error).message);
    }
  };
  const credentials = parseCredentials(e, at, path);
  let officialPrefix = field('official_prefix', parseString) ?? (isHub ? base.officialPrefix : '');
  if (officialPrefix && !officialPrefix.endsWith('/')) officialPrefix += '/';
  return {
    name,
    url: urls[0]!,
    urls,
    ...(credentials ? { credentials } : {}),
    // Today's client reads username/password; a static pair is both (part F reads credentials).
    ...(credentials?.kind === 'basic' ? { username: credentials.username, password: credentials.password } : {}),
    ...(caFile !== undefined || insecureSkipVerify ? { tls: { ...(caFile !== undefined ? { caFile } : {}), insecureSkipVerify } } : {}),
    breaker: { failures: breakerField('failures', parseCount, 5), openMs: breakerField('open_for', parseDuration, 30_000) },
    connectTimeoutMs: field('connect_timeout', parseDuration) ?? base.connectTimeoutMs,
    timeoutMs: field('timeout', parseDuration) ?? base.timeoutMs,
    concurrency: field('concurrency', parseCount) ?? base.concurrency,
    tagTtlMs: field('tag_ttl', parseDuration) ?? base.tagTtlMs,
    officialPrefix,
    redirectAllow: field('redirect_allow', parseHostList) ?? base.redirectAllow,
    fillDeadlineMs: field('fill_deadline', parseDuration) ?? base.fillDeadlineMs,
    minThroughput: field('min_throughput', parseSize) ?? base.minThroughput,
    throughputWindowMs: field('throughput_window', parseDuration) ?? base.throughputWindowMs,
    prefetch: field('prefetch', parseCountOrZero) ?? base.prefetch,
    prefetchPlatforms: field('prefetch_platforms', parsePlatformList) ?? base.prefetchPlatforms,
    prefetchMinBudget: field('prefetch_min_budget', parseCountOrZero) ?? base.prefetchMinBudget,
    revalidateMinBudget: field('revalidate_min_budget', parseCountOrZero) ?? base.revalidateMinBudget,
  };
}

/** Exactly one way to authenticate, or none (anonymous pulls). */
function parseCredentials(e: Record<string, unknown>, at: string, path: (v: unknown) => string): UpstreamCredentials | undefined {
  const given = ['password', 'password_file', 'token', 'credential_helper'].filter((k) => e[k] !== undefined && e[k] !== null && e[k] !== '');
  const str = (key: string): string => {
    const v = e[key];
    if (typeof v !== 'string' || v === '') throw new UpstreamsError(`${at}.${key}`, 'expected a non-empty string');
    return v;
  };
  const hasUser = e.username !== undefined && e.username !== null && e.username !== '';
  if (given.length > 1) throw new UpstreamsError(`${at}.${given[1]}`, `give one of password, password_file, token, credential_helper (also given: ${given[0]})`);
  const kind = given[0];
  if (kind === undefined) {
    if (hasUser) throw new UpstreamsError(`${at}.password`, 'username needs password or password_file');
    return undefined;
  }
  if (kind === 'password' || kind === 'password_file') {
    if (!hasUser) throw new UpstreamsError(`${at}.username`, `${kind} needs a username`);
    const username = str('username');
    if (kind === 'password') return { kind: 'basic', username, password: str('password') };
    try {
      return { kind: 'password_file', username, file: path(e.password_file) };
    } catch (err) {
      throw new UpstreamsError(`${at}.password_file`, (err as Error).message);
    }
  }
  if (hasUser) throw new UpstreamsError(`${at}.username`, `not used with ${kind}`);
  if (kind === 'token') return { kind: 'token', token: str('token') };
  const helper = str('credential_helper');
  // The helper is run as docker-credential-<helper>: a name, never a path or shell words.
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(helper)) {
    throw new UpstreamsError(`${at}.credential_helper`, `"${helper}" is not a helper name (e.g. "ecr-login" for docker-credential-ecr-login)`);
  }
  return { kind: 'helper', helper };
}

function mapping(raw: unknown, at: string, keys: Set<string>): Record<string, unknown> {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new UpstreamsError(at, 'expected a mapping');
  const m = raw as Record<string, unknown>;
  const unknown = Object.keys(m).find((k) => !keys.has(k));
  if (unknown !== undefined) throw new UpstreamsError(`${at}.${unknown}`, 'unknown key');
  return m;
}

/** A registry host ("ghcr.io", "registry.example:5000"); registry-1.docker.io and index.docker.io are docker.io. */
function parseHost(value: unknown): string {
  if (typeof value !== 'string') throw new Error('expected a registry host, e.g. "ghcr.io"');
  const host = value.trim().toLowerCase();
  if (!HOST_RE.test(host) || Number(host.split(':').at(-1)) > 65535) {
    throw new Error(`"${value}" is not a registry host (no scheme or path), e.g. "ghcr.io" or "registry.example:5000"`);
  }
  return host === 'registry-1.docker.io' || host === 'index.docker.io' ? DOCKER_HUB : host;
}

/** An endpoint: an http(s) URL without a trailing /v2 (the client adds the API path). */
function endpoint(value: unknown): string {
  const url = parseUrl(value);
  if (/\/v2$/i.test(url)) throw new Error(`"${String(value)}" ends in /v2; give the registry's base URL (the mirror adds /v2)`);
  return url;
}
