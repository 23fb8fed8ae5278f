import { cacheReport } from '../../admin/stats.js';
import { Bytes, Figure } from '../components.js';
import type { ConsoleRoutes } from '../context.js';
import { formatPercent } from '../format.js';
import { Layout } from '../layout.js';

/** GET /ui/: how the cache performs (admins), or where to start browsing (everyone else). */
export const overviewRoutes: ConsoleRoutes = (ui, ctx) => {
  ui.get('/ui/', async (c) => {
    const { viewer } = c.var;
    if (!viewer.admin) {
      return c.html(
        <Layout title="Overview" viewer={viewer} assets={ctx.assets} section="overview">
          <p>Browse the <a href="/ui/repositories">repositories</a> you may pull. Cache figures are for admins.</p>
        </Layout>,
      );
    }
    await ctx.stats.flush();
    const report = await cacheReport(ctx.ports.maintenance, ctx.now());
    const max = ctx.config.storage.retention.maxSize;
    return c.html(
      <Layout title="Overview" viewer={viewer} assets={ctx.assets} section="overview">
        <dl class="figures">
          <Figure label="Disk used"><Bytes n={report.disk.blobBytes} />{max > 0 ? <> of <Bytes n={max} /></> : null}</Figure>
          <Figure label="Hit ratio (day)">{formatPercent(report.lastDay.hitRatio)}</Figure>
          <Figure label="Bandwidth saved (day)"><Bytes n={report.lastDay.bytesSaved} /></Figure>
          <Figure label="Repositories">{report.counts.repositories}</Figure>
        </dl>
      </Layout>,
    );
  });
};
