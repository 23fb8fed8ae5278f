/** Sizes and times as the console shows them (binary units; relative times with the exact one kept for hover). */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
/** Between a number and its unit: a no-break space, so that "3.00 MiB" never wraps into "3.00" and "MiB". */
const NBSP = '\u00a0';

/** 0 B, 512 B, 1.50 KiB, 12.3 MiB, 1.20 GiB: three significant digits from KiB up. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '–';
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${v}${NBSP}B`;
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)}${NBSP}${UNITS[i]}`;
}

const STEPS: Array<[number, string, string]> = [
  [60_000, 'min', 'min'],
  [3_600_000, 'h', 'h'],
  [86_400_000, 'day', 'days'],
  [30 * 86_400_000, 'month', 'months'],
  [365 * 86_400_000, 'year', 'years'],
];

/** "just now", "5 min ago", "3 h ago", "2 days ago", "in 4 min". */
export function formatRelative(at: number, now: number): string {
  const delta = now - at;
  const abs = Math.abs(delta);
  if (abs < 45_000) return 'just now';
  let unit = STEPS[0]!;
  for (const step of STEPS) if (abs >= step[0]) unit = step;
  const count = Math.max(1, Math.round(abs / unit[0]));
  const text = `${count} ${count === 1 ? unit[1] : unit[2]}`;
  return delta >= 0 ? `${text} ago` : `in ${text}`;
}

/** The exact time, as the hover title shows it: ISO 8601 in UTC, to the second. */
export function formatExact(at: number): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z').replace('T', ' ');
}

/** A ratio 0..1 as a percent with one decimal; "–" for none. */
export function formatPercent(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined || !Number.isFinite(ratio) ? '–' : `${(ratio * 100).toFixed(1)}${NBSP}%`;
}

/** A short digest for tables: the algorithm and the first 12 hex digits. */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return colon < 0 ? digest.slice(0, 19) : `${digest.slice(0, colon + 1)}${digest.slice(colon + 1, colon + 13)}`;
}
