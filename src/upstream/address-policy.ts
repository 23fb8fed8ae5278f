import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import type { buildConnector as BuildConnector } from 'undici';
import { buildConnector } from './undici-lean.js';

/**
 * Which hosts and addresses the mirror may dial on an upstream's behalf (DESIGN.md, trust
 * boundaries). An upstream names more than its own URL: token realms in its challenges
 * and redirect targets for blobs. A compromised or hostile upstream could name
 * `http://127.0.0.1:8080/admin` or `http://169.254.169.254/` and have the answer streamed
 * back to an anonymous client (SSRF). So:
 *
 * - the upstream's own host (from its configured URL) and the hosts the operator lists in
 *   `upstream.redirect_allow` may be any address — the operator put them there;
 * - any other host may only be a public address: never loopback, link-local, private,
 *   CGNAT, unspecified, multicast, documentation or otherwise special.
 *
 * Identity is by host name as written in the URL (lower-cased), so 127.0.0.2 is not
 * 127.0.0.1, and `localhost` is not `127.0.0.1`. The check runs on the address actually
 * dialled (the DNS answer, see guardedLookup), not only on the literal name.
 */
export interface AddressPolicy {
  /** True when `host` (a URL hostname, any case, IPv6 with or without brackets) may be dialled at any address. */
  isTrustedHost(host: string): boolean;
  /** True when dialling `address` (an IP) for `host` is allowed. */
  allows(host: string, address: string): boolean;
}

/** The code of the error raised when a dial is refused; errors.ts turns it into a generic reason. */
export const ADDRESS_REFUSED = 'ERR_UPSTREAM_ADDRESS_REFUSED';

/** An Error with `code` ADDRESS_REFUSED; its message is for the log only. */
export function addressRefused(host: string, address?: string): Error {
  const err = new Error(`refusing to dial ${host}${address && address !== host ? ` (${address})` : ''}: not a public address`);
  (err as NodeJS.ErrnoException).code = ADDRESS_REFUSED;
  return err;
}

/** Lower-cases a host name and strips IPv6 brackets, so both spellings compare equal. */
export function normaliseHost(host: string): string {
  const h = host.toLowerCase();
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

/** Builds the policy of one upstream from its URL and the operator's allow list. */
export function createAddressPolicy(upstreamUrl: string, allow: readonly string[] = []): AddressPolicy {
  const trusted = new Set([normaliseHost(new URL(upstreamUrl).hostname), ...allow.map(normaliseHost)]);
  const isTrustedHost = (host: string): boolean => trusted.has(normaliseHost(host));
  return {
    isTrustedHost,
    allows: (host, address) => isTrustedHost(host) || !isSpecialAddress(address),
  };
}

/**
 * A `lookup` for net/tls.connect (undici's connector passes it through) that resolves as
 * usual and then drops every address the policy refuses; with none left it fails with
 * ADDRESS_REFUSED. Checking here, on the resolved address, is what stops a DNS name that
 * points at 127.0.0.1 (or rebinds to it after a first check).
 */
export function guardedLookup(policy: AddressPolicy) {
  return (
    hostname: string,
    options: LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, options.all ? [] : '', 0);
      const ok = addresses.filter((a) => policy.allows(hostname, a.address));
      if (ok.length === 0) return callback(addressRefused(hostname, addresses[0]?.address), options.all ? [] : '', 0);
      if (options.all) return callback(null, ok);
      callback(null, ok[0]!.address, ok[0]!.family);
    });
  };
}

/**
 * True for every address that is not plainly public unicast: IPv4 0/8, 10/8, 100.64/10,
 * 127/8, 169.254/16, 172.16/12, 192.0.0/24, 192.0.2/24, 192.168/16, 198.18/15,
 * 198.51.100/24, 203.0.113/24, 224/4 and up; IPv6 ::, ::1, fe80::/10, fc00::/7, ff00::/8,
 * 2001:db8::/32, and IPv4-mapped/-compatible/NAT64/6to4 forms judged by their IPv4 part.
 * Anything that does not parse as an IP counts as special (fail closed).
 */
export function isSpecialAddress(address: string): boolean {
  const a = normaliseHost(address).replace(/%.*$/, ''); // drop an IPv6 zone id
  const kind = isIP(a);
  if (kind === 4) return isSpecialV4(parseV4(a));
  if (kind === 6) return isSpecialV6(parseV6(a));
  return true;
}

function parseV4(a: string): number {
  return a.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function inV4(ip: number, net: string, bits: number): boolean {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((ip & mask) >>> 0) === ((parseV4(net) & mask) >>> 0);
}

const SPECIAL_V4: ReadonlyArray<[string, number]> = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16],
  ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16],
  ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 3],
];

function isSpecialV4(ip: number): boolean {
  return SPECIAL_V4.some(([net, bits]) => inV4(ip, net, bits));
}

/** Eight 16-bit groups; accepts "::" compression and a trailing dotted quad. */
function parseV6(a: string): number[] {
  let text = a;
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const v4 = parseV4(quad[1]!);
    text = text.slice(0, quad.index) + `${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => parseInt(g, 16));
}

function isSpecialV6(g: number[]): boolean {
  const v4 = (hi: number, lo: number) => ((g[hi]! << 16) >>> 0) + g[lo]!;
  const zeroTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroTo(8)) return true; // ::
  if (zeroTo(7) && g[7] === 1) return true; // ::1
  if (zeroTo(5) && g[5] === 0xffff) return isSpecialV4(v4(6, 7)); // ::ffff:a.b.c.d (mapped)
  if (zeroTo(6)) return true; // ::a.b.c.d (deprecated compatible form)
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return isSpecialV4(v4(6, 7)); // NAT64
  if (g[0] === 0x2002) return isSpecialV4(v4(1, 2)); // 6to4
  const first = g[0]!;
  if ((first & 0xffc0) === 0xfe80) return true; // link-local fe80::/10
  if ((first & 0xffc0) === 0xfec0) return true; // site-local fec0::/10 (deprecated)
  if ((first & 0xfe00) === 0xfc00) return true; // unique local fc00::/7
  if ((first & 0xff00) === 0xff00) return true; // multicast
  if (first === 0x2001 && g[1] === 0x0db8) return true; // documentation
  if (first === 0x0100 && g.slice(1, 4).every((x) => x === 0)) return true; // discard-only 100::/64
  return false;
}

/** TLS options of an upstream's connections (issue 10): extra CAs, or no verification (labs). */
export interface GuardedTlsOptions {
  ca?: string[];
  rejectUnauthorized?: boolean;
}

/**
 * An undici connector that dials only what the policy allows: literal IP hosts are checked
 * before dialling (net.connect does not look them up), names through guardedLookup.
 */
export function createGuardedConnector(policy: AddressPolicy, timeoutMs: number, tls: GuardedTlsOptions = {}): BuildConnector.connector {
  const connect = buildConnector({ timeout: timeoutMs, lookup: guardedLookup(policy), ...tls } as BuildConnector.BuildOptions);
  return (opts, callback) => {
    if (isIP(normaliseHost(opts.hostname)) !== 0 && !policy.allows(opts.hostname, opts.hostname)) {
      callback(addressRefused(opts.hostname), null);
      return;
    }
    connect(opts, callback);
  };
}
