/**
 * Parsers for config values written by people: durations ("30s", "5m", "1h30m", "250ms")
 * and sizes ("4MiB", "200GiB", "512k"). Each throws a plain message; load.ts adds the key.
 */
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(value: unknown): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value * 1000;
  if (typeof value !== 'string') throw new Error('expected a duration such as "30s", "5m" or "1h"');
  const text = value.trim();
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  if (text === '' || matched !== text.length) throw new Error(`"${value}" is not a duration such as "30s", "5m" or "1h"`);
  return Math.round(total);
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

export function parseSize(value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value !== 'string') throw new Error('expected a size such as "4MiB" or "200GiB"');
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error(`"${value}" is not a size such as "4MiB" or "200GiB"`);
  return Math.round(Number(m[1]) * unit);
}

export function parseAddr(value: unknown): { host: string; port: number } {
  if (typeof value !== 'string') throw new Error('expected "host:port", e.g. "0.0.0.0:5000"');
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`"${value}" is not "host:port", e.g. "0.0.0.0:5000"`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export function parseUrl(value: unknown): string {
  if (typeof value !== 'string') throw new Error('expected an http(s) URL');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`"${value}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`"${value}" is not an http(s) URL`);
  return url.origin + url.pathname.replace(/\/+$/, '');
}

export function parseString(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'string') throw new Error('expected a string');
  return value;
}

export function parseBoolean(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === '1' || value === 'yes') return true;
  if (value === 'false' || value === '0' || value === 'no') return false;
  throw new Error('expected true or false');
}

export function parseCount(value: unknown): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new Error('expected a whole number ≥ 1');
  return n;
}

export function parseOneOf<T extends string>(choices: readonly T[]) {
  return (value: unknown): T => {
    if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as T;
    throw new Error(`expected one of ${choices.join(', ')}`);
  };
}
