import type { CacheFigures, CacheReport } from './stats.js';

/** What `registry-mirror stats` prints as JSON: the report, and "n/a" for what only a running server knows. */
export function cliStatsJson(report: CacheReport): CacheReport & Record<'process' | 'fillsInProgress' | 'rateLimit', 'n/a'> {
  return { ...report, process: 'n/a', fillsInProgress: 'n/a', rateLimit: 'n/a' };
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 -> "1.5 KiB". */
export function formatBytes(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${UNITS[i]}`;
}

const ratio = (r: number | null) => (r === null ? '-' : `${(r * 100).toFixed(1)}%`);

/** Rows padded to the widest cell of each column. */
function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd());
}

/** The report as a readable table, for `registry-mirror stats` on a terminal. */
export function formatStatsTable(r: CacheReport): string {
  const periods: Array<[string, CacheFigures]> = [['last hour', r.lastHour], ['last day', r.lastDay], ['all time', r.allTime]];
  const out: string[] = [
    'Disk',
    ...table([
      ['  blobs', formatBytes(r.disk.blobBytes)],
      ['  mirrored', formatBytes(r.disk.mirrored)],
      ['  pushed', formatBytes(r.disk.pushed)],
      ['  manifests', formatBytes(r.disk.manifestBytes)],
      ...Object.entries(r.disk.byUpstream).map(([name, b]) => [`  upstream ${name}`, formatBytes(b)]),
    ]),
    '',
    'Counts',
    ...table(Object.entries(r.counts).map(([k, v]) => [`  ${k}`, String(v)])),
    '',
    'Cache',
    ...table([
      ['', 'hits', 'misses', 'stale', 'revalidated', 'hit ratio', 'served', 'from upstream', 'saved'],
      ...periods.map(([name, f]) => [
        `  ${name}`, String(f.hits), String(f.misses), String(f.stale), String(f.revalidated), ratio(f.hitRatio),
        formatBytes(f.bytesServed), formatBytes(f.bytesFromUpstream), formatBytes(f.bytesSaved),
      ]),
    ]),
  ];
  const ups = Object.entries(r.allTime.upstreams);
  if (ups.length > 0) {
    out.push('', 'Upstreams (all time; rate limit: n/a without the server)',
      ...table([['', 'requests', 'errors', 'bytes'], ...ups.map(([n, u]) => [`  ${n}`, String(u.requests), String(u.errors), formatBytes(u.bytes)])]));
  }
  for (const [title, list] of [['Top repositories by bytes', r.topRepositories.byBytes], ['Top repositories by pulls', r.topRepositories.byPulls]] as const) {
    if (list.length === 0) continue;
    out.push('', title, ...table([['', 'bytes', 'pulls'], ...list.map((u) => [`  ${u.repo}`, formatBytes(u.bytes), String(u.pulls)])]));
  }
  out.push('', `Oldest access: ${r.oldestAccess ?? '-'}`, 'Fills in progress: n/a (the server is not asked)');
  return out.join('\n') + '\n';
}
