/**
 * Reading the Authorization header (Basic, RFC 7617; Bearer, RFC 6750) and writing
 * quoted-string parameters of WWW-Authenticate challenges.
 */

/** The scheme (lower case) and the rest of an Authorization header. */
export function splitAuthorization(header: string | undefined): { scheme: string; credentials: string } {
  const m = /^\s*([A-Za-z]+)\s+(.*?)\s*$/.exec(header ?? '');
  return m ? { scheme: m[1]!.toLowerCase(), credentials: m[2]! } : { scheme: '', credentials: '' };
}

/** `base64(user:password)`; the password may contain ":", the user may not (RFC 7617). */
export function parseBasic(credentials: string): { user: string; password: string } | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(credentials)) return undefined;
  const decoded = Buffer.from(credentials, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** An RFC 7230 quoted-string; control characters (header injection) dropped. */
export function quote(value: string): string {
  return `"${value.replace(/[\x00-\x1f\x7f]/g, '').replace(/["\\]/g, '\\$&')}"`;
}
