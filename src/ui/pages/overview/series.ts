import { MINUTE_MS, type MinuteSample } from '../../../admin/minute-series.js';
import { HOUR_MS } from '../../../admin/stats-recorder.js';
import { OciError } from '../../../oci/errors.js';
import type { ConsoleContext } from '../../context.js';

/** The overview's chart ranges: the last hour by minute (this process), the last day and week by hour (persisted). */
export const RANGES = ['hour', 'day', 'week'] as const;
export type Range = (typeof RANGES)[number];

export const RANGE_LABEL: Record<Range, string> = { hour: 'last hour', day: 'last day', week: 'last week' };
const HOURS: Record<Exclude<Range, 'hour'>, number> = { day: 24, week: 168 };

/** The range a query names: absent → hour; anything else than the three → 400. */
export function parseRange(value: string | undefined): Range {
  if (value === undefined || value === '') return 'hour';
  if ((RANGES as readonly string[]).includes(value)) return value as Range;
  throw new OciError('UNSUPPORTED', { status: 400, message: 'range must be hour, day or week' });
}

const RESULTS = ['hit', 'revalidated', 'stale', 'miss'] as const;

/**
 * A chart's data, in columns as uPlot takes them: `t` (seconds since the epoch, the start of
 * each step), pulls (manifest and blob GETs and HEADs) by cache result, and blob bytes
 * served to clients and received from upstreams; `totals` sums each column (the text
 * alternative of the charts).
 */
export interface Series {
  range: Range;
  stepSeconds: number;
  t: number[];
  pulls: Record<(typeof RESULTS)[number], number[]>;
  bytes: { served: number[]; upstream: number[] };
  totals: { pulls: Record<(typeof RESULTS)[number], number>; bytes: { served: number; upstream: number } };
}

function columns(range: Range, stepMs: number, steps: Array<{ at: number; counters: Readonly<Record<string, number>> }>): Series {
  const s: Series = {
    range, stepSeconds: stepMs / 1000, t: [],
    pulls: { hit: [], revalidated: [], stale: [], miss: [] }, bytes: { served: [], upstream: [] },
    totals: { pulls: { hit: 0, revalidated: 0, stale: 0, miss: 0 }, bytes: { served: 0, upstream: 0 } },
  };
  for (const { at, counters } of steps) {
    const v = (name: string) => counters[name] ?? 0;
    s.t.push(Math.floor(at / 1000));
    for (const r of RESULTS) {
      const n = v(`manifest.${r}`) + v(`blob.${r}`);
      s.pulls[r].push(n);
      s.totals.pulls[r] += n;
    }
    s.bytes.served.push(v('bytes.served'));
    s.bytes.upstream.push(v('bytes.upstream'));
    s.totals.bytes.served += v('bytes.served');
    s.totals.bytes.upstream += v('bytes.upstream');
  }
  return s;
}

/**
 * The series of a range. The hour comes from the in-memory minute ring; the day and week
 * from the hourly buckets (flushed first, as /admin/stats does), every hour listed — those
 * without counters as zeros — so the chart's x axis is even.
 */
export async function seriesOf(ctx: ConsoleContext, range: Range): Promise<Series> {
  if (range === 'hour') {
    const entries: MinuteSample[] = ctx.minutes.entries();
    return columns(range, MINUTE_MS, entries.map((e) => ({ at: e.minute, counters: e.counters })));
  }
  await ctx.stats.flush();
  const now = ctx.now();
  const current = now - (((now % HOUR_MS) + HOUR_MS) % HOUR_MS);
  const since = current - (HOURS[range] - 1) * HOUR_MS;
  const rows = new Map((await ctx.ports.maintenance.statsSeries(since)).map((r) => [r.hour, r.counters]));
  const steps = [];
  for (let h = since; h <= current; h += HOUR_MS) steps.push({ at: h, counters: rows.get(h) ?? {} });
  return columns(range, HOUR_MS, steps);
}
