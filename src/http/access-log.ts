import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../log/logger.js';
import type { AppEnv } from './app-env.js';

/**
 * The access-log line, one JSON object per request; the fast path and the middleware
 * both write it. No headers are logged, so neither Authorization nor cookies can leak.
 */
export function accessEntry(e: {
  method: string; path: string; status: number; started: number; cache?: string; error?: string; aborted?: boolean;
}): Record<string, unknown> {
  return {
    time: new Date().toISOString(),
    msg: 'request',
    method: e.method,
    path: e.path,
    status: e.status,
    ms: Math.round((performance.now() - e.started) * 10) / 10,
    cache: e.cache,
    ...(e.error ? { error: e.error } : {}),
    ...(e.aborted ? { aborted: true } : {}),
  };
}

/**
 * Writes the line when the response has finished (for a blob, when its last byte went
 * out or the connection was cut).
 */
export function accessLog(log: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const write = (aborted: boolean) => {
      const error = c.get('error') as { code?: string; message?: string } | undefined;
      log.line(accessEntry({
        method: c.req.method,
        path: c.req.path,
        status: c.env?.outgoing?.statusCode ?? c.res.status,
        started,
        cache: c.get('cache'),
        error: error ? error.code ?? error.message : undefined,
        aborted,
      }));
    };
    const outgoing = c.env?.outgoing;
    if (!outgoing) return write(false);
    outgoing.once('close', () => write(!outgoing.writableFinished));
  };
}
