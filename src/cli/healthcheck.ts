import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Config } from '../config/schema.js';

/**
 * The address a local client reaches the configured listener on: a wildcard listen
 * address (0.0.0.0, ::, empty) is reached over loopback.
 */
export function localUrl(config: Pick<Config, 'http'>, path = ''): string {
  const { host, port, tls } = config.http;
  const local = host === '' || host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `${tls ? 'https' : 'http'}://${local.includes(':') ? `[${local}]` : local}:${port}${path}`;
}

/**
 * `registry-mirror healthcheck` (the container's HEALTHCHECK): GET /healthz on the
 * address and scheme the config gives the server, so a mounted config with another port or
 * TLS is followed. The certificate is not verified: this checks that our own process on this
 * host answers, and a wildcard listener is reached at 127.0.0.1, a name no certificate holds.
 * Resolves to the exit code (0: 200, 1: anything else) and a line saying why.
 */
export function healthcheck(config: Pick<Config, 'http'>, timeoutMs = 4000): Promise<{ code: 0 | 1; message: string }> {
  const url = localUrl(config, '/healthz');
  const request = config.http.tls ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200
        ? { code: 0, message: `${url}: ok` }
        : { code: 1, message: `${url}: status ${res.statusCode}` }));
      res.on('error', (err) => resolve({ code: 1, message: `${url}: ${err.message}` }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ code: 1, message: `${url}: ${(err as NodeJS.ErrnoException).code ?? err.message}` }));
    req.end();
  });
}
