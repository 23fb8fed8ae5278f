import type { DurationSeries, DurationSet } from '../admin/durations.js';
import type { Logger } from '../log/logger.js';
import { accessEntry } from './access-log.js';
import { parseV2Path } from './v2-path.js';

/**
 * "A request finished", in one place for every writer of a response: the memo step
 * (v2-entry.ts), the Hono middleware (access-log.ts), the listener's last resort and
 * Node's clientError (errors.ts). It writes the access-log line when access logs are on,
 * and always observes mirror_http_request_duration_seconds.
 */

/**
 * The route label: a fixed template, never a repository name, tag or digest (a label per
 * name would grow without bound and show one namespace's names to whoever reads metrics).
 */
export const ROUTES = [
  '/v2/', 'manifests', 'blobs', 'uploads', 'tags', 'referrers', 'catalog',
  'token', 'healthz', 'readyz', 'metrics', 'admin', 'console', 'other',
  // Issue 13: the cluster's internal endpoint (/internal/v1/fills/<digest>).
  'internal',
] as const;
export type RouteLabel = (typeof ROUTES)[number];

/** The method label: the registry's methods, anything else (PROPFIND, a typo) is `other`. */
export const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'other'] as const;

const V2_KIND_ROUTE: Record<ReturnType<typeof parseV2Path>['kind'], RouteLabel> = {
  ping: '/v2/', catalog: 'catalog', manifest: 'manifests', blob: 'blobs', 'upload-start': 'uploads',
  upload: 'uploads', tags: 'tags', referrers: 'referrers', unknown: 'other',
};

/** The route label of a request target (path and query, as Node's req.url has it). */
export function routeOf(target: string): RouteLabel {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  if (path.startsWith('/v2/') || path === '/v2') return V2_KIND_ROUTE[parseV2Path(path).kind];
  switch (path) {
    case '/auth/token': return 'token';
    case '/healthz': return 'healthz';
    case '/readyz': return 'readyz';
    case '/metrics': return 'metrics';
    case '/':
    case '/ui': return 'console';
    default:
      if (path.startsWith('/ui/')) return 'console';
      if (path.startsWith('/internal/')) return 'internal';
      return path === '/admin' || path.startsWith('/admin/') ? 'admin' : 'other';
  }
}

function methodIndex(method: string): number {
  switch (method) {
    case 'GET': return 0;
    case 'HEAD': return 1;
    case 'PUT': return 2;
    case 'POST': return 3;
    case 'PATCH': return 4;
    case 'DELETE': return 5;
    default: return 6;
  }
}

const ROUTE_INDEX = Object.fromEntries(ROUTES.map((r, i) => [r, i])) as Record<RouteLabel, number>;

/**
 * Records one finished request. Positional, so the memo path allocates nothing for it
 * when access logs are off. `started` is performance.now() when the request arrived;
 * `route` is derived from `target` when not given; `status` is the status as sent (a
 * response the client cut short counts with it, `aborted` says so in the log).
 */
export type RequestDone = (
  method: string, target: string, status: number, started: number, route?: RouteLabel,
  cache?: string, error?: string, aborted?: boolean,
) => void;

/** A response with status ≥ 500 or 429, by labels (the console's recent errors, issue 12). */
export type OnRequestError = (method: (typeof METHODS)[number], route: RouteLabel, status: number, error: string | undefined) => void;

export function createRequestDone(deps: { log: Logger; accessLog: boolean; durations: DurationSet; onError?: OnRequestError }): RequestDone {
  const { log, accessLog, durations, onError } = deps;
  // One series per (route, method, status): the first request of each creates it, the
  // rest find it by two array indexes and a Map lookup on the status number.
  const cells: Array<Map<number, DurationSeries> | undefined> = new Array(ROUTES.length * METHODS.length);
  const seriesOf = (route: RouteLabel, method: string, status: number): DurationSeries => {
    const m = methodIndex(method);
    const cell = ROUTE_INDEX[route] * METHODS.length + m;
    let byStatus = cells[cell];
    if (byStatus === undefined) cells[cell] = byStatus = new Map();
    let series = byStatus.get(status);
    if (series === undefined) {
      series = durations.add({ route, method: METHODS[m]!, status: String(status) });
      byStatus.set(status, series);
    }
    return series;
  };
  return (method, target, status, started, route, cache, error, aborted) => {
    const r = route ?? routeOf(target);
    seriesOf(r, method, status).observe((performance.now() - started) / 1000);
    // One comparison for every other response: the hot paths pay nothing more.
    if ((status >= 500 || status === 429) && onError !== undefined) onError(METHODS[methodIndex(method)]!, r, status, error);
    if (accessLog) log.line(accessEntry({ method, target, status, started, cache, error, aborted }));
  };
}
