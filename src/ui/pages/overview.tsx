import type { Context } from 'hono';
import { cacheReport } from '../../admin/stats.js';
import { OciError } from '../../oci/errors.js';
import type { ConsoleEnv } from '../console-env.js';
import type { ConsoleRoutes } from '../context.js';
import { Layout } from '../layout.js';
import { urls } from '../urls.js';
import { Charts } from './overview/charts.js';
import { Figures } from './overview/figures.js';
import { ErrorsSection, FillsSection, LIVE, UpstreamsSection } from './overview/live.js';
import { parseRange, seriesOf } from './overview/series.js';

/** Cache figures, charts and live sections are an admin's: the same decision as /admin/stats. */
function requireAdmin(c: Context<ConsoleEnv>): void {
  if (!c.var.viewer.admin) throw new OciError('DENIED', { message: 'only admins see the cache figures' });
}

/**
 * GET /ui/: how the cache performs (admins) — figures, charts of a range (?range=hour|day|week),
 * fills in progress, upstreams and recent errors — or where to start browsing (everyone
 * else). The live sections and the charts' data have their own admin-only URLs.
 */
export const overviewRoutes: ConsoleRoutes = (ui, ctx) => {
  const fills = () => <FillsSection fills={ctx.namespace.fillsDetail()} total={ctx.namespace.fillsInProgress()} now={ctx.now()} />;
  const upstreams = () => <UpstreamsSection health={ctx.namespace.upstreamHealth()} counters={ctx.metrics.byUpstream} now={ctx.now()} />;
  const errors = () => <ErrorsSection errors={ctx.recentErrors.list()} now={ctx.now()} />;

  ui.get('/ui/', async (c) => {
    const { viewer } = c.var;
    if (!viewer.admin) {
      return c.html(
        <Layout title="Overview" viewer={viewer} assets={ctx.assets} section="overview">
          <p>Browse the <a href={urls.repositories()}>repositories</a> you may pull. Cache figures are for admins.</p>
        </Layout>,
      );
    }
    const range = parseRange(c.req.query('range'));
    await ctx.stats.flush();
    const [report, series] = await Promise.all([cacheReport(ctx.ports.maintenance, ctx.now()), seriesOf(ctx, range)]);
    return c.html(
      <Layout title="Overview" viewer={viewer} assets={ctx.assets} section="overview" charts>
        <Figures report={report} maxSize={ctx.config.storage.retention.maxSize}
          fills={ctx.namespace.fillsInProgress()} uploads={ctx.namespace.uploadsInProgress()} />
        <Charts range={range} series={series} />
        {fills()}
        {upstreams()}
        {errors()}
      </Layout>,
    );
  });

  ui.get(LIVE.fills, (c) => { requireAdmin(c); return c.html(fills()); });
  ui.get(LIVE.upstreams, (c) => { requireAdmin(c); return c.html(upstreams()); });
  ui.get(LIVE.errors, (c) => { requireAdmin(c); return c.html(errors()); });

  ui.get('/ui/overview/series', async (c) => {
    requireAdmin(c);
    const series = await seriesOf(ctx, parseRange(c.req.query('range')));
    return c.json(series, 200, { 'Cache-Control': 'no-store' });
  });
};
