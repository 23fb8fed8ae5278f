import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Context } from 'hono';
import { OciError, isOciError } from '../oci/errors.js';
import type { Logger } from '../log/logger.js';
import { storageError } from '../storage/storage-errors.js';
import type { AppEnv } from './app-env.js';
import type { RequestDone } from './request-done.js';
import { API_VERSION } from './respond.js';

/** Every error body is JSON; `nosniff` keeps a browser from reading it as anything else. */
const ERROR_HEADERS = {
  ...API_VERSION,
  'Content-Type': 'application/json; charset=utf-8',
  'X-Content-Type-Options': 'nosniff',
} as const;

/**
 * The one place where thrown errors become responses: an OciError becomes its OCI JSON
 * body and status; anything else is logged with its stack and answered as a bare 500
 * UNKNOWN, never with the stack.
 */
export function createErrorHandler(log: Logger) {
  return (err: Error, c: Context<AppEnv>): Response => {
    const funnelled = funnelError(err, log, c.req.method, c.req.path);
    c.set('error', funnelled.error);
    return errorResponse(c, funnelled.oci);
  };
}

/**
 * The error funnel, shared by the router's error handler and the Node entry's memo step:
 * what a thrown error means to the client (`oci`), and the error to record (`error`, a
 * storage failure translated); server-side failures are logged here.
 */
export function funnelError(err: unknown, log: Logger, method: string, path: string): { oci: OciError; error: unknown } {
  // A storage failure that reached here untranslated (SQLITE_FULL from an index write).
  const error = storageError(err) ?? err;
  if (isOciError(error)) {
    if (error.status >= 500) log.warn('request failed', { method, path, error });
    return { oci: error, error };
  }
  log.error('unexpected error', { method, path, error, stack: (error as Error | undefined)?.stack });
  return { oci: new OciError('UNKNOWN'), error };
}

/** ociErrorResponse, written to a Node response (the Node entry's answers). */
export function writeOciError(res: ServerResponse, method: string, err: OciError): void {
  if (method === 'HEAD') {
    res.writeHead(err.status, { ...ERROR_HEADERS, ...err.headers });
    res.end();
    return;
  }
  const body = Buffer.from(errorBody(err));
  res.writeHead(err.status, { ...ERROR_HEADERS, ...err.headers, 'Content-Length': String(body.length) });
  res.end(body);
}

export function errorResponse(c: Context<AppEnv>, err: OciError): Response {
  return ociErrorResponse(c.req.method, err);
}

/** The OCI error response for a request of `method` (no body for HEAD). */
export function ociErrorResponse(method: string, err: OciError): Response {
  const body = method === 'HEAD' ? null : errorBody(err);
  return new Response(body, { status: err.status, headers: { ...ERROR_HEADERS, ...err.headers } });
}

/**
 * The OCI JSON body a client sees. A server-side failure (5xx) is the mirror's or an
 * upstream's business: its message and detail are scrubbed of anything that names the
 * inside of the network or the machine (IP addresses, host:port, URLs, file paths), as
 * a last line of defence behind the sources that should not put them there.
 */
export function errorBody(err: OciError): string {
  const json = err.toJSON();
  if (err.status < 500) return JSON.stringify(json);
  const entry = json.errors[0]!;
  entry.message = scrubInternal(entry.message) as string;
  if (entry.detail !== undefined) entry.detail = scrubInternal(entry.detail);
  return JSON.stringify(json);
}

const URL_RE = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;
const IPV6_RE = /\[[0-9a-f:.%]+\](?::\d+)?|\b(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{0,4}(?:%\w+)?\b|::(?:[0-9a-f]{1,4}:?){1,7}|::1\b/gi;
const IPV4_RE = /\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b/g;
const HOST_PORT_RE = /\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*:\d{1,5}\b/gi;
const PATH_RE = /(?:\b[a-z]:)?(?:[\\/][\w.@+~-]+){2,}[\\/]?/gi;

function scrubString(s: string): string {
  return s
    .replace(URL_RE, '[url]')
    .replace(IPV4_RE, '[address]')
    .replace(IPV6_RE, '[address]')
    .replace(HOST_PORT_RE, '[address]')
    .replace(PATH_RE, '[path]');
}

/** Strings anywhere in a JSON-like value, scrubbed; depth-bounded, so no input can recurse us to death. */
export function scrubInternal(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 8) return undefined;
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => scrubInternal(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value).slice(0, 100)) out[k] = scrubInternal(v, depth + 1);
  return out;
}

/**
 * The Node listener's last resort, for a throw that got past both the memo step and the
 * Hono app (a bug, or a header value Node refuses): logged, and answered with a 500 OCI
 * error when nothing was sent yet; otherwise the connection is cut so the client sees a
 * broken transfer rather than a wrong one. Never throws: the process must stay up.
 */
export function createLastResort(log: Logger, done: RequestDone) {
  return (req: IncomingMessage, res: ServerResponse, err: unknown, started: number): void => {
    try {
      log.error('request failed outside the handlers', { method: req.method, error: err, stack: (err as Error)?.stack });
      if (res.headersSent || res.writableEnded) {
        res.destroy();
        return;
      }
      const body = Buffer.from(errorBody(new OciError('UNKNOWN')));
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      res.writeHead(500, { ...ERROR_HEADERS, 'Content-Length': String(body.length) });
      res.end(req.method === 'HEAD' ? undefined : body);
      done(String(req.method), req.url ?? '', 500, started, undefined, undefined, 'UNKNOWN');
    } catch {
      res.destroy();
    }
  };
}

/**
 * Node's `clientError`: a request its parser refused (a method it does not know, a
 * malformed target or header, headers beyond the size limit). Node's default answer is a
 * bare 400 with no body; ours is the same OCI JSON error as everything else.
 */
export function createClientErrorHandler(log: Logger, done: RequestDone) {
  return (err: Error & { code?: string }, socket: Duplex): void => {
    const started = performance.now();
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    log.debug('malformed request refused', { code: err.code, status });
    const message = status === 431 ? 'request header fields too large' : status === 408 ? 'request timeout' : 'malformed HTTP request';
    const body = errorBody(new OciError('UNSUPPORTED', { status, message }));
    const head = [
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
      ...Object.entries(ERROR_HEADERS).map(([k, v]) => `${k}: ${v}`),
      `Content-Length: ${Buffer.byteLength(body)}`,
      'Connection: close',
    ];
    socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
    // Not parsed, so neither method nor target is known: the line says what Node refused.
    done('-', '-', status, started, 'other', undefined, err.code ?? 'malformed');
  };
}
