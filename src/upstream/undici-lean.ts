import { createRequire } from 'node:module';
import type * as Undici from 'undici';

/**
 * The three parts of undici the upstream client uses (Agent, buildConnector, request),
 * loaded from their own modules instead of undici's index. The index also loads fetch,
 * WebSocket, EventSource, the cache and mock layers, which a mirror never uses: about
 * 8 MiB of RSS, idle or not, for nothing. The modules are the very files the index
 * loads, so an Agent made from `undici` (tests, a shared pool) is the same class.
 * undici has no "exports" map, so the deep paths resolve; the types are the index's.
 */
const load = createRequire(import.meta.url);

/** undici's Agent: one connection pool per origin. */
export const Agent = load('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;

/** undici's buildConnector: the dialer (TCP or TLS) an Agent connects with. */
export const buildConnector = load('undici/lib/core/connect.js') as typeof Undici.buildConnector;

const api = load('undici/lib/api/index.js') as { request: (this: Undici.Dispatcher, opts: object) => Promise<Undici.Dispatcher.ResponseData> };

/** The options the mirror passes to request(): always an explicit dispatcher. */
export interface RequestOptions {
  method: Undici.Dispatcher.HttpMethod;
  headers?: Record<string, string>;
  /** A small request body (the OAuth2 token form). */
  body?: string;
  dispatcher: Undici.Dispatcher;
}

/**
 * undici's `request(url, opts)` for an absolute URL and an explicit dispatcher: what the
 * index's wrapper does (origin and path from the URL) without the global dispatcher.
 */
export function request(url: string | URL, options: RequestOptions): Promise<Undici.Dispatcher.ResponseData> {
  const u = new URL(url);
  const { dispatcher, ...rest } = options;
  return api.request.call(dispatcher, {
    ...rest,
    origin: u.origin,
    path: u.search ? `${u.pathname}${u.search}` : u.pathname,
  });
}
