import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../log/logger.js';
import type { AppEnv } from './app-env.js';

/**
 * One JSON line per request, written when the response has finished (for a blob, when
 * its last byte went out or the connection was cut). No headers are logged, so neither
 * Authorization nor cookies can leak.
 */
export function accessLog(log: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const write = (aborted: boolean) => {
      const error = c.get('error') as { code?: string; message?: string } | undefined;
      log.line({
        time: new Date().toISOString(),
        msg: 'request',
        method: c.req.method,
        path: c.req.path,
        status: c.env?.outgoing?.statusCode ?? c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        cache: c.get('cache'),
        ...(error ? { error: error.code ?? error.message } : {}),
        ...(aborted ? { aborted: true } : {}),
      });
    };
    const outgoing = c.env?.outgoing;
    if (!outgoing) return write(false);
    outgoing.once('close', () => write(!outgoing.writableFinished));
  };
}
