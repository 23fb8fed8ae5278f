import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TrustedProxies } from '../auth/forwarded.js';
import { announceManifestPull } from '../events/repository-events.js';
import type { Logger } from '../log/logger.js';
import { isValidTag, type Reference } from '../oci/names.js';
import type { ManifestResult } from '../repository/repository.js';
import { funnelError, writeOciError } from './errors.js';
import type { RequestDone } from './request-done.js';
import { manifestHeaders } from './respond.js';
import { authRequestOf, type Located, type V2Gate } from './v2-routes.js';
import { parseV2Path } from './v2-path.js';

/** A manifest GET/HEAD the memo can answer, located (repository and actions known). */
interface MemoHit {
  located: Located;
  manifest: ManifestResult;
  target: string;
  ref: Reference;
}

/**
 * The first step of the one /v2/ pipeline, in Node's request listener: a manifest GET/HEAD
 * by tag that the repository's memo answers from memory (Repository.cachedManifest: a
 * fresh cached tag of a mirrored repository) skips the router, nothing else. It takes the
 * same path as the router (parseV2Path, the gate's locate and admit, i.e. the same
 * authorization), and answers with the same header writer (manifestHeaders) and error
 * funnel (funnelError). `peek` returns undefined for anything else — another endpoint, a
 * digest, an odd query, a memo miss, a name the gate refuses — and the router answers it,
 * from the start: peek has no side effects.
 */
export function createV2Entry(deps: {
  gate: V2Gate;
  log: Logger;
  /** The access-log line and the latency histogram of each answer (request-done.ts). */
  done: RequestDone;
  tls: boolean;
  proxies?: TrustedProxies;
}) {
  const { gate, log, done } = deps;

  const peek = (req: IncomingMessage): MemoHit | undefined => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return undefined;
    const target = req.url ?? '';
    const q = target.indexOf('?');
    const path = q === -1 ? target : target.slice(0, q);
    let ns: string | undefined;
    if (q !== -1) {
      // Only `?ns=<registry>` (containerd, dockerd): any other query is the router's.
      const query = target.slice(q + 1);
      if (!query.startsWith('ns=') || query.includes('&') || query.includes('+')) return undefined;
      ns = decodeURIComponent(query.slice(3));
    }
    const route = parseV2Path(path);
    if (route.kind !== 'manifest' || !isValidTag(route.reference)) return undefined;
    const located = gate.locate(route, req.method, ns, path);
    const ref: Reference = { kind: 'tag', tag: route.reference };
    const manifest = located.resolved.repository.cachedManifest?.(ref);
    return manifest && { located, manifest, target, ref };
  };

  /**
   * A header as the router reads it (repeated ones joined, as web Headers do), straight
   * from rawHeaders: Node's req.headers would be built for it (a cost on the hot path)
   * and keeps only the first of a repeated Authorization or Host.
   */
  const header = (req: IncomingMessage) => (name: string): string | undefined => {
    const raw = req.rawHeaders;
    let value: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const key = raw[i]!;
      if (key.length === name.length && key.toLowerCase() === name) value = value === undefined ? raw[i + 1]! : `${value}, ${raw[i + 1]!}`;
    }
    return value;
  };

  /** manifestHeaders plus nosniff (the router's answers get it from the listener), once per prepared object. */
  const withNosniff = new WeakMap<Record<string, string>, Record<string, string>>();
  const headersFor = (m: ManifestResult): Record<string, string> => {
    const base = manifestHeaders(m);
    let h = withNosniff.get(base);
    if (!h) {
      h = { ...base, 'X-Content-Type-Options': 'nosniff' };
      withNosniff.set(base, h);
    }
    return h;
  };

  async function answer(req: IncomingMessage, res: ServerResponse, hit: MemoHit, started: number): Promise<void> {
    let user: string | undefined;
    try {
      user = await gate.admit(hit.located, authRequestOf(req.socket.remoteAddress, header(req), deps.tls, deps.proxies));
    } catch (err) {
      fail(req, res, hit, started, err);
      return;
    }
    send(req, res, hit, started, user);
  }

  /** The gate refused: the router's error funnel and writer, and its access-log line. */
  function fail(req: IncomingMessage, res: ServerResponse, hit: MemoHit, started: number, err: unknown): void {
    const method = req.method!;
    const { oci, error } = funnelError(err, log, method, hit.target);
    writeOciError(res, method, oci);
    const code = (error as { code?: string; message?: string } | undefined);
    done(method, hit.target, oci.status, started, 'manifests', undefined, code?.code ?? code?.message);
  }

  function send(req: IncomingMessage, res: ServerResponse, hit: MemoHit, started: number, user: string | undefined): void {
    const method = req.method!;
    const m = hit.manifest;
    res.writeHead(200, headersFor(m));
    announceManifestPull(hit.located.resolved.repository, hit.ref, m, user);
    res.end(method === 'HEAD' ? undefined : m.bytes);
    done(method, hit.target, 200, started, 'manifests', m.cache);
  }

  /**
   * Answers the request when the memo can (true; the answer may still be on its way), or
   * returns false for the router. Never throws before deciding.
   */
  return (req: IncomingMessage, res: ServerResponse, onError: (err: unknown) => void): boolean => {
    let hit: MemoHit | undefined;
    try {
      hit = peek(req);
    } catch {
      return false; // the router gives this request its OCI error
    }
    if (!hit) return false;
    const started = performance.now();
    // The common case — no credentials, and the rules let anyone pull — is decided as
    // admit() would decide it, without a turn of the event loop.
    if (header(req)('authorization') === undefined && gate.admitsAnonymous(hit.located)) {
      try {
        send(req, res, hit, started, undefined);
      } catch (err) {
        onError(err);
      }
      return true;
    }
    answer(req, res, hit, started).catch(onError);
    return true;
  };
}
