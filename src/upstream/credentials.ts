import type { UpstreamConfig, UpstreamCredentials } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { OciError } from '../oci/errors.js';
import { createPasswordFileSource } from './credentials-file.js';
import { runCredentialHelper, type HelperRunOptions } from './credentials-helper.js';
import type { UpstreamErrorDetail } from './errors.js';

/**
 * Where the credentials for one upstream come from (issue 10): static, a password file
 * re-read when it changes, a static token, or a docker credential helper. The client asks
 * for them on use and drops them once when the upstream refuses them (a rotated secret),
 * so nothing needs a restart. Secrets are never put in errors, logs or stats: errors say
 * only "credentials unavailable", with the cause (no secret in it) kept for the logs.
 */

/** What an upstream request authenticates with. */
export type UpstreamSecret =
  /** Basic, or Basic on the token request of a Bearer challenge. */
  | { readonly kind: 'password'; readonly username: string; readonly password: string }
  /**
   * A token: sent as `Authorization: Bearer` to the registry; on a Bearer challenge it is
   * exchanged at the token service as an OAuth2 refresh token (docker's identity token).
   */
  | { readonly kind: 'token'; readonly token: string };

/** One upstream's credentials, asked for on use. */
export interface CredentialSource {
  /** The credentials for the registry `host` (the upstream's name). Throws OciError UPSTREAM_UNAVAILABLE. */
  get(host: string): Promise<UpstreamSecret | undefined>;
  /**
   * The upstream refused `secret`: forget it if it is still the current answer, so the next
   * get() asks afresh (a helper is run again; a file is re-read anyway when it changes).
   */
  invalidate(host: string, secret: UpstreamSecret): void;
}

export interface CredentialSourceOptions {
  readonly log?: Logger;
  /** Environment of credential helpers: PATH finds `docker-credential-<name>`. Default: the process's. */
  readonly env?: NodeJS.ProcessEnv;
  /** How long a helper's answer is used (helpers do not say when it expires). Default 10 min. */
  readonly helperCacheMs?: number;
  /** How long a helper failure is answered without running it again. Default 5 s. */
  readonly helperFailureMs?: number;
  /** Helper run bounds (tests shorten them). */
  readonly helperRun?: Pick<HelperRunOptions, 'timeoutMs' | 'maxOutputBytes'>;
  /** Clock, for tests. Default Date.now. */
  readonly now?: () => number;
}

/** The credentials of an upstream's config: `credentials`, else username/password, else none (undefined). */
export function credentialsOf(config: UpstreamConfig): UpstreamCredentials | undefined {
  if (config.credentials) return config.credentials;
  if (config.username !== undefined && config.password !== undefined) {
    return { kind: 'basic', username: config.username, password: config.password };
  }
  return undefined;
}

/** The source for an upstream's configured credentials, or undefined when it has none (anonymous). */
export function createCredentialSource(config: UpstreamConfig, options: CredentialSourceOptions = {}): CredentialSource | undefined {
  const creds = credentialsOf(config);
  if (!creds) return undefined;
  switch (creds.kind) {
    case 'basic':
      return staticSource({ kind: 'password', username: creds.username, password: creds.password });
    case 'token':
      return staticSource({ kind: 'token', token: creds.token });
    case 'password_file':
      return createPasswordFileSource(creds.username, creds.file, (cause) => credentialsUnavailable(config.name, cause));
    case 'helper':
      return createHelperSource(config.name, creds.helper, options);
  }
}

/** The Authorization value a secret gives on a Basic challenge or sent straight to the registry. */
export function authorizationFor(secret: UpstreamSecret): string {
  if (secret.kind === 'token') return `Bearer ${secret.token}`;
  return `Basic ${Buffer.from(`${secret.username}:${secret.password}`).toString('base64')}`;
}

/** The error a client sees when credentials cannot be had: no path, helper output or secret in it. */
export function credentialsUnavailable(upstream: string, cause: unknown): OciError {
  const detail: UpstreamErrorDetail = { upstream, reason: 'credentials unavailable' };
  return new OciError('UPSTREAM_UNAVAILABLE', { detail, cause });
}

function staticSource(secret: UpstreamSecret): CredentialSource {
  return {
    get: () => Promise.resolve(secret),
    invalidate: () => {},
  };
}

/**
 * Docker keeps Docker Hub's credentials under this server URL, and helpers (osxkeychain,
 * pass, desktop) answer for it, not for "docker.io".
 */
const DOCKER_HUB_SERVER_URL = 'https://index.docker.io/v1/';

/** What a helper is asked for: the host, except Docker Hub's legacy server URL. */
export function helperServerUrl(host: string): string {
  const h = host.toLowerCase();
  return h === 'docker.io' || h === 'index.docker.io' || h === 'registry-1.docker.io' ? DOCKER_HUB_SERVER_URL : host;
}

interface HelperEntry {
  readonly until: number;
  readonly answer?: Promise<UpstreamSecret>;
}

/**
 * A credential helper's answers, cached per host: a burst of pulls runs the helper once
 * (single flight), a failure is repeated for a few seconds rather than re-run per request.
 */
function createHelperSource(upstream: string, helper: string, options: CredentialSourceOptions): CredentialSource {
  const now = options.now ?? Date.now;
  const cacheMs = options.helperCacheMs ?? 10 * 60_000;
  const failureMs = options.helperFailureMs ?? 5_000;
  const entries = new Map<string, HelperEntry & { secret?: UpstreamSecret; at?: number }>();

  function run(host: string): Promise<UpstreamSecret> {
    const started = now();
    const answer = runCredentialHelper(helper, helperServerUrl(host), {
      ...options.helperRun,
      ...(options.env ? { env: options.env } : {}),
    }).then(
      (got) => {
        const secret: UpstreamSecret =
          got.username === '<token>' ? { kind: 'token', token: got.secret } : { kind: 'password', username: got.username, password: got.secret };
        // A secret that says when it expires is dropped a little before; helpers themselves never say.
        const expires = secretExpiry(got.secret);
        const until = expires === undefined ? started + cacheMs : Math.min(started + cacheMs, expires - EXPIRY_MARGIN_MS);
        entries.set(host, { until, answer, secret, at: now() });
        return secret;
      },
      (err: unknown) => {
        options.log?.warn('credential helper failed', { upstream, helper, error: (err as Error).message });
        entries.set(host, { until: now() + failureMs, answer });
        throw credentialsUnavailable(upstream, err);
      },
    );
    // In flight: every caller joins this run until it settles.
    entries.set(host, { until: Number.POSITIVE_INFINITY, answer });
    return answer;
  }

  return {
    get(host) {
      const hit = entries.get(host);
      if (hit?.answer && now() < hit.until) return hit.answer;
      return run(host);
    },
    invalidate(host, secret) {
      const hit = entries.get(host);
      // An answer the helper just gave is kept: an upstream refusing every fresh answer
      // must not make each request run the helper again.
      if (hit?.secret === secret && now() - (hit.at ?? 0) >= failureMs) entries.delete(host);
    },
  };
}

/** A helper answer is dropped this long before the expiry its secret states. */
const EXPIRY_MARGIN_MS = 60_000;

/**
 * When a secret says it expires (epoch ms), or undefined: a JWT's `exp` (ACR refresh
 * tokens, many identity tokens), or the `expiration` of an ECR authorization token's
 * base64 JSON envelope. Only read to decide how long to cache; nothing is verified.
 */
export function secretExpiry(secret: string): number | undefined {
  const parts = secret.split('.');
  const json = parts.length === 3 ? decodeJson(parts[1]!) : decodeJson(secret);
  if (json === undefined) return undefined;
  const at = typeof json['exp'] === 'number' ? json['exp'] : typeof json['expiration'] === 'number' ? json['expiration'] : undefined;
  return at !== undefined && Number.isFinite(at) && at > 0 ? at * 1000 : undefined;
}

function decodeJson(b64: string): Record<string, unknown> | undefined {
  // Cheap refusal of what cannot be base64 JSON (a plain password) before decoding it.
  if (b64.length < 8 || b64.length > 16_384 || !/^[A-Za-z0-9+/_-]+=*$/.test(b64)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(b64, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
