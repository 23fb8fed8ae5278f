import type { RepositorySummary, TagDetail, UntaggedManifest } from '../../storage/browse-rows.js';
import { digestParam, indexNameOf, tagParam } from '../browse-input.js';
import { Bytes, Digest, Time } from '../components.js';
import type { ConsoleRoutes } from '../context.js';
import { Layout } from '../layout.js';
import { kindText, visibleRepository, type Rights } from '../repository-access.js';
import { shownArtifactType } from '../manifest-facts.js';
import { tagFacts, type TagFacts } from '../tag-facts.js';
import { urls } from '../urls.js';
import { manifestPage } from './manifest.js';
import { messagePage } from './message.js';
import { flushPulls } from './repositories.js';

/** Tags (and untagged manifests) a page shows. */
export const TAGS_PAGE = 50;
const MAX_PLATFORMS_SHOWN = 12;

/** A size that may be unknown (NaN): "n/a" then. */
export const SizeCell = (p: { n: number }) => (Number.isFinite(p.n) ? <Bytes n={p.n} /> : <span>n/a</span>);

function Platforms(p: { facts: TagFacts | undefined }) {
  const list = p.facts?.platforms ?? [];
  if (list.length === 0) return <span>–</span>;
  const more = list.length - MAX_PLATFORMS_SHOWN;
  return <span>{list.slice(0, MAX_PLATFORMS_SHOWN).join(', ')}{more > 0 ? ` and ${more} more` : ''}</span>;
}

function TagsTable(p: { repo: RepositorySummary; rights: Rights; tags: TagDetail[]; facts: Map<string, TagFacts>; now: number }) {
  const { repo, rights } = p;
  const actions = rights.delete || rights.evict;
  return (
    <div class="table-wrap">
      <table>
        <caption>Tags of {repo.name}</caption>
        <thead>
          <tr>
            <th scope="col">Tag</th><th scope="col" class="hide-narrow">Digest</th><th scope="col" class="num">Size</th><th scope="col">Platforms</th>
            <th scope="col">Last pull</th><th scope="col">{repo.kind === 'local' ? 'Pushed' : 'Fetched'}</th>
            {actions ? <th scope="col">Actions</th> : null}
          </tr>
        </thead>
        <tbody>
          {p.tags.map((t) => {
            const facts = p.facts.get(t.digest);
            return (
              <tr>
                <td><a href={urls.manifest(repo.name, t.tag)}>{t.tag}</a></td>
                <td class="hide-narrow"><Digest digest={t.digest} /></td>
                <td class="num">
                  <SizeCell n={facts?.size ?? Number.NaN} />
                  {facts?.cached && facts.cached.count < facts.cached.of ? <small> ({facts.cached.count} of {facts.cached.of} cached)</small> : null}
                </td>
                <td><Platforms facts={facts} /></td>
                <td><Time at={t.lastAccess} now={p.now} /></td>
                <td><Time at={t.fetchedAt} now={p.now} /></td>
                {actions ? (
                  <td>
                    {rights.delete ? <a href={urls.deleteTag(repo.name, t.tag)}>Delete</a> : null}
                    {rights.evict ? <a href={urls.evict(repo.name, t.tag)}>Evict</a> : null}
                  </td>
                ) : null}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function UntaggedTable(p: { repo: RepositorySummary; rights: Rights; rows: UntaggedManifest[]; facts: Map<string, TagFacts>; now: number }) {
  const { repo } = p;
  return (
    <div class="table-wrap">
      <table>
        <caption>Manifests of {repo.name} that no tag names</caption>
        <thead>
          <tr>
            <th scope="col">Digest</th><th scope="col" class="hide-narrow">Type</th><th scope="col" class="num">Size</th><th scope="col">Refers to</th>
            <th scope="col">Pushed</th><th scope="col" class="hide-narrow">Last pull</th>{p.rights.delete ? <th scope="col">Actions</th> : null}
          </tr>
        </thead>
        <tbody>
          {p.rows.map((m) => (
            <tr>
              <td><a href={urls.manifest(repo.name, m.digest)}><Digest digest={m.digest} /></a></td>
              <td class="hide-narrow">{shownArtifactType(m.artifactType) ?? m.mediaType}</td>
              <td class="num"><SizeCell n={p.facts.get(m.digest)?.size ?? Number.NaN} /></td>
              <td>{m.subject ? <a href={urls.manifest(repo.name, m.subject)}><Digest digest={m.subject} /></a> : '–'}</td>
              <td><Time at={m.createdAt} now={p.now} /></td>
              <td class="hide-narrow"><Time at={m.lastAccess} now={p.now} /></td>
              {p.rights.delete ? <td><a href={urls.deleteManifest(repo.name, m.digest)}>Delete</a></td> : null}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * GET /ui/repositories/<name>: a repository's tags (and, for a local one, its manifests
 * without a tag); GET /ui/repositories/<name>/-/manifests/<ref>: a manifest (manifest.tsx).
 * Names hold slashes, so one route takes the rest of the path and splits it at `/-/`.
 */
export const repositoryRoutes: ConsoleRoutes = (ui, ctx) => {
  ui.get('/ui/repositories/*', async (c) => {
    const { viewer } = c.var;
    // The raw path: each segment is decoded once, here (a %2F inside a segment stays no separator).
    const rest = new URL(c.req.url).pathname.slice('/ui/repositories/'.length);
    if (rest === '') return c.redirect(urls.repositories(), 301);
    const at = rest.indexOf('/-/');
    const name = indexNameOf(at < 0 ? rest.replace(/\/$/, '') : rest.slice(0, at));
    if (at >= 0) {
      const sub = rest.slice(at + 3);
      if (!sub.startsWith('manifests/') || sub.length === 'manifests/'.length || sub.indexOf('/', 'manifests/'.length) >= 0) {
        return messagePage(c, ctx, { title: 'Not found', status: 404, text: 'There is no such page.' });
      }
      return manifestPage(c, ctx, name, sub.slice('manifests/'.length));
    }
    const tagsAfter = tagParam(c.req.query('after'), 'after');
    const untaggedAfter = digestParam(c.req.query('untagged_after'), 'untagged_after');
    await flushPulls(ctx);
    const { repo, rights } = await visibleRepository(ctx, viewer, name);
    const browse = ctx.ports.browse;
    const tags = await browse.listTagDetails(repo.name, tagsAfter || undefined, TAGS_PAGE + 1);
    const shown = tags.slice(0, TAGS_PAGE);
    const facts = await tagFacts(browse, repo.name, shown.map((t) => t.digest));
    const untagged = repo.kind === 'local' ? await browse.listUntaggedManifests(repo.name, untaggedAfter || undefined, TAGS_PAGE + 1) : [];
    const untaggedFacts = await tagFacts(browse, repo.name, untagged.slice(0, TAGS_PAGE).map((m) => m.digest));
    const now = ctx.now();
    const here = urls.repository(repo.name);
    const page = (params: Record<string, string>) => (Object.keys(params).length ? `${here}?${new URLSearchParams(params)}` : here);
    return c.html(
      <Layout title={repo.name} viewer={viewer} assets={ctx.assets} section="repositories">
        <p><a href={urls.repositories()}>All repositories</a></p>
        <dl class="figures compact">
          <div class="figure"><dt>Kind</dt><dd>{kindText(repo)}</dd></div>
          <div class="figure"><dt>Size</dt><dd><Bytes n={repo.bytes} /></dd></div>
          <div class="figure"><dt>Tags</dt><dd>{repo.tags}</dd></div>
          <div class="figure"><dt>Pulls</dt><dd>{repo.pulls}<small>last <Time at={repo.lastPull} now={now} /></small></dd></div>
        </dl>
        <h2 id="tags">Tags</h2>
        {shown.length === 0 ? <p>No tags{tagsAfter ? ' after this one' : ''}.</p> : <TagsTable repo={repo} rights={rights} tags={shown} facts={facts} now={now} />}
        <nav class="pager" aria-label="Pages of tags">
          {tagsAfter ? <a href={page({})}>First page</a> : null}
          {tags.length > TAGS_PAGE ? <a href={page({ after: shown[shown.length - 1]!.tag })} rel="next">Next page</a> : null}
        </nav>
        {repo.kind === 'local' ? (
          <>
            <h2 id="untagged">Manifests without a tag</h2>
            {untagged.length === 0 ? <p>None{untaggedAfter ? ' after this one' : ''}.</p>
              : <UntaggedTable repo={repo} rights={rights} rows={untagged.slice(0, TAGS_PAGE)} facts={untaggedFacts} now={now} />}
            <nav class="pager" aria-label="Pages of manifests without a tag">
              {untaggedAfter ? <a href={page({})}>First page</a> : null}
              {untagged.length > TAGS_PAGE ? <a href={page({ untagged_after: untagged[TAGS_PAGE - 1]!.digest })}>Next page</a> : null}
            </nav>
          </>
        ) : null}
      </Layout>,
    );
  });
};
