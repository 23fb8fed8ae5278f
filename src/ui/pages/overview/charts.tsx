import { Bytes } from '../../components.js';
import { RANGE_LABEL, RANGES, type Range, type Series } from './series.js';

/** The series JSON the charts fetch (admin only). */
export const seriesUrl = (range: Range) => `/ui/overview/series?range=${range}`;

const count = (n: number) => n.toLocaleString('en-US');

/**
 * The two charts of a range: pulls by cache result and blob bytes. Each is a `<figure>`
 * with a caption and its totals as text (what a screen reader or a browser without
 * script gets); public/charts.js draws into the `data-series` container with uPlot.
 */
export function Charts(p: { range: Range; series: Series }) {
  const { range, series: s } = p;
  const label = RANGE_LABEL[range];
  const pulls = s.totals.pulls;
  const pullsText = `Hits ${count(pulls.hit)}, revalidated ${count(pulls.revalidated)}, stale ${count(pulls.stale)}, misses ${count(pulls.miss)}`;
  const step = range === 'hour' ? 'per minute' : 'per hour';
  return (
    <section aria-labelledby="charts-h">
      <h2 id="charts-h">Requests over time</h2>
      <nav aria-label="Chart range" class="ranges">
        {RANGES.map((r) => (
          <a href={`/ui/?range=${r}`} aria-current={r === range ? 'true' : undefined}>{RANGE_LABEL[r]}</a>
        ))}
      </nav>
      <div class="charts">
        <figure>
          <figcaption>Pulls by cache result, {label} ({step})</figcaption>
          <div class="chart" data-chart="pulls" data-series={seriesUrl(range)} role="img" aria-label={`Pulls by cache result, ${label}: ${pullsText}`}></div>
          <p class="totals">{pullsText}.</p>
        </figure>
        <figure>
          <figcaption>Blob bytes served and fetched from upstreams, {label} ({step})</figcaption>
          <div class="chart" data-chart="bytes" data-series={seriesUrl(range)} role="img"
            aria-label={`Blob bytes, ${label}: served ${s.totals.bytes.served} bytes, from upstreams ${s.totals.bytes.upstream} bytes`}></div>
          <p class="totals">Served <Bytes n={s.totals.bytes.served} />, from upstreams <Bytes n={s.totals.bytes.upstream} />.</p>
        </figure>
      </div>
    </section>
  );
}
