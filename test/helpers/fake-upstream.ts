/**
 * An in-process fake upstream registry that behaves like Docker Hub / Distribution on
 * the wire, with switchable faults, for unit and integration tests.
 *
 *   registry  http://127.0.0.1:PORT      GET /v2/, /token, /v2/<repo>/manifests|blobs|tags/list
 *   CDN       http://127.0.0.1:CDNPORT   GET|HEAD /blobs/<digest>?sig=...   (blob GETs 307 here)
 *
 * - auth 'token' (default): the registry answers 401 with a Bearer challenge
 *   (realm "<url>/token", service "fake.registry", scope "repository:<repo>:pull");
 *   /token hands out tokens whose scopes are checked per repository.
 *   auth 'basic': the registry wants Basic credentials from `users`. auth 'none': open.
 * - The CDN refuses any request carrying Authorization (400), as a real CDN would
 *   reject a leaked registry token.
 * - Every request to either server is logged in `requests` (kind, auth, range, status).
 * - `faults` is a mutable object: set a field and the next requests see it.
 *
 * Usage:
 *   const up = await startFakeUpstream();
 *   const img = up.addImage('library/alpine', '3.20', { layers: [Buffer.from('x')] });
 *   up.faults.corrupt.add(img.layers[0]!);
 *   ... up.count({ kind: 'token' }) ...
 *   await up.close();
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono, type Context } from 'hono';

export type RequestKind = 'ping' | 'token' | 'manifest' | 'blob' | 'cdn' | 'tags' | 'other';

/** One request as the fake saw it. */
export interface LoggedRequest {
  readonly method: string;
  /** Path without the query. */
  readonly path: string;
  /** Raw query string without "?" ('' when none). */
  readonly query: string;
  readonly kind: RequestKind;
  /** Repository name for manifest/blob/tags requests. */
  readonly repo?: string;
  /** The Authorization header as received. */
  readonly auth?: string;
  readonly range?: string;
  readonly accept?: string;
  readonly userAgent?: string;
  /** Status of the response head, set as it is sent (a cut transfer still says 200); undefined when no answer was sent. */
  status?: number;
}

export interface Faults {
  /** Every request (registry and CDN): destroy the socket without answering. */
  down?: boolean;
  /** Every request (registry and CDN) is answered with this status and an OCI error body. */
  status?: number;
  /** Manifest GETs get 429 TOOMANYREQUESTS (HEADs still 200, like Docker Hub). */
  rateLimit?: boolean;
  /** Sent as Retry-After with the 429s of `rateLimit`. */
  retryAfter?: string;
  /** Manifest GETs announce this ratelimit-remaining instead of counting down from 100. */
  rateLimitRemaining?: number;
  /** Wait this long before answering any request. */
  delayMs?: number;
  /** Blob (and manifest) digests served with one byte flipped (same length, same Docker-Content-Digest). */
  corrupt: Set<string>;
  /** digest → bytes: send that many body bytes, then destroy the socket. */
  cutAfter: Map<string, number>;
  /** digest → bytes: send that many body bytes, then stop sending (never end). */
  stallAfter: Map<string, number>;
  /** Stream blob bodies slowly. */
  throttle?: { bytesPerChunk: number; intervalMs: number };
  /** Blob GETs answer 307 to this Location instead of the CDN (a hostile redirect). */
  blobLocation?: string;
  /** Repositories whose blob requests answer 404 BLOB_UNKNOWN, whatever the blob store holds. */
  blobsUnknownIn: Set<string>;
  /** tags/list ignores `n` and sends every tag, without a Link. */
  ignoreTagsN?: boolean;
}

export type MediaTypeFlavour = 'docker' | 'oci';

export interface FakeUpstreamOptions {
  /** Default 'token'. */
  auth?: 'token' | 'basic' | 'none';
  /** Known users (name → password): checked on /token (token mode) or on every request (basic mode). */
  users?: Record<string, string>;
  /** Token mode: may /token hand out pull tokens without credentials? Default true (like Docker Hub). */
  anonymous?: boolean;
  /** The `service` of the challenge; /token refuses any other. Default 'fake.registry'. */
  service?: string;
  /** `expires_in` of issued tokens, seconds. Default 300. */
  tokenExpiresIn?: number;
  /**
   * Token mode: refresh tokens (docker's identity tokens) POST /token accepts in the OAuth2
   * form (grant_type=refresh_token). Default none: every POST is refused.
   */
  refreshTokens?: readonly string[];
  /** Blob GETs answer 307 to the CDN (true, default) or are served by the registry itself. */
  redirectBlobs?: boolean;
}

export interface FakeImage {
  readonly digest: string;
  readonly manifest: Buffer;
  readonly mediaType: string;
  /** Digest of the config blob. */
  readonly config: string;
  /** Digests of the layer blobs, in order. */
  readonly layers: string[];
}

export interface FakeIndex {
  readonly digest: string;
  readonly manifest: Buffer;
  readonly mediaType: string;
}

export interface RequestFilter {
  method?: string;
  kind?: RequestKind;
  /** Exact path, or a RegExp tested against it. */
  path?: string | RegExp;
  repo?: string;
  status?: number;
}

export interface FakeUpstream {
  /** Registry base URL, http://127.0.0.1:PORT */
  readonly url: string;
  /** CDN base URL. */
  readonly cdnUrl: string;
  /** Host:port of the registry (what `?ns=` would carry). */
  readonly host: string;
  readonly service: string;
  /** Every request to either server, in arrival order. */
  readonly requests: LoggedRequest[];
  readonly faults: Faults;
  count(filter?: RequestFilter): number;
  /** Highest number of requests of this kind (or of any kind) in flight at once since the last reset. */
  maxInFlight(kind?: RequestKind): number;
  /** Stores a blob (no repository link needed) and returns its digest. */
  addBlob(bytes: Buffer | string): string;
  /** Stores a manifest's exact bytes in `repo`, optionally tagging it. */
  addManifest(repo: string, bytes: Buffer | string, mediaType: string, tag?: string): string;
  /** Stores config + layers + an image manifest (default OCI media types). */
  addImage(repo: string, tag: string | undefined, image: { layers: Buffer[]; mediaType?: MediaTypeFlavour }): FakeImage;
  /** Stores an index over manifests already in `repo` (default OCI media type). */
  addIndex(repo: string, tag: string | undefined, children: string[], mediaType?: MediaTypeFlavour): FakeIndex;
  setTag(repo: string, tag: string, digest: string): void;
  removeTag(repo: string, tag: string): void;
  /** Invalidates every token issued so far (the next registry request with one gets 401). */
  revokeTokens(): void;
  /** Clears the request log, in-flight peaks and all faults (content stays). */
  reset(): void;
  close(): Promise<void>;
}

export const MEDIA_TYPES = {
  docker: {
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    index: 'application/vnd.docker.distribution.manifest.list.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  },
  oci: {
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    index: 'application/vnd.oci.image.index.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  },
} as const;

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

type Env = { Bindings: HttpBindings };
type Ctx = Context<Env>;

const MANIFEST_RE = /^\/v2\/(.+)\/manifests\/([^/]+)$/;
const BLOB_RE = /^\/v2\/(.+)\/blobs\/([^/]+)$/;
const TAGS_RE = /^\/v2\/(.+)\/tags\/list$/;
const RATE_LIMIT = 100;

/** Starts the registry and its CDN on free ports of 127.0.0.1. */
export async function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const authMode = options.auth ?? 'token';
  const users = options.users ?? {};
  const anonymous = options.anonymous ?? true;
  const service = options.service ?? 'fake.registry';
  const tokenExpiresIn = options.tokenExpiresIn ?? 300;
  const redirectBlobs = options.redirectBlobs ?? true;

  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { mediaType: string; bytes: Buffer }>();
  const repos = new Map<string, { tags: Map<string, string>; manifests: Set<string> }>();
  const tokens = new Map<string, { access: Set<string>; expiresAt: number }>();
  const requests: LoggedRequest[] = [];
  const faults: Faults = { corrupt: new Set(), cutAfter: new Map(), stallAfter: new Map(), blobsUnknownIn: new Set() };
  const inFlight = new Map<RequestKind | 'all', number>();
  const peaks = new Map<RequestKind | 'all', number>();
  const timers = new Set<NodeJS.Timeout>();
  const entries = new WeakMap<ServerResponse, LoggedRequest>();
  /** Ends a request's in-flight count (once), as soon as its last byte is handed to the socket. */
  const finishers = new WeakMap<ServerResponse, () => void>();
  let manifestGets = 0;
  let seq = 0;
  let url = '';
  let cdnUrl = '';

  const repoOf = (name: string) => {
    let r = repos.get(name);
    if (!r) repos.set(name, (r = { tags: new Map(), manifests: new Set() }));
    return r;
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  // ---- responses: written straight to the node response, so faults can cut or stall it ----

  function send(c: Ctx, status: number, headers: Record<string, string | number>, body?: Buffer | string): Response {
    const bytes = body === undefined ? undefined : Buffer.from(body);
    const h: Record<string, string | number> = { 'docker-distribution-api-version': 'registry/2.0', ...headers };
    if (bytes && h['content-length'] === undefined) h['content-length'] = bytes.length;
    // Hono answers HEAD by running the GET route and re-wrapping its Response, so a HEAD
    // must return a real Response (node keeps the explicit Content-Length on it).
    logStatus(c, status);
    if (c.req.method === 'HEAD') return headResponse(status, h);
    const res = c.env.outgoing;
    res.writeHead(status, h);
    res.end(bytes);
    return RESPONSE_ALREADY_SENT;
  }

  function headResponse(status: number, headers: Record<string, string | number>): Response {
    return new Response(null, { status, headers: Object.entries(headers).map(([k, v]): [string, string] => [k, String(v)]) });
  }

  function sendError(c: Ctx, status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
    const body = JSON.stringify({ errors: [{ code, message, detail: null }] });
    return send(c, status, { 'content-type': 'application/json', ...headers }, body);
  }

  /** Resolves true once `chunk` is handed to the kernel, false if the response died first. */
  function write(res: ServerResponse, chunk: Buffer): Promise<boolean> {
    return new Promise((resolve) => {
      if (res.destroyed) return resolve(false);
      const onClose = () => resolve(false);
      res.once('close', onClose);
      res.write(chunk, (err) => {
        res.off('close', onClose);
        resolve(!err);
      });
    });
  }

  /** Serves blob bytes with Range support and the blob faults (corrupt, cut, stall, throttle). */
  async function sendBlob(c: Ctx, digest: string): Promise<Response> {
    const stored = blobs.get(digest);
    if (!stored) return sendError(c, 404, 'BLOB_UNKNOWN', 'blob unknown to registry', {});
    let bytes = stored;
    if (faults.corrupt.has(digest) && bytes.length > 0) {
      bytes = Buffer.from(stored);
      const i = Math.floor(bytes.length / 2);
      bytes[i] = bytes[i]! ^ 0xff;
    }
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'docker-content-digest': digest,
      'accept-ranges': 'bytes',
    };
    let status = 200;
    const range = c.req.header('range');
    if (range !== undefined) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range.trim());
      const start = m ? Number(m[1]) : NaN;
      const end = m && m[2] !== '' ? Math.min(Number(m[2]), bytes.length - 1) : bytes.length - 1;
      if (!m || start >= bytes.length || end < start) {
        return send(c, 416, { 'content-range': `bytes */${bytes.length}`, 'content-length': 0 });
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${bytes.length}`;
      bytes = bytes.subarray(start, end + 1);
    }
    headers['content-length'] = bytes.length;
    logStatus(c, status);
    if (c.req.method === 'HEAD') return headResponse(status, headers);
    const res = c.env.outgoing;
    res.writeHead(status, headers);

    const cut = faults.cutAfter.get(digest);
    const stall = faults.stallAfter.get(digest);
    const limit = Math.min(cut ?? Infinity, stall ?? Infinity, bytes.length);
    const step = faults.throttle?.bytesPerChunk ?? 64 * 1024;
    for (let off = 0; off < limit; off += step) {
      // Pause between chunks, never after the last: the response must end as soon as the
      // client has every byte, or in-flight accounting would see transfers overlap.
      if (off > 0 && faults.throttle) await sleep(faults.throttle.intervalMs);
      if (!(await write(res, bytes.subarray(off, Math.min(off + step, limit))))) return RESPONSE_ALREADY_SENT;
    }
    if (limit < bytes.length) {
      if (cut !== undefined && cut <= limit) res.socket?.destroy();
      // else: stalled — leave the response open; close() destroys the connection.
      return RESPONSE_ALREADY_SENT;
    }
    finishers.get(res)?.();
    res.end();
    return RESPONSE_ALREADY_SENT;
  }

  // ---- auth ----

  function basicUser(header: string | undefined): string | undefined {
    const m = /^Basic\s+(.+)$/i.exec(header ?? '');
    if (!m) return undefined;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) return undefined;
    const user = decoded.slice(0, i);
    return users[user] !== undefined && users[user] === decoded.slice(i + 1) ? user : undefined;
  }

  function challenge(repo: string | undefined, error?: string): string {
    if (authMode === 'basic') return 'Basic realm="fake registry"';
    let v = `Bearer realm="${url}/token",service="${service}"`;
    if (repo !== undefined) v += `,scope="repository:${repo}:pull"`;
    if (error) v += `,error="${error}"`;
    return v;
  }

  /** undefined when allowed; otherwise the 401 to send. */
  function requirePull(c: Ctx, repo: string | undefined): Response | undefined {
    if (authMode === 'none') return undefined;
    const header = c.req.header('authorization');
    if (authMode === 'basic') {
      if (basicUser(header) !== undefined) return undefined;
      return sendError(c, 401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': challenge(repo) });
    }
    const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
    const t = m ? tokens.get(m[1]!) : undefined;
    const valid = t !== undefined && t.expiresAt > Date.now();
    if (valid && (repo === undefined || t.access.has(`${repo}:pull`))) return undefined;
    const error = m ? (valid ? 'insufficient_scope' : 'invalid_token') : undefined;
    return sendError(c, 401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': challenge(repo, error) });
  }

  // ---- the registry ----

  const registry = new Hono<Env>();
  registry.use('*', async (c, next) => {
    const path = c.req.path;
    let kind: RequestKind = 'other';
    let repo: string | undefined;
    let m: RegExpExecArray | null;
    if (path === '/v2/' || path === '/v2') kind = 'ping';
    else if (path === '/token') kind = 'token';
    else if ((m = MANIFEST_RE.exec(path))) [kind, repo] = ['manifest', m[1]];
    else if ((m = BLOB_RE.exec(path))) [kind, repo] = ['blob', m[1]];
    else if ((m = TAGS_RE.exec(path))) [kind, repo] = ['tags', m[1]];
    return handleCommon(c, kind, repo, next);
  });

  registry.get('/v2/', (c) => requirePull(c, undefined) ?? send(c, 200, { 'content-type': 'application/json' }, '{}'));

  registry.get('/token', (c) => {
    if (authMode !== 'token') return sendError(c, 404, 'UNSUPPORTED', 'no token service');
    if (c.req.query('service') !== service) {
      return send(c, 400, { 'content-type': 'application/json' }, JSON.stringify({ details: 'invalid service' }));
    }
    const header = c.req.header('authorization');
    if (header !== undefined && basicUser(header) === undefined) {
      return send(c, 401, { 'content-type': 'application/json' }, JSON.stringify({ details: 'incorrect username or password' }));
    }
    if (header === undefined && !anonymous) {
      return send(c, 401, { 'content-type': 'application/json' }, JSON.stringify({ details: 'login required' }));
    }
    return issueToken(c, c.req.queries('scope') ?? []);
  });

  // OAuth2 refresh-token grant: https://distribution.github.io/distribution/spec/auth/oauth/
  registry.post('/token', async (c) => {
    if (authMode !== 'token') return sendError(c, 404, 'UNSUPPORTED', 'no token service');
    const form = new URLSearchParams(await c.req.text());
    if (form.get('service') !== service) {
      return send(c, 400, { 'content-type': 'application/json' }, JSON.stringify({ details: 'invalid service' }));
    }
    const refresh = form.get('refresh_token');
    if (form.get('grant_type') !== 'refresh_token' || refresh === null || !(options.refreshTokens ?? []).includes(refresh)) {
      return send(c, 401, { 'content-type': 'application/json' }, JSON.stringify({ details: 'invalid refresh token' }));
    }
    return issueToken(c, (form.get('scope') ?? '').split(' ').filter((x) => x !== ''));
  });

  function issueToken(c: Ctx, scopes: readonly string[]): Response {
    const access = new Set<string>();
    for (const scope of scopes) {
      // repository:<name>:<actions>; names contain "/" but never ":".
      const first = scope.indexOf(':');
      const last = scope.lastIndexOf(':');
      if (first < 0 || last <= first || scope.slice(0, first) !== 'repository') continue;
      const name = scope.slice(first + 1, last);
      for (const action of scope.slice(last + 1).split(',')) if (action === 'pull') access.add(`${name}:pull`);
    }
    const token = randomBytes(16).toString('hex');
    tokens.set(token, { access, expiresAt: Date.now() + tokenExpiresIn * 1000 });
    const body = { token, access_token: token, expires_in: tokenExpiresIn, issued_at: new Date().toISOString() };
    return send(c, 200, { 'content-type': 'application/json' }, JSON.stringify(body));
  }

  registry.get('/v2/*', (c) => {
    const path = c.req.path;
    let m: RegExpExecArray | null;
    if ((m = MANIFEST_RE.exec(path))) return manifestRoute(c, m[1]!, m[2]!);
    if ((m = BLOB_RE.exec(path))) return blobRoute(c, m[1]!, m[2]!);
    if ((m = TAGS_RE.exec(path))) return tagsRoute(c, m[1]!);
    return sendError(c, 404, 'NAME_UNKNOWN', 'not found');
  });

  function manifestRoute(c: Ctx, repo: string, reference: string): Response {
    const denied = requirePull(c, repo);
    if (denied) return denied;
    const r = repos.get(repo);
    const digest = reference.includes(':') ? reference : r?.tags.get(reference);
    const stored = digest !== undefined && r?.manifests.has(digest) ? manifests.get(digest) : undefined;
    if (!stored || digest === undefined) return sendError(c, 404, 'MANIFEST_UNKNOWN', 'manifest unknown', {});
    if (c.req.method === 'GET') {
      // Docker Hub counts manifest GETs against the pull limit; HEADs are free.
      if (faults.rateLimit) {
        return sendError(c, 429, 'TOOMANYREQUESTS', 'You have reached your pull rate limit.', {
          'ratelimit-limit': `${RATE_LIMIT};w=21600`,
          'ratelimit-remaining': '0;w=21600',
          ...(faults.retryAfter !== undefined ? { 'retry-after': faults.retryAfter } : {}),
        });
      }
      manifestGets++;
    }
    const headers: Record<string, string | number> = {
      'content-type': stored.mediaType,
      'docker-content-digest': digest,
      'content-length': stored.bytes.length,
    };
    if (c.req.method === 'GET') {
      headers['ratelimit-limit'] = `${RATE_LIMIT};w=21600`;
      headers['ratelimit-remaining'] = `${faults.rateLimitRemaining ?? Math.max(0, RATE_LIMIT - manifestGets)};w=21600`;
    }
    if (faults.corrupt.has(digest) && stored.bytes.length > 0) {
      const wrong = Buffer.from(stored.bytes);
      wrong[wrong.length - 1] = wrong[wrong.length - 1]! ^ 0xff;
      return send(c, 200, headers, wrong);
    }
    return send(c, 200, headers, stored.bytes);
  }

  function blobRoute(c: Ctx, repo: string, digest: string): Response | Promise<Response> {
    const denied = requirePull(c, repo);
    if (denied) return denied;
    const stored = faults.blobsUnknownIn.has(repo) ? undefined : blobs.get(digest);
    if (!stored) return sendError(c, 404, 'BLOB_UNKNOWN', 'blob unknown to registry', {});
    if (c.req.method === 'HEAD') {
      return send(c, 200, { 'content-type': 'application/octet-stream', 'docker-content-digest': digest, 'content-length': stored.length });
    }
    if (!redirectBlobs) return sendBlob(c, digest);
    const location = faults.blobLocation ?? `${cdnUrl}/blobs/${digest}?sig=${randomBytes(8).toString('hex')}`;
    return send(c, 307, { location, 'content-length': 0 });
  }

  function tagsRoute(c: Ctx, repo: string): Response {
    const denied = requirePull(c, repo);
    if (denied) return denied;
    const r = repos.get(repo);
    if (!r) return sendError(c, 404, 'NAME_UNKNOWN', 'repository name not known to registry', {});
    let tags = [...r.tags.keys()].sort();
    const last = c.req.query('last');
    if (last !== undefined) tags = tags.filter((t) => t > last);
    const nRaw = c.req.query('n');
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (nRaw !== undefined && !faults.ignoreTagsN) {
      const n = Number(nRaw);
      if (tags.length > n && n > 0) {
        tags = tags.slice(0, n);
        headers['link'] = `</v2/${repo}/tags/list?n=${n}&last=${encodeURIComponent(tags[tags.length - 1]!)}>; rel="next"`;
      } else if (n === 0) tags = [];
    }
    return send(c, 200, headers, JSON.stringify({ name: repo, tags }));
  }

  // ---- the CDN ----

  const cdn = new Hono<Env>();
  cdn.use('*', (c, next) => handleCommon(c, 'cdn', undefined, next));
  cdn.get('/blobs/:digest', (c) => {
    if (c.req.header('authorization') !== undefined) {
      return send(c, 400, { 'content-type': 'text/plain' }, 'Only one auth mechanism allowed');
    }
    if (!c.req.query('sig')) return send(c, 403, { 'content-type': 'text/plain' }, 'missing signature');
    return sendBlob(c, c.req.param('digest'));
  });

  // ---- shared: logging, in-flight accounting, request-wide faults ----

  async function handleCommon(c: Ctx, kind: RequestKind, repo: string | undefined, next: () => Promise<void>) {
    const h = (name: string) => c.req.header(name);
    const entry: LoggedRequest = {
      method: c.req.method,
      path: c.req.path,
      query: new URL(c.req.url).search.replace(/^\?/, ''),
      kind,
      ...(repo !== undefined ? { repo } : {}),
      ...(h('authorization') !== undefined ? { auth: h('authorization') } : {}),
      ...(h('range') !== undefined ? { range: h('range') } : {}),
      ...(h('accept') !== undefined ? { accept: h('accept') } : {}),
      ...(h('user-agent') !== undefined ? { userAgent: h('user-agent') } : {}),
    };
    requests.push(entry);
    const res = c.env.outgoing;
    entries.set(res, entry);
    track(kind, +1);
    let counted = true;
    const done = () => {
      if (counted) track(kind, -1);
      counted = false;
    };
    finishers.set(res, done);
    res.once('close', done);

    if (faults.down) return destroy(c);
    if (faults.delayMs) await sleep(faults.delayMs);
    if (faults.down) return destroy(c);
    if (faults.status !== undefined) {
      return sendError(c, faults.status, faults.status === 429 ? 'TOOMANYREQUESTS' : 'UNAVAILABLE', 'fault injected');
    }
    await next();
    return undefined;
  }

  function destroy(c: Ctx): Response {
    c.env.incoming.socket.destroy();
    // A HEAD's Response is re-wrapped by Hono and written anyway; on a dead socket that is a no-op.
    return c.req.method === 'HEAD' ? new Response(null, { status: 500 }) : RESPONSE_ALREADY_SENT;
  }

  function logStatus(c: Ctx, status: number) {
    const entry = entries.get(c.env.outgoing);
    if (entry) entry.status = status;
  }

  function track(kind: RequestKind, delta: number) {
    for (const k of [kind, 'all'] as const) {
      const n = (inFlight.get(k) ?? 0) + delta;
      inFlight.set(k, n);
      if (n > (peaks.get(k) ?? 0)) peaks.set(k, n);
    }
  }

  // ---- start ----

  const listen = (app: Hono<Env>) =>
    new Promise<{ server: Server; port: number }>((resolve) => {
      const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) =>
        resolve({ server, port: info.port }),
      ) as Server;
    });
  const reg = await listen(registry);
  const cdnServer = await listen(cdn);
  url = `http://127.0.0.1:${reg.port}`;
  cdnUrl = `http://127.0.0.1:${cdnServer.port}`;

  // ---- content ----

  function addBlob(bytes: Buffer | string): string {
    const b = Buffer.from(bytes);
    const digest = sha256(b);
    blobs.set(digest, b);
    return digest;
  }

  function addManifest(repo: string, bytes: Buffer | string, mediaType: string, tag?: string): string {
    const b = Buffer.from(bytes);
    const digest = sha256(b);
    manifests.set(digest, { mediaType, bytes: b });
    const r = repoOf(repo);
    r.manifests.add(digest);
    if (tag !== undefined) r.tags.set(tag, digest);
    return digest;
  }

  function addImage(repo: string, tag: string | undefined, image: { layers: Buffer[]; mediaType?: MediaTypeFlavour }): FakeImage {
    const types = MEDIA_TYPES[image.mediaType ?? 'oci'];
    const layerDigests = image.layers.map(addBlob);
    // `created` differs per call, so re-adding a tag always yields a new digest.
    const configBytes = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        created: new Date(Date.UTC(2024, 0, 1) + ++seq * 1000).toISOString(),
        config: {},
        rootfs: { type: 'layers', diff_ids: layerDigests },
      }),
    );
    const config = addBlob(configBytes);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: types.manifest,
        config: { mediaType: types.config, digest: config, size: configBytes.length },
        layers: image.layers.map((l, i) => ({ mediaType: types.layer, digest: layerDigests[i], size: l.length })),
      }),
    );
    const digest = addManifest(repo, manifest, types.manifest, tag);
    return { digest, manifest, mediaType: types.manifest, config, layers: layerDigests };
  }

  function addIndex(repo: string, tag: string | undefined, children: string[], flavour: MediaTypeFlavour = 'oci'): FakeIndex {
    const architectures = ['amd64', 'arm64', 'arm', 'ppc64le', 's390x', '386'];
    const entries = children.map((d, i) => {
      const m = manifests.get(d);
      if (!m || !repos.get(repo)?.manifests.has(d)) throw new Error(`fake upstream: ${d} is not a manifest of ${repo}`);
      return { mediaType: m.mediaType, digest: d, size: m.bytes.length, platform: { architecture: architectures[i % 6], os: 'linux' } };
    });
    const mediaType = MEDIA_TYPES[flavour].index;
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests: entries }));
    const digest = addManifest(repo, manifest, mediaType, tag);
    return { digest, manifest, mediaType };
  }

  return {
    url,
    cdnUrl,
    host: `127.0.0.1:${reg.port}`,
    service,
    requests,
    faults,
    count(filter = {}) {
      return requests.filter(
        (r) =>
          (filter.method === undefined || r.method === filter.method) &&
          (filter.kind === undefined || r.kind === filter.kind) &&
          (filter.repo === undefined || r.repo === filter.repo) &&
          (filter.status === undefined || r.status === filter.status) &&
          (filter.path === undefined ||
            (typeof filter.path === 'string' ? r.path === filter.path : filter.path.test(r.path))),
      ).length;
    },
    maxInFlight(kind) {
      return peaks.get(kind ?? 'all') ?? 0;
    },
    addBlob,
    addManifest,
    addImage,
    addIndex,
    setTag(repo, tag, digest) {
      if (!manifests.has(digest)) throw new Error(`fake upstream: unknown manifest ${digest}`);
      const r = repoOf(repo);
      r.manifests.add(digest);
      r.tags.set(tag, digest);
    },
    removeTag(repo, tag) {
      repos.get(repo)?.tags.delete(tag);
    },
    revokeTokens() {
      tokens.clear();
    },
    reset() {
      requests.length = 0;
      peaks.clear();
      manifestGets = 0;
      delete faults.down;
      delete faults.status;
      delete faults.rateLimit;
      delete faults.retryAfter;
      delete faults.rateLimitRemaining;
      delete faults.delayMs;
      delete faults.throttle;
      delete faults.blobLocation;
      delete faults.ignoreTagsN;
      faults.corrupt.clear();
      faults.cutAfter.clear();
      faults.stallAfter.clear();
      faults.blobsUnknownIn.clear();
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.all(
        [reg.server, cdnServer.server].map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              // Stalled and kept-alive connections would hold close() open forever.
              s.closeAllConnections();
            }),
        ),
      );
    },
  };
}
