import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './app-env.js';
import type { RequestDone } from './request-done.js';

/**
 * Query parameters whose values are secrets (OAuth-style token requests, signed URLs).
 * `?ns=`, `n`, `last`, `digest`, `mount`, `from`, `scope` stay visible: they are what an
 * operator needs to read a log.
 */
const SECRET_PARAM_RE =
  /([?&](?:password|passwd|pass|secret|client_secret|token|access_token|refresh_token|id_token|api_key|apikey|key|sig|signature|x-amz-signature|x-amz-credential|code|auth|authorization)=)[^&#]*/gi;
/** userinfo in an absolute-form request target (`GET http://user:pass@host/...`). */
const USERINFO_RE = /^([a-z][a-z0-9+.-]*:\/\/)[^/@?#]*@/i;

/**
 * The request target as it may be logged: the raw path and query (so `?ns=` is visible),
 * with secret parameter values and userinfo replaced. A target without a query or `@`
 * (every cached-manifest GET from dockerd) is returned as is, without allocating.
 */
export function logTarget(url: string): string {
  let out = url;
  if (out.indexOf('@') !== -1) out = out.replace(USERINFO_RE, '$1REDACTED@');
  if (out.indexOf('?') !== -1) out = out.replace(SECRET_PARAM_RE, '$1REDACTED');
  // Keep one log line one line, whatever the client sent.
  return out.length > 2048 ? `${out.slice(0, 2048)}...` : out;
}

/**
 * The access-log line, one JSON object per request, written by request-done.ts for every
 * writer of a response. No headers are logged, so neither
 * Authorization nor cookies can leak; the target goes through logTarget.
 */
export function accessEntry(e: {
  method: string; target: string; status: number; started: number; cache?: string; error?: string; aborted?: boolean;
}): Record<string, unknown> {
  return {
    time: new Date().toISOString(),
    msg: 'request',
    method: e.method,
    target: logTarget(e.target),
    status: e.status,
    ms: Math.round((performance.now() - e.started) * 10) / 10,
    cache: e.cache,
    ...(e.error ? { error: e.error } : {}),
    ...(e.aborted ? { aborted: true } : {}),
  };
}

/** The raw request target of a Hono request: Node's `req.url`, or path + query of the URL. */
function rawTarget(c: Parameters<MiddlewareHandler<AppEnv>>[0]): string {
  const url = c.env?.incoming?.url;
  if (url !== undefined) return url;
  const u = new URL(c.req.url);
  return u.pathname + u.search;
}

/**
 * Reports every request the app answers (the /v2/ API, /auth/token, /healthz, /metrics,
 * /admin/*, 404s) to `done` (request-done.ts: the access-log line and the latency
 * histogram) when the response has finished — for a blob, when its last byte went out
 * or the connection was cut.
 */
export function requestFinished(done: RequestDone): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const report = (aborted: boolean) => {
      const error = c.get('error') as { code?: string; message?: string } | undefined;
      done(
        c.req.method, rawTarget(c), c.env?.outgoing?.statusCode ?? c.res.status, started, undefined,
        c.get('cache'), error ? error.code ?? error.message : undefined, aborted,
      );
    };
    const outgoing = c.env?.outgoing;
    if (!outgoing) return report(false);
    outgoing.once('close', () => report(!outgoing.writableFinished));
  };
}
