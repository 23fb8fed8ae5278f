import { Bytes, Time } from '../components.js';
import type { ConsoleRoutes } from '../context.js';
import { Layout } from '../layout.js';
import { urls } from '../urls.js';
import { createWarmRuns } from '../warm-runs.js';
import { requireAdmin } from './action-parts.js';
import { pruneRoutes } from './housekeeping-prune.js';
import { warmRoutes, WarmRunLink } from './housekeeping-warm.js';
import { formatDuration, sizeText } from './housekeeping-values.js';

/**
 * /ui/housekeeping (admins): the retention settings and its last run, the prune form
 * (preview, then prune: housekeeping-prune.tsx) and the warm-up form (housekeeping-warm.tsx),
 * each with its CLI equivalent.
 */
export const housekeepingRoutes: ConsoleRoutes = (ui, ctx) => {
  const warmRuns = createWarmRuns({ resolver: ctx.namespace.resolver, concurrency: ctx.config.warm.concurrency, log: ctx.log, now: ctx.now, signal: ctx.signal });

  ui.get('/ui/housekeeping', (c) => {
    requireAdmin(c);
    const r = ctx.config.storage.retention;
    const last = ctx.metrics.retention.lastRun;
    const now = ctx.now();
    const defaultSize = r.maxSize > 0 ? sizeText(r.maxSize) : '';
    const defaultAge = r.maxAgeMs > 0 ? formatDuration(r.maxAgeMs) : '';
    const current = warmRuns.current;
    return c.html(
      <Layout title="Housekeeping" viewer={c.var.viewer} assets={ctx.assets} section="housekeeping">
        <section aria-labelledby="retention-h">
          <h2 id="retention-h">Retention</h2>
          <dl class="settings">
            <dt>Maximum size (storage.max_size)</dt>
            <dd>{r.maxSize > 0 ? <Bytes n={r.maxSize} /> : 'no limit'}</dd>
            <dt>Watermarks</dt>
            <dd>{r.maxSize > 0 ? <>a run starts above {pct(r.highWatermark)} and evicts down to {pct(r.lowWatermark)}</> : 'unused without a maximum size'}</dd>
            <dt>Maximum age (storage.max_age)</dt>
            <dd>{r.maxAgeMs > 0 ? formatDuration(r.maxAgeMs) : 'off'}</dd>
            <dt>Checked every</dt>
            <dd>{formatDuration(r.intervalMs)}</dd>
            <dt>Last run</dt>
            <dd>
              {last
                ? <><Time at={Date.parse(last.at)} now={now} /> ({last.reason}): {last.error ? <>failed: {last.error}</> : <>evicted {last.evicted} blobs, <Bytes n={last.bytesFreed} /> freed, <Bytes n={last.remainingBytes} /> remain</>}</>
                : 'none since the server started'}
            </dd>
          </dl>
        </section>

        <section aria-labelledby="prune-h">
          <h2 id="prune-h">Prune the cache</h2>
          <p>Evicts mirrored blobs, least recently pulled first. Pushed content is never evicted. The preview changes nothing.</p>
          <form method="get" action={urls.prune} class="card hk">
            <label for="max_size">Keep at most</label>
            <input id="max_size" name="max_size" placeholder="10GiB" maxlength={32} value={defaultSize} aria-describedby="max_size-hint" />
            <small id="max_size-hint" class="hint">A size such as 500MiB or 10GiB; empty: no size limit.</small>
            <label for="older_than">Evict what was not pulled for</label>
            <input id="older_than" name="older_than" placeholder="30d" maxlength={32} value={defaultAge} aria-describedby="older_than-hint" />
            <small id="older_than-hint" class="hint">A duration such as 12h or 30d; empty: any age.</small>
            <button type="submit">Preview</button>
          </form>
          <p class="hint">On the command line: <code>registry-mirror prune --max-size {defaultSize || '10GiB'} --older-than {defaultAge || '30d'} --dry-run</code></p>
        </section>

        <section aria-labelledby="warm-h">
          <h2 id="warm-h">Warm up</h2>
          <p>Pre-pulls images into the cache through the normal pull path, in the background.</p>
          {current ? <p>A warm-up is running: <WarmRunLink run={current} now={now} /></p> : null}
          <form method="get" action={urls.warm} class="card hk">
            <label for="images">Images</label>
            <textarea id="images" name="images" rows={5} placeholder="docker.io/library/alpine:3.20" aria-describedby="images-hint"></textarea>
            <small id="images-hint" class="hint">One per line, at most 50.</small>
            <label for="platforms">Platforms</label>
            <input id="platforms" name="platforms" placeholder="linux/amd64,linux/arm64" maxlength={256} value={ctx.config.warm.platforms.join(',')} aria-describedby="platforms-hint" />
            <small id="platforms-hint" class="hint">Of an index, only these; empty: every platform.</small>
            <button type="submit">Review</button>
          </form>
          <p class="hint">On the command line: <code>registry-mirror warm docker.io/library/alpine:3.20 --platform linux/amd64</code>; on a schedule: the <code>warm:</code> settings.</p>
          {warmRuns.recent().length > 0 ? (
            <>
              <h3>Recent warm-ups</h3>
              <ul>{warmRuns.recent().map((run) => <li><WarmRunLink run={run} now={now} /></li>)}</ul>
            </>
          ) : null}
        </section>
      </Layout>,
    );
  });

  pruneRoutes(ui, ctx);
  warmRoutes(ui, ctx, warmRuns);
};

const pct = (f: number) => `${Math.round(f * 100)} %`;
