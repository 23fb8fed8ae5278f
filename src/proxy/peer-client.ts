import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { Agent, request } from 'undici';
import type { Logger } from '../log/logger.js';
import type { ByteRange } from '../storage/blob-store.js';
import { fillPath, signPeerRequest } from './cluster-auth.js';

/** Connections to one peer at most (each carries one client's stream of a fill). */
const PEER_CONNECTIONS = 64;
/** Peers are on the same network: one that does not answer this fast is treated as gone. */
const CONNECT_TIMEOUT_MS = 2000;
/**
 * From asking to the owner's answer, waiting for a free connection included (undici's
 * headersTimeout starts only on a socket): past it the peer counts as unavailable and the
 * caller looks again or fetches itself, so clients that read slowly and hold every
 * connection to a peer never make the next one wait without bound. The owner answers as
 * soon as its fill's upstream has (it may wait for an upstream slot first).
 */
const ANSWER_TIMEOUT_MS = 10_000;
/** The longest pause in a fill's bytes: the upstream's, plus the owner's verification and commit of the last byte. */
const BODY_TIMEOUT_MS = 60_000;

/** A peer's in-progress fill (or a range of it): its size when known, and its bytes. */
export interface PeerBody {
  /** The blob's size (of the whole blob, even for a range), when the owner knows it. */
  size: number | undefined;
  /** Errors (never ends) when the peer's stream is cut or shorter than announced. */
  body: Readable;
}

export interface PeerClient {
  /**
   * The fill of `digest` on `peer` (a configured peer URL, never a value read from the
   * database), or undefined when that peer has no such fill, refuses us, or cannot be reached.
   * `onComplete` runs once the whole body arrived, before the stream ends.
   */
  open(peer: string, digest: string, range?: ByteRange, onComplete?: () => Promise<void>): Promise<PeerBody | undefined>;
  close(): Promise<void>;
}

/**
 * Requests to the other replicas' internal endpoint (src/http/internal-routes.ts), signed
 * with cluster.secret, through one bounded Agent with short timeouts. Redirects are never
 * followed (an answer other than 200/206 is "no fill here"); the body is checked against
 * the announced length, so a cut peer surfaces as an error, never as a short complete body.
 */
export function createPeerClient(secret: string, log: Logger, limits: { connections?: number; answerTimeoutMs?: number } = {}): PeerClient {
  const answerTimeoutMs = limits.answerTimeoutMs ?? ANSWER_TIMEOUT_MS;
  const agent = new Agent({
    connections: limits.connections ?? PEER_CONNECTIONS, connect: { timeout: CONNECT_TIMEOUT_MS },
    headersTimeout: answerTimeoutMs, bodyTimeout: BODY_TIMEOUT_MS,
  });
  return {
    async open(peer, digest, range, onComplete) {
      const path = fillPath(digest);
      const headers: Record<string, string> = { authorization: signPeerRequest(secret, 'GET', path) };
      if (range) headers.range = `bytes=${range.start}-${range.end}`;
      let res: Awaited<ReturnType<typeof request>>;
      const abort = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      // Raced, not only aborted: undici applies an abort to a request still queued for a
      // connection only once it gets one. The abort then ends it at once.
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new Error(`no answer within ${answerTimeoutMs} ms`);
          abort.abort(err);
          reject(err);
        }, answerTimeoutMs);
      });
      const asked = request(`${peer}${path}`, { method: 'GET', headers, dispatcher: agent, signal: abort.signal });
      // An answer that comes just after the timeout is nobody's: its body is let go.
      asked.then((r) => { if (abort.signal.aborted) r.body.destroy(); }, () => {});
      try {
        res = await Promise.race([asked, late]);
      } catch (err) {
        log.warn('cannot reach the replica filling a blob', { peer, digest, error: (err as Error)?.message });
        return undefined;
      } finally {
        // Only the wait for the answer is bounded here: the body has bodyTimeout.
        clearTimeout(timer);
      }
      const expectStatus = range ? 206 : 200;
      if (res.statusCode !== expectStatus) {
        res.body.destroy();
        if (res.statusCode === 401) log.warn('a replica refused our signature: is cluster.secret the same on every replica?', { peer });
        else log.debug('no fill of this blob on that replica', { peer, digest, status: res.statusCode });
        return undefined;
      }
      const length = headerNumber(res.headers['content-length']);
      const size = range ? headerNumber(String(res.headers['content-range'] ?? '').split('/')[1]) : length;
      // pipeline: a cut peer destroys the checked stream (so the client's transfer is cut);
      // a client that leaves destroys the peer's body.
      const body = new LengthCheck(length, onComplete);
      pipeline(res.body, body, () => {});
      return { size, body };
    },
    close: () => agent.close(),
  };
}

function headerNumber(v: string | string[] | undefined): number | undefined {
  return typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : undefined;
}

/** Passes bytes through; at the end, fails unless exactly `expected` came (when known), then runs onComplete. */
class LengthCheck extends Transform {
  private seen = 0;

  constructor(private readonly expected: number | undefined, private readonly onComplete?: () => Promise<void>) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.expected !== undefined && this.seen !== this.expected) {
      cb(new Error(`peer stream ended after ${this.seen} of ${this.expected} bytes`));
      return;
    }
    if (!this.onComplete) return cb();
    this.onComplete().then(() => cb(), () => cb());
  }
}
