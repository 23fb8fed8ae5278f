import { isIP } from 'node:net';
import { compileNamePattern } from '../oci/name-pattern.js';
import { parseImageRef } from '../oci/image-ref.js';
import { parseCount, parseDuration, parseSize } from './parse.js';
import type { AccessRule } from './schema.js';

/**
 * Parsers of the config's compound values (lists, rules, fractions, values where 0 means
 * off): each takes what YAML or a MIRROR_* variable gave and returns the normal form, or
 * throws an Error whose message load.ts puts after the key's name.
 */

/** A size where 0 or empty means off (storage.max_size). */
export function parseOffSize(value: unknown): number {
  return value === '' || value === null ? 0 : parseSize(value);
}

/** A duration where 0 or empty means off (storage.max_age); a bare number is seconds as elsewhere. */
export function parseOffDuration(value: unknown): number {
  if (value === '' || value === null || (typeof value === 'string' && /^\s*0+\s*$/.test(value))) return 0;
  return parseDuration(value);
}

/** A fraction of 1 ("0.9") or a percent ("90%"), above 0 and at most 1 (the watermarks). */
export function parseFraction(value: unknown): number {
  const text = typeof value === 'string' ? value.trim() : value;
  const n = typeof text === 'string' && text.endsWith('%') ? Number(text.slice(0, -1)) / 100 : Number(text);
  if (text === '' || typeof text === 'boolean' || !Number.isFinite(n) || n <= 0 || n > 1) {
    throw new Error(`"${String(value)}" is not a fraction such as 0.9 or "90%"`);
  }
  return n;
}

/** A count where 0 means off (upstream.prefetch). */
export function parseCountOrZero(value: unknown): number {
  if (value === 0 || (typeof value === 'string' && value.trim() === '0')) return 0;
  try {
    return parseCount(value);
  } catch {
    throw new Error('expected a whole number ≥ 0');
  }
}

/** Host names: a YAML list, or a comma-separated string (from env). Lower-cased, no scheme or port. */
export function parseHostList(value: unknown): string[] {
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
  if (!Array.isArray(list) || list.some((h) => typeof h !== 'string')) throw new Error('expected a list of host names');
  return (list as string[]).map((h) => {
    const host = h.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
    if (!/^[a-z0-9.:-]+$/.test(host) || (host.includes(':') && isIP(host) !== 6)) throw new Error(`"${h}" is not a host name (no scheme, port or path)`);
    return host;
  });
}

/** Free space to keep: a size ("1GiB") or a percent of the file system ("5%"). */
export function parseMinFree(value: unknown): { bytes: number; percent: number } {
  const m = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value) : null;
  if (!m) return { bytes: parseSize(value), percent: 0 };
  const percent = Number(m[1]);
  if (percent > 100) throw new Error('a percent must be at most 100%');
  return { bytes: 0, percent };
}

/** A list of name patterns: a YAML list, or a comma-separated string (from env). */
export function parsePatternList(value: unknown): string[] {
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
  if (!Array.isArray(list) || list.some((p) => typeof p !== 'string')) throw new Error('expected a list of repository name patterns');
  for (const p of list as string[]) compileNamePattern(p);
  return list as string[];
}

/** Access rules: a YAML list of {repository, pull, push, delete}, or the same as JSON (from env). */
export function parseRules(value: unknown): AccessRule[] {
  let list = value;
  if (typeof value === 'string') {
    try {
      list = JSON.parse(value);
    } catch {
      throw new Error('expected a JSON list of rules');
    }
  }
  if (!Array.isArray(list)) throw new Error('expected a list of {repository, pull, push, delete} rules');
  return list.map((raw, i) => {
    const r = raw as Record<string, unknown>;
    if (!r || typeof r !== 'object') throw new Error(`rule ${i}: expected a mapping`);
    for (const k of Object.keys(r)) {
      if (!['repository', 'pull', 'push', 'delete'].includes(k)) throw new Error(`rule ${i}: unknown key "${k}"`);
    }
    if (typeof r.repository !== 'string') throw new Error(`rule ${i}: repository must be a name pattern`);
    try {
      compileNamePattern(r.repository);
    } catch (err) {
      throw new Error(`rule ${i}: ${(err as Error).message}`);
    }
    const principals = (k: string): string[] => {
      const v = r[k] ?? [];
      const arr = typeof v === 'string' ? [v] : v;
      if (!Array.isArray(arr) || arr.some((x) => typeof x !== 'string')) throw new Error(`rule ${i}: ${k} must be a list of user names, "*" or "anonymous"`);
      return arr as string[];
    };
    return { repository: r.repository, pull: principals('pull'), push: principals('push'), delete: principals('delete') };
  });
}

/** A list of strings: a YAML list, or a comma-separated string (from env). */
export function stringList(value: unknown, what: string): string[] {
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
  if (!Array.isArray(list) || list.some((p) => typeof p !== 'string' || p.trim() === '')) throw new Error(`expected a list of ${what}`);
  return (list as string[]).map((p) => p.trim());
}

/** Platforms (upstream.prefetch_platforms): "os/arch" or "os/arch/variant", lower-cased. */
export function parsePlatformList(value: unknown): string[] {
  const platforms = stringList(value, 'platforms (os/arch[/variant])').map((p) => p.toLowerCase());
  const bad = platforms.find((p) => !/^[a-z0-9._-]+\/[a-z0-9._-]+(\/[a-z0-9._-]+)?$/.test(p));
  if (bad !== undefined) throw new Error(`"${bad}" is not a platform (os/arch or os/arch/variant)`);
  return platforms;
}

/** Image references (warm.images): a YAML list, or a comma-separated string (from env). */
export function parseImageList(value: unknown): string[] {
  if (Array.isArray(value) && value.length === 0) return [];
  const images = stringList(value, 'image references such as "alpine:3.20" or "ghcr.io/owner/app:1"');
  for (const image of images) parseImageRef(image);
  return images;
}

/** User names (auth.admins); "*" and "anonymous" are refused: an admin is a named user. */
export function parseUserList(value: unknown): string[] {
  const users = stringList(value, 'user names');
  const bad = users.find((u) => u === '*' || u === 'anonymous' || u.includes(':'));
  if (bad !== undefined) throw new Error(`"${bad}" is not a user name`);
  return users;
}

/** IP addresses and CIDRs (http.trusted_proxies): 10.0.0.1, 10.0.0.0/8, ::1, fd00::/8. */
export function parseAddressList(value: unknown): string[] {
  const entries = stringList(value, 'IP addresses or CIDRs');
  for (const entry of entries) {
    const [addr = '', bits, extra] = entry.split('/');
    const family = isIP(addr.replace(/^::ffff:(?=\d+\.)/i, ''));
    const max = family === 4 ? 32 : 128;
    if (family === 0 || extra !== undefined || (bits !== undefined && (!/^\d+$/.test(bits) || Number(bits) > max))) {
      throw new Error(`"${entry}" is not an IP address or CIDR`);
    }
  }
  return entries;
}
