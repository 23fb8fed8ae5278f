import type { Context } from 'hono';
import { setActor } from '../../events/repository-events.js';
import { tryParseDigest } from '../../oci/digest.js';
import { OciError } from '../../oci/errors.js';
import { isValidTag } from '../../oci/names.js';
import type { ConsoleContext, ConsoleRoutes } from '../context.js';
import { Digest } from '../components.js';
import { formStep } from '../forms.js';
import { Layout } from '../layout.js';
import { urls } from '../urls.js';
import type { ConsoleEnv } from '../console-env.js';
import { actionRepository, badRequest, ConfirmForm, plural, queryParam, resultPage } from './action-parts.js';
import { evictRoutes } from './actions-evict.js';

/** Tags listed on a confirmation page at most (the count says how many more go). */
const SHOWN_TAGS = 100;

/** "2 tags", or "more than 100 tags" when the list was cut. */
const tagCount = (tags: string[]) => (tags.length > SHOWN_TAGS ? `more than ${SHOWN_TAGS} tags` : plural(tags.length, 'tag'));

/** The local tag an action names, with its digest and the other tags naming that manifest. */
async function tagTarget(c: Context<ConsoleEnv>, ctx: ConsoleContext) {
  const resolved = actionRepository(c, ctx, 'delete');
  const tag = queryParam(c, 'tag');
  if (!isValidTag(tag)) throw badRequest('that is not a tag');
  const row = await ctx.ports.tags.getTag(resolved.cacheRepo, tag);
  if (!row) throw new OciError('MANIFEST_UNKNOWN', { message: `${resolved.cacheRepo} has no tag ${tag}` });
  const tags = (await ctx.ports.maintenance.manifestTags(resolved.cacheRepo, row.digest, SHOWN_TAGS + 1)) ?? [];
  return { resolved, tag, digest: row.digest, others: tags.filter((t) => t !== tag) };
}

/** The local manifest an action names, with the tags that go with it. */
async function manifestTarget(c: Context<ConsoleEnv>, ctx: ConsoleContext) {
  const resolved = actionRepository(c, ctx, 'delete');
  const digest = tryParseDigest(queryParam(c, 'digest'));
  if (!digest) throw new OciError('DIGEST_INVALID', { message: 'that is not a digest (sha256:…)' });
  const tags = await ctx.ports.maintenance.manifestTags(resolved.cacheRepo, digest.value, SHOWN_TAGS + 1);
  if (tags === undefined) throw new OciError('MANIFEST_UNKNOWN', { message: `${resolved.cacheRepo} has no manifest ${digest.value}` });
  return { resolved, digest, tags };
}

const TagList = (p: { tags: string[] }) => (
  <>
    <ul class="tags">{p.tags.slice(0, SHOWN_TAGS).map((t) => <li><code>{t}</code></li>)}</ul>
    {p.tags.length > SHOWN_TAGS ? <p class="hint">…and more.</p> : null}
  </>
);

/**
 * Deleting local content from the console: a tag (/ui/actions/delete-tag) or a manifest
 * (/ui/actions/delete-manifest). GET confirms what will go, POST does it through the same
 * Repository as `DELETE /v2/<name>/manifests/<ref>` (events, index, as the API). Both need
 * the rules' delete right on the repository, checked on both. Evicting mirrored images is
 * actions-evict.tsx.
 */
export const actionRoutes: ConsoleRoutes = (ui, ctx) => {
  ui.get('/ui/actions/delete-tag', async (c) => {
    const t = await tagTarget(c, ctx);
    const name = t.resolved.cacheRepo;
    return c.html(
      <Layout title={`Delete tag ${name}:${t.tag}?`} viewer={c.var.viewer} assets={ctx.assets} section="repositories">
        <p>The tag <code>{t.tag}</code> will be removed from <a href={urls.repository(name)}>{name}</a>. It points at <Digest digest={t.digest} />.</p>
        {t.others.length > 0
          ? <><p>The manifest stays: other tags still point at it:</p><TagList tags={t.others} /></>
          : <p>No other tag points at that manifest; it stays, by digest, until it is deleted too (gc then frees its layers).</p>}
        <ConfirmForm action={urls.deleteTag(name, t.tag)} csrf={c.var.viewer.csrf} button="Delete" cancel={urls.repository(name)} />
      </Layout>,
    );
  });

  ui.post('/ui/actions/delete-tag', formStep(ctx.sessions), async (c) => {
    const t = await tagTarget(c, ctx);
    // The API's own path: the evented Repository announces tag.deleted with the user as actor.
    setActor(t.resolved.repository, c.var.viewer.user);
    await t.resolved.repository.deleteManifest({ kind: 'tag', tag: t.tag });
    const name = t.resolved.cacheRepo;
    ctx.log.info('console: tag deleted', { user: c.var.viewer.user, repository: name, tag: t.tag, digest: t.digest });
    return resultPage(c, ctx, {
      title: 'Tag deleted', back: urls.repository(name), backLabel: `Back to ${name}`,
      text: <>Deleted tag <code>{t.tag}</code> of {name} (it pointed at <Digest digest={t.digest} />).</>,
    });
  });

  ui.get('/ui/actions/delete-manifest', async (c) => {
    const m = await manifestTarget(c, ctx);
    const name = m.resolved.cacheRepo;
    return c.html(
      <Layout title={`Delete ${name}@${m.digest.value}?`} viewer={c.var.viewer} assets={ctx.assets} section="repositories">
        <p>The manifest <Digest digest={m.digest.value} /> will be removed from <a href={urls.repository(name)}>{name}</a>{m.tags.length > 0 ? <>, with {tagCount(m.tags)} that {m.tags.length === 1 ? 'points' : 'point'} at it:</> : <>; no tag points at it.</>}</p>
        {m.tags.length > 0 ? <TagList tags={m.tags} /> : null}
        <p class="hint">Its layers stay on disk until the next gc finds nothing else uses them.</p>
        <ConfirmForm action={urls.deleteManifest(name, m.digest.value)} csrf={c.var.viewer.csrf} button="Delete" cancel={urls.repository(name)} />
      </Layout>,
    );
  });

  ui.post('/ui/actions/delete-manifest', formStep(ctx.sessions), async (c) => {
    const m = await manifestTarget(c, ctx);
    setActor(m.resolved.repository, c.var.viewer.user);
    await m.resolved.repository.deleteManifest({ kind: 'digest', digest: m.digest });
    const name = m.resolved.cacheRepo;
    ctx.log.info('console: manifest deleted', { user: c.var.viewer.user, repository: name, digest: m.digest.value });
    return resultPage(c, ctx, {
      title: 'Manifest deleted', back: urls.repository(name), backLabel: `Back to ${name}`,
      text: <>Deleted manifest <Digest digest={m.digest.value} /> from {name}{m.tags.length > 0 ? <> with {tagCount(m.tags)}</> : null}.</>,
    });
  });

  evictRoutes(ui, ctx);
};
