import type { Context } from 'hono';
import { prune, type PruneSummary } from '../../admin/prune.js';
import { openDeletePins } from '../../admin/delete-pins.js';
import { MaintenanceBusyError, withMaintenanceLease } from '../../admin/maintenance-lease.js';
import { parseOffDuration, parseOffSize } from '../../config/value-parsers.js';
import { OciError } from '../../oci/errors.js';
import type { EvictableBlob } from '../../storage/index-rows.js';
import { Bytes, Digest, Notice, Time } from '../components.js';
import type { ConsoleEnv } from '../console-env.js';
import type { ConsoleContext, ConsoleRoutes } from '../context.js';
import { formStep } from '../forms.js';
import { Layout } from '../layout.js';
import { urls } from '../urls.js';
import { badRequest, ConfirmForm, plural, requireAdmin, resultPage } from './action-parts.js';
import { formatDuration, sizeText } from './housekeeping-values.js';

/** Blobs the preview lists (with their repositories); the totals count them all. */
const LISTED = 100;
/** The longest size or duration text read: "10GiB" and "30d" are far shorter. */
const MAX_VALUE = 32;

interface PruneRequest {
  maxSize: number;
  olderThanMs: number;
  /** As the form sends them back, and as the CLI takes them. */
  text: { maxSize: string; olderThan: string };
}

/** max_size and older_than, parsed by the config's own parsers (0 or empty: that limit is off); at least one. */
function pruneRequest(get: (key: string) => string | undefined): PruneRequest {
  const read = (key: string, what: string, parse: (v: string) => number): number => {
    const text = (get(key) ?? '').trim();
    if (text.length > MAX_VALUE) throw badRequest(`${what}: too long`);
    let n: number;
    try {
      n = parse(text);
    } catch (err) {
      throw badRequest(`${what}: ${(err as Error).message}`);
    }
    if (!Number.isSafeInteger(n) || n < 0) throw badRequest(`${what}: out of range`);
    return n;
  };
  const maxSize = read('max_size', 'Keep at most', parseOffSize);
  const olderThanMs = read('older_than', 'Evict what was not pulled for', parseOffDuration);
  if (maxSize === 0 && olderThanMs === 0) throw badRequest('give a size to keep at most, a duration, or both');
  return { maxSize, olderThanMs, text: { maxSize: maxSize > 0 ? sizeText(maxSize) : '', olderThan: olderThanMs > 0 ? formatDuration(olderThanMs) : '' } };
}

/**
 * prune() with this request's limits, as retention runs it: accesses noted since the last
 * flush are written first (so a blob pulled a moment ago counts as recent), and blobs
 * being sent right now are skipped.
 */
async function runPrune(ctx: ConsoleContext, r: PruneRequest, dryRun: boolean, onEvict?: (b: EvictableBlob) => void): Promise<PruneSummary> {
  await ctx.access?.flush();
  const run = async () => {
    // Issue 13: blobs another replica is sending are skipped too (delete-pins.ts).
    const pins = dryRun ? undefined : await openDeletePins(ctx.config, ctx.log);
    try {
      return await prune(ctx.ports.maintenance, ctx.store, {
        ...(r.maxSize > 0 ? { maxSize: r.maxSize } : {}),
        ...(r.olderThanMs > 0 ? { olderThanMs: r.olderThanMs } : {}),
        dryRun, now: ctx.now(), log: ctx.log,
        ...(dryRun || !ctx.events ? {} : { events: ctx.events }),
        inUse: (d) => ctx.openBlobs?.has(d) ?? false,
        ...(onEvict ? { onEvict } : {}),
        ...(pins ? { pins } : {}),
      });
    } finally {
      await pins?.close();
    }
  };
  if (dryRun) return run();
  // Under the maintenance lease: never beside retention, a prune or a gc of another replica.
  try {
    return await withMaintenanceLease(ctx.ports.maintenance, 'prune', run, { log: ctx.log });
  } catch (err) {
    if (err instanceof MaintenanceBusyError) throw new OciError('UNSUPPORTED', { status: 409, message: err.message });
    throw err;
  }
}

const cli = (r: PruneRequest) =>
  `registry-mirror prune${r.maxSize > 0 ? ` --max-size ${r.text.maxSize}` : ''}${r.olderThanMs > 0 ? ` --older-than ${r.text.olderThan}` : ''}`;

/**
 * /ui/housekeeping/prune (admins): GET previews (prune's dry run, the first blobs it would
 * evict with their repositories, and the totals), POST prunes for real. One prune at a
 * time, previews included (each reads the whole candidate list): another gets 409.
 */
export const pruneRoutes: ConsoleRoutes = (ui, ctx) => {
  let running = false;
  const exclusive = async <T,>(work: () => Promise<T>): Promise<T> => {
    if (running) throw new OciError('UNSUPPORTED', { status: 409, message: 'a prune is running: try again when it is done' });
    running = true;
    try {
      return await work();
    } finally {
      running = false;
    }
  };

  ui.get('/ui/housekeeping/prune', async (c) => {
    requireAdmin(c);
    const r = pruneRequest((k) => c.req.query(k));
    const listed: EvictableBlob[] = [];
    const summary = await exclusive(() => runPrune(ctx, r, true, (b) => { if (listed.length < LISTED) listed.push(b); }));
    const repos = await Promise.all(listed.map((b) => ctx.ports.maintenance.blobRepositories(b.digest)));
    return previewPage(c, ctx, r, summary, listed, repos);
  });

  ui.post('/ui/housekeeping/prune', formStep(ctx.sessions), async (c) => {
    requireAdmin(c);
    const r = pruneRequest((k) => c.var.form[k]);
    const summary = await exclusive(() => runPrune(ctx, r, false));
    ctx.log.info('console: pruned', { user: c.var.viewer.user, ...summary });
    const skipped = summary.skippedInUse ?? 0;
    return resultPage(c, ctx, {
      title: 'Pruned', section: 'housekeeping', back: urls.housekeeping, backLabel: 'Back to housekeeping',
      text: <>Evicted {plural(summary.evicted, 'blob')}, <Bytes n={summary.bytesFreed} /> freed; <Bytes n={summary.remainingBytes} /> remain.{skipped > 0 ? <> {plural(skipped, 'blob')} being downloaded right now stayed.</> : null}</>,
    });
  });
};

function previewPage(c: Context<ConsoleEnv>, ctx: ConsoleContext, r: PruneRequest, s: PruneSummary, listed: EvictableBlob[], repos: string[][]) {
  const now = ctx.now();
  return c.html(
    <Layout title="Prune the cache?" viewer={c.var.viewer} assets={ctx.assets} section="housekeeping">
      <p>
        {r.maxSize > 0 ? <>Keeping at most <Bytes n={r.maxSize} /></> : null}
        {r.maxSize > 0 && r.olderThanMs > 0 ? ' and evicting' : r.olderThanMs > 0 ? 'Evicting' : null}
        {r.olderThanMs > 0 ? <> what was not pulled for {r.text.olderThan}</> : null}:{' '}
        {plural(s.evicted, 'blob')} (<Bytes n={s.bytesFreed} />) would be evicted, <Bytes n={s.remainingBytes} /> would remain.
        {(s.skippedInUse ?? 0) > 0 ? <> {plural(s.skippedInUse ?? 0, 'blob')} being downloaded right now would stay.</> : null}
      </p>
      {listed.length > 0 ? (
        <div class="table-wrap">
          <table>
            <caption>{listed.length < s.evicted ? `The first ${listed.length} of ${s.evicted.toLocaleString('en-US')} blobs, in eviction order` : 'Blobs, in eviction order'}</caption>
            <thead><tr><th scope="col">Repositories</th><th scope="col">Digest</th><th scope="col">Size</th><th scope="col">Last pull</th></tr></thead>
            <tbody>
              {listed.map((b, i) => (
                <tr>
                  <td>{repos[i]!.length === 0 ? '–' : repos[i]!.slice(0, 5).join(', ')}{repos[i]!.length > 5 ? ` and ${repos[i]!.length - 5} more` : ''}</td>
                  <td><Digest digest={b.digest} /></td>
                  <td><Bytes n={b.size} /></td>
                  <td><Time at={b.lastAccess} now={now} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : <Notice kind="ok">Nothing to evict.</Notice>}
      <p class="hint">On the command line: <code>{cli(r)} --dry-run</code></p>
      {s.evicted > 0 ? (
        <ConfirmForm action={urls.prune} csrf={c.var.viewer.csrf} button="Prune" cancel={urls.housekeeping}>
          <input type="hidden" name="max_size" value={r.text.maxSize} />
          <input type="hidden" name="older_than" value={r.text.olderThan} />
          <p>What is evicted then is judged again at that moment: blobs pulled since this preview stay.</p>
        </ConfirmForm>
      ) : <p><a href={urls.housekeeping}>Back to housekeeping</a></p>}
    </Layout>,
  );
}
