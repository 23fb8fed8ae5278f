import { BlockList, isIP } from 'node:net';

/**
 * Who is calling and how it reached us, trusting `X-Forwarded-*` headers only from the
 * reverse proxies the operator lists (`http.trusted_proxies`). Any client can send those
 * headers; from an untrusted peer they would let it choose the token realm announced in
 * our challenges, or hide behind a fake address from the password-failure limiter.
 */
export interface TrustedProxies {
  /** Is this peer address (as the socket reports it) a configured proxy? */
  trusts(address: string): boolean;
}

/** A request header by lower-case name; read only when needed (most requests need Host alone). */
export type HeaderReader = (name: 'host' | 'x-forwarded-host' | 'x-forwarded-proto' | 'x-forwarded-for') => string | undefined;

export interface CallerOrigin {
  /** Scheme, host and port the client used, e.g. https://mirror.internal. */
  origin: string;
  /** The client's address: the socket peer, or from X-Forwarded-For via trusted proxies. */
  client: string;
  /**
   * The client is this machine: a loopback peer that was not forwarding for someone else
   * (an untrusted loopback peer sending X-Forwarded-For is a proxy, and its callers are
   * not local).
   */
  loopback: boolean;
}

/** `::ffff:10.0.0.1` → `10.0.0.1`, so that IPv4 rules match dual-stack sockets. */
export function normalizeAddress(address: string): string {
  const a = address.trim();
  if (a.charCodeAt(0) !== 58 /* ':' */) return a; // the common case: plain IPv4 or a name
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(a) ? a.slice(7) : a;
}

/**
 * Parses a list of IPs and CIDRs (`10.0.0.0/8`, `::1`, `fd00::/8`). Throws an Error naming
 * the bad entry (the config loader turns it into a ConfigError for the key).
 */
export function createTrustedProxies(entries: readonly string[]): TrustedProxies {
  // Nobody is trusted by default: answer without a BlockList lookup on every request.
  if (entries.length === 0) return { trusts: () => false };
  const list = new BlockList();
  for (const entry of entries) {
    const [addr = '', bits, extra] = entry.trim().split('/');
    const ip = normalizeAddress(addr);
    const family = isIP(ip);
    if (family === 0 || extra !== undefined) throw new Error(`"${entry}" is not an IP address or CIDR`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) {
      list.addAddress(ip, type);
      continue;
    }
    const prefix = Number(bits);
    if (!/^\d+$/.test(bits) || prefix > (family === 4 ? 32 : 128)) throw new Error(`"${entry}" has an invalid prefix length`);
    list.addSubnet(ip, prefix, type);
  }
  return {
    trusts(address) {
      const ip = normalizeAddress(address);
      const family = isIP(ip);
      return family !== 0 && list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

/** 127.0.0.0/8 and ::1 (already normalized: no IPv4-mapped form). */
const isLoopback = (ip: string) => ip === '::1' || (ip.startsWith('127.') && isIP(ip) === 4);
const HOST_RE = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/** The last of a comma-separated header's values: the one our nearest (trusted) proxy set. */
function lastValue(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const v = header.split(',').pop()!.trim();
  return v === '' ? undefined : v;
}

/**
 * The caller's origin and address. From a trusted proxy: X-Forwarded-Proto/-Host (last
 * value, when well-formed) and the rightmost X-Forwarded-For address that is not itself a
 * trusted proxy. From anyone else: the socket's peer, the Host header and the scheme we
 * serve. `tls`: the mirror serves HTTPS itself, so the scheme is https whatever is said.
 */
export function callerOrigin(peer: string | undefined, header: HeaderReader, proxies: TrustedProxies, tls: boolean): CallerOrigin {
  const remote = normalizeAddress(peer ?? '');
  const trusted = remote !== '' && proxies.trusts(remote);
  let proto = tls ? 'https' : 'http';
  let host = header('host') ?? 'localhost';
  let client = remote === '' ? 'unknown' : remote;
  if (trusted) {
    const fproto = lastValue(header('x-forwarded-proto'))?.toLowerCase();
    if (!tls && (fproto === 'http' || fproto === 'https')) proto = fproto;
    const fhost = lastValue(header('x-forwarded-host'));
    if (fhost !== undefined && HOST_RE.test(fhost)) host = fhost;
    const chain = (header('x-forwarded-for') ?? '').split(',').map((s) => normalizeAddress(s)).filter((s) => isIP(s) !== 0);
    // Rightmost address no trusted proxy added: everything left of it the client could forge.
    let i = chain.length - 1;
    while (i > 0 && proxies.trusts(chain[i]!)) i--;
    if (i >= 0) client = chain[i]!;
  }
  const loopback = isLoopback(client) && (trusted || header('x-forwarded-for') === undefined);
  return { origin: `${proto}://${host}`, client, loopback };
}
