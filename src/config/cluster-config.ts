import type { Config } from './schema.js';

/** The shortest cluster.secret accepted: an HMAC key a person cannot guess (32 characters). */
export const MIN_CLUSTER_SECRET = 32;

/**
 * A replica's base URL as the others dial it: http(s)://host[:port], nothing else. No
 * path (the internal endpoint's path is fixed and signed as the server sees it), no
 * credentials, query or fragment; normalised (lower-case host, no trailing slash) so that
 * self_url and the peers compare as strings.
 */
export function parsePeerUrl(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw new Error('expected an http(s) URL such as http://10.0.0.1:5000');
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new Error(`"${value}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`"${value}" is not an http(s) URL`);
  if (url.username || url.password) throw new Error('must not carry credentials');
  if (url.search || url.hash || value.includes('?') || value.includes('#')) throw new Error('must not carry a query or fragment');
  if (url.pathname !== '/') throw new Error(`"${value}" must have no path (scheme://host:port)`);
  return url.origin;
}

/** A list of peer URLs: a YAML list or a comma-separated string (MIRROR_CLUSTER_PEERS); empty: off. */
export function parsePeerList(value: unknown): string[] {
  const items = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s !== '') : value;
  if (!Array.isArray(items)) throw new Error('expected a list of URLs (or comma-separated)');
  const out = items.map((v) => parsePeerUrl(v));
  const dup = out.find((u, i) => out.indexOf(u) !== i);
  if (dup) throw new Error(`"${dup}" is listed twice`);
  return out;
}

/**
 * cluster.* (issue 13): several replicas on one bucket and one database. Off (undefined)
 * unless peers lists the replicas; then it needs the shared engines (index.driver postgres,
 * storage.driver s3), this replica's own URL among the peers, and a secret of at least
 * MIN_CLUSTER_SECRET characters (never echoed in an error).
 */
export function clusterConfig(
  get: <T>(key: string) => T, fail: (key: string, reason: string) => Error,
): Config['cluster'] {
  const peers = get<string[]>('cluster.peers');
  const selfUrl = get<string>('cluster.self_url');
  if (peers.length === 0) {
    if (selfUrl) throw fail('cluster.peers', 'must list every replica (self_url included) when cluster.self_url is set');
    return undefined;
  }
  if (get<string>('index.driver') !== 'postgres') throw fail('cluster.peers', 'a cluster needs index.driver: postgres (one shared index)');
  if (get<string>('storage.driver') !== 's3') throw fail('cluster.peers', 'a cluster needs storage.driver: s3 (one shared bucket)');
  if (!selfUrl) throw fail('cluster.self_url', 'must be set when cluster.peers is (how the other replicas reach this one)');
  if (!peers.includes(selfUrl)) throw fail('cluster.self_url', `must be one of cluster.peers (${peers.join(', ')})`);
  const secret = get<string>('cluster.secret');
  if (secret.length < MIN_CLUSTER_SECRET) {
    throw fail('cluster.secret', `must be at least ${MIN_CLUSTER_SECRET} characters, the same on every replica (MIRROR_CLUSTER_SECRET)`);
  }
  return { selfUrl, peers, secret };
}
