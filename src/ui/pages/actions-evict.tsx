import type { Context } from 'hono';
import { evictImage } from '../../admin/evict.js';
import { openDeletePins } from '../../admin/delete-pins.js';
import { OciError } from '../../oci/errors.js';
import { parseReference, type Reference } from '../../oci/names.js';
import { referenceText } from '../../oci/image-ref.js';
import { Bytes, Digest } from '../components.js';
import type { ConsoleEnv } from '../console-env.js';
import type { ConsoleContext, ConsoleRoutes } from '../context.js';
import { formStep } from '../forms.js';
import { Layout } from '../layout.js';
import { urls } from '../urls.js';
import { actionRepository, badRequest, ConfirmForm, plural, queryParam, resultPage } from './action-parts.js';

/** Blobs listed on the confirmation page at most (the totals count them all). */
const SHOWN_BLOBS = 200;

/** The cached image an evict names: its repository (mirrored, admins only) and reference. */
function evictTarget(c: Context<ConsoleEnv>, ctx: ConsoleContext) {
  const resolved = actionRepository(c, ctx, 'evict');
  let ref: Reference;
  try {
    ref = parseReference(queryParam(c, 'reference'));
  } catch (err) {
    if (err instanceof OciError && err.status === 400) throw badRequest('the reference is neither a tag nor a digest');
    throw err;
  }
  const text = referenceText(ref);
  return { resolved, ref, image: `${resolved.cacheRepo}${ref.kind === 'tag' ? ':' : '@'}${text}` };
}

/**
 * Evicting a cached image (admins, mirrored repositories): GET lists the manifests and
 * the blobs that would go (the index's previewEvictImage: evictImage's own statements,
 * rolled back), POST runs evictImage as `registry-mirror evict` and the admin DELETE do,
 * and forgets the memoized tags, so the next pull fetches it from the upstream again.
 */
export const evictRoutes: ConsoleRoutes = (ui, ctx) => {
  ui.get('/ui/actions/evict', async (c) => {
    const t = evictTarget(c, ctx);
    const repo = t.resolved.cacheRepo;
    const digest = t.ref.kind === 'digest' ? t.ref.digest.value : (await ctx.ports.tags.getTag(repo, t.ref.tag))?.digest;
    const preview = digest === undefined ? undefined : await ctx.ports.maintenance.previewEvictImage(repo, digest);
    if (!preview) throw new OciError('MANIFEST_UNKNOWN', { message: `${t.image} is not in the cache` });
    const bytes = preview.blobs.reduce((n, b) => n + b.size, 0);
    return c.html(
      <Layout title={`Evict ${t.image}?`} viewer={c.var.viewer} assets={ctx.assets} section="repositories">
        <p>
          {plural(preview.manifests.length, 'manifest')} and {plural(preview.blobs.length, 'blob')} (<Bytes n={bytes} />) will be
          removed from the cache; blobs another image uses stay. The next pull fetches the image from the upstream again.
        </p>
        <h2>Manifests</h2>
        <ul class="digests">{preview.manifests.map((m) => <li><Digest digest={m} /></li>)}</ul>
        {preview.blobs.length > 0 ? (
          <>
            <h2>Blobs</h2>
            <div class="table-wrap">
              <table>
                <thead><tr><th scope="col">Digest</th><th scope="col">Size</th></tr></thead>
                <tbody>{preview.blobs.slice(0, SHOWN_BLOBS).map((b) => <tr><td><Digest digest={b.digest} /></td><td><Bytes n={b.size} /></td></tr>)}</tbody>
              </table>
            </div>
            {preview.blobs.length > SHOWN_BLOBS ? <p class="hint">…and {plural(preview.blobs.length - SHOWN_BLOBS, 'more blob')}.</p> : null}
          </>
        ) : null}
        <ConfirmForm action={urls.evict(repo, referenceText(t.ref))} csrf={c.var.viewer.csrf} button="Evict" cancel={urls.repository(repo)} />
      </Layout>,
    );
  });

  ui.post('/ui/actions/evict', formStep(ctx.sessions), async (c) => {
    const t = evictTarget(c, ctx);
    const repo = t.resolved.cacheRepo;
    const summary = await evictImage({
      index: ctx.ports.maintenance, tags: ctx.ports.tags, store: ctx.store, log: ctx.log, ...(ctx.events ? { events: ctx.events } : {}),
      // Issue 13: blobs another replica is sending keep their objects (admin/delete-pins.ts).
      openPins: () => openDeletePins(ctx.config, ctx.log), ...(ctx.ports.blobs ? { blobs: ctx.ports.blobs } : {}),
    }, repo, t.ref);
    // The evicted tag must not be answered from memory (the memo step) until its TTL runs out.
    ctx.namespace.forgetMirrored(repo);
    ctx.log.info('console: image evicted', { user: c.var.viewer.user, image: t.image });
    return resultPage(c, ctx, {
      title: `Evicted ${t.image}`, back: urls.repository(repo), backLabel: `Back to ${repo}`,
      text: <>Evicted {plural(summary.manifests.length, 'manifest')} and {plural(summary.blobs, 'blob')}, <Bytes n={summary.bytesFreed} /> freed.</>,
    });
  });
};
