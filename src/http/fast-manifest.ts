import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventBus } from '../events/event-bus.js';
import { emitManifestPull } from '../events/pull-events.js';
import type { Logger } from '../log/logger.js';
import type { ManifestProxy, ManifestResult } from '../proxy/manifests.js';
import type { RepositoryResolver } from '../routing/resolve-repository.js';
import { accessEntry } from './access-log.js';
import { API_VERSION, safeMediaType } from './respond.js';

const PATH_RE = /^\/v2\/(.+)\/manifests\/([a-zA-Z0-9_][a-zA-Z0-9._-]{0,127})$/;

/**
 * The hot path of a mirror: a cached manifest GET/HEAD by tag, still within its TTL,
 * answered straight from Node's request listener (no router, no Request/Response
 * objects), with headers prepared once per manifest. Anything else — a digest, a stale
 * or unknown tag, a local namespace, credentials that matter, an odd query — returns
 * false and takes the full path, which gives the same answer.
 *
 * It never throws: anything that goes wrong before the response head is written (a bad
 * percent-escape in `?ns=`, a header value Node refuses) also returns false, so the full
 * path answers with the right OCI error; after the head, the connection is cut.
 */
export function createFastManifestPath(deps: {
  resolver: RepositoryResolver;
  manifests: ManifestProxy;
  events: EventBus;
  log: Logger;
  /** Mirrored pulls need no credentials (auth.mirror_pull: anonymous). */
  anonymousPull: boolean;
  accessLog: boolean;
}) {
  const { resolver, manifests, events, log } = deps;
  /** Prepared headers by manifest bytes (the memory cache hands out the same Buffer). */
  const prepared = new WeakMap<Buffer, Record<string, string>>();

  const headersFor = (m: ManifestResult): Record<string, string> => {
    let h = prepared.get(m.bytes);
    if (!h) {
      h = {
        ...API_VERSION,
        'Content-Type': safeMediaType(m.mediaType),
        'X-Content-Type-Options': 'nosniff',
        'Content-Length': String(m.bytes.length),
        'Docker-Content-Digest': m.digest,
        ETag: `"${m.digest}"`,
        'X-Cache': 'HIT',
      };
      prepared.set(m.bytes, h);
    }
    return h;
  };

  const answer = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    let ns: string | undefined;
    if (q !== -1) {
      const query = url.slice(q + 1);
      if (!query.startsWith('ns=') || query.includes('&')) return false;
      ns = decodeURIComponent(query.slice(3));
    }
    const m = PATH_RE.exec(path);
    if (!m) return false;
    const target = resolver.resolve(m[1]!, ns);
    if (target.kind !== 'mirror') return false;
    const hit = manifests.peekFresh(target, m[2]!);
    if (!hit) return false;
    const headers = headersFor(hit);
    const started = deps.accessLog ? performance.now() : 0;
    res.writeHead(200, headers);
    emitManifestPull(events, target, m[2], hit, undefined);
    res.end(req.method === 'HEAD' ? undefined : hit.bytes);
    if (deps.accessLog) {
      log.line(accessEntry({ method: req.method!, target: url, status: 200, started, cache: 'HIT' }));
    }
    return true;
  };

  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if (!deps.anonymousPull || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    try {
      return answer(req, res);
    } catch (err) {
      if (!res.headersSent) return false; // the full path turns it into the right OCI error
      log.error('cached manifest response failed', { error: err });
      res.destroy();
      return true;
    }
  };
}
