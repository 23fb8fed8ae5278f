import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The internal endpoint's signature (issue 13): `Authorization: Cluster <expiry-ms>.<hex>`
 * where <hex> is HMAC-SHA256(cluster.secret, "<METHOD>\n<path>\n<expiry-ms>"). It covers the
 * method and the exact path (so a signature for one digest is worth nothing for another)
 * and expires within SIGNATURE_TTL_MS; no state is kept, so a signature may be replayed for
 * the same blob until it expires — which only reads what the replay could have read.
 */
export const SIGNATURE_TTL_MS = 60_000;

/** The path of a blob's in-progress fill on its owner (outside /v2 and /ui). */
export const FILL_PATH_PREFIX = '/internal/v1/fills/';
export const fillPath = (digest: string) => `${FILL_PATH_PREFIX}${digest}`;

const mac = (secret: string, method: string, path: string, expiry: string) =>
  createHmac('sha256', secret).update(`${method}\n${path}\n${expiry}`).digest('hex');

/** The Authorization value for `method path`, valid until now + SIGNATURE_TTL_MS. */
export function signPeerRequest(secret: string, method: string, path: string, now: number = Date.now()): string {
  const expiry = String(now + SIGNATURE_TTL_MS);
  return `Cluster ${expiry}.${mac(secret, method, path, expiry)}`;
}

const HEADER_RE = /^Cluster (\d{1,15})\.([0-9a-f]{64})$/;

/**
 * True when `authorization` signs `method path` with `secret` and has not expired; an
 * expiry further ahead than one TTL (plus a little clock skew) is refused too, so a
 * signature cannot be made to last.
 */
export function verifyPeerRequest(secret: string, method: string, path: string, authorization: string | undefined, now: number = Date.now()): boolean {
  if (authorization === undefined || authorization.length > 120) return false;
  const m = HEADER_RE.exec(authorization);
  if (!m) return false;
  const expiry = Number(m[1]);
  if (!(expiry > now) || expiry > now + 2 * SIGNATURE_TTL_MS) return false;
  const expected = Buffer.from(mac(secret, method, path, m[1]!), 'hex');
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}
