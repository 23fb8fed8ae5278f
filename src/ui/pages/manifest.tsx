import type { Context } from 'hono';
import { OciError } from '../../oci/errors.js';
import type { ManifestRow, ReferrerRow } from '../../storage/index-rows.js';
import type { RepositorySummary } from '../../storage/browse-rows.js';
import { referenceOf, type PageReference } from '../browse-input.js';
import { Bytes, Digest, Time } from '../components.js';
import type { ConsoleEnv } from '../console-env.js';
import type { ConsoleContext } from '../context.js';
import { Layout } from '../layout.js';
import { imageSize, rawText, readManifestFacts, shownArtifactType, type ManifestFacts, type ShownDescriptor } from '../manifest-facts.js';
import { pullLines, pullReference } from '../pull-lines.js';
import { kindText, visibleRepository, type Rights } from '../repository-access.js';
import { urls } from '../urls.js';

/** Referrers listed at most. */
const MAX_REFERRERS = 100;

const SizeText = (p: { n: number }) => (Number.isFinite(p.n) ? <Bytes n={p.n} /> : <span>–</span>);

function PullLine(p: { id: string; label: string; line: string }) {
  return (
    <div>
      <label for={p.id}>{p.label}</label>
      <div class="copy">
        <input id={p.id} readonly value={p.line} />
        <button type="button" data-copy={p.id}>Copy</button>
      </div>
    </div>
  );
}

function Platforms(p: { repo: string; facts: ManifestFacts; cached: Set<string> }) {
  return (
    <div class="table-wrap">
      <table>
        <caption>Platform manifests of this index</caption>
        <thead><tr><th scope="col">Platform</th><th scope="col">Digest</th><th scope="col" class="hide-narrow">Media type</th><th scope="col" class="num">Size</th><th scope="col">Cached</th></tr></thead>
        <tbody>
          {p.facts.manifests.map((m) => (
            <tr>
              <td>{m.platform ?? '–'}{m.artifactType ? ` (${m.artifactType})` : ''}</td>
              <td>{p.cached.has(m.digest) ? <a href={urls.manifest(p.repo, m.digest)}><Digest digest={m.digest} /></a> : <Digest digest={m.digest} />}</td>
              <td class="hide-narrow">{m.mediaType || '–'}</td>
              <td class="num"><SizeText n={m.size} /></td>
              <td>{p.cached.has(m.digest) ? 'yes' : 'no'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {p.facts.omitted > 0 ? <p class="hint">and {p.facts.omitted} more entries (see the raw manifest)</p> : null}
    </div>
  );
}

function Layers(p: { facts: ManifestFacts }) {
  const row = (what: string, d: ShownDescriptor) => (
    <tr><td>{what}</td><td><Digest digest={d.digest} /></td><td class="hide-narrow">{d.mediaType || '–'}</td><td class="num"><SizeText n={d.size} /></td></tr>
  );
  return (
    <div class="table-wrap">
      <table>
        <caption>Config and layers, as the manifest lists them</caption>
        <thead><tr><th scope="col">Part</th><th scope="col">Digest</th><th scope="col" class="hide-narrow">Media type</th><th scope="col" class="num">Size</th></tr></thead>
        <tbody>
          {p.facts.config ? row('config', p.facts.config) : null}
          {p.facts.layers.map((l, i) => row(`layer ${i + 1}`, l))}
        </tbody>
        <tfoot><tr><th scope="row" colspan={2}>Total</th><td class="hide-narrow"></td><td class="num"><SizeText n={imageSize(p.facts)} /></td></tr></tfoot>
      </table>
      {p.facts.omitted > 0 ? <p class="hint">and {p.facts.omitted} more layers (see the raw manifest)</p> : null}
    </div>
  );
}

function Referrers(p: { repo: string; rows: ReferrerRow[] }) {
  return (
    <div class="table-wrap">
      <table>
        <caption>Manifests that refer to this one (signatures, SBOMs, attestations)</caption>
        <thead><tr><th scope="col">Artifact type</th><th scope="col">Digest</th><th scope="col" class="num">Size</th></tr></thead>
        <tbody>
          {p.rows.slice(0, MAX_REFERRERS).map((r) => (
            <tr>
              <td>{r.artifactType ?? r.mediaType}</td>
              <td><a href={urls.manifest(p.repo, r.digest)}><Digest digest={r.digest} /></a></td>
              <td class="num"><Bytes n={r.size} /></td>
            </tr>
          ))}
        </tbody>
      </table>
      {p.rows.length > MAX_REFERRERS ? <p class="hint">and {p.rows.length - MAX_REFERRERS} more</p> : null}
    </div>
  );
}

function Actions(p: { repo: RepositorySummary; rights: Rights; ref: PageReference; digest: string }) {
  const { repo, rights, ref } = p;
  const links = [
    rights.evict ? <a href={urls.evict(repo.name, ref.kind === 'tag' ? ref.tag : ref.digest)}>Evict this image</a> : null,
    rights.delete && ref.kind === 'tag' ? <a href={urls.deleteTag(repo.name, ref.tag)}>Delete tag</a> : null,
    rights.delete ? <a href={urls.deleteManifest(repo.name, p.digest)}>Delete this manifest</a> : null,
  ].filter((x) => x !== null);
  return links.length === 0 ? null : <p class="actions">{links}</p>;
}

/** The manifest `ref` names in the repository, or 404: only this repository's tags and links count. */
async function resolve(ctx: ConsoleContext, repo: string, ref: PageReference): Promise<{ row: ManifestRow; tag?: { fetchedAt: number; checkedAt: number } }> {
  const tag = ref.kind === 'tag' ? await ctx.ports.tags.getTag(repo, ref.tag) : undefined;
  const digest = ref.kind === 'tag' ? tag?.digest : ref.digest;
  const [row] = digest === undefined ? [] : await ctx.ports.browse.repoManifests(repo, [digest]);
  if (!row) throw new OciError('MANIFEST_UNKNOWN', { message: 'This repository has no such manifest cached.' });
  return { row, ...(tag ? { tag } : {}) };
}

/**
 * GET /ui/repositories/<name>/-/manifests/<tag or digest>: a manifest or index as the index
 * holds it. The console never dials an upstream: a tag the index does not hold is a 404.
 */
export async function manifestPage(c: Context<ConsoleEnv>, ctx: ConsoleContext, name: string, encodedRef: string) {
  const { viewer } = c.var;
  const ref = referenceOf(encodedRef);
  const { repo, rights } = await visibleRepository(ctx, viewer, name);
  const { row, tag } = await resolve(ctx, repo.name, ref);
  const facts = readManifestFacts(row.bytes);
  const cached = facts.kind === 'index'
    ? new Set((await ctx.ports.browse.repoManifests(repo.name, facts.manifests.map((m) => m.digest))).map((m) => m.digest))
    : new Set<string>();
  const referrers = await ctx.ports.manifests.referrers(repo.name, row.digest);
  const pullRef = pullReference(viewer.origin, repo, ctx.config.upstream.name, ref.kind === 'tag' ? ref.tag : ref.digest);
  const lines = pullLines(viewer.origin, pullRef);
  const now = ctx.now();
  const title = ref.kind === 'tag' ? `${repo.name}:${ref.tag}` : `${repo.name}@${ref.digest}`;
  return c.html(
    <Layout title={title} viewer={viewer} assets={ctx.assets} section="repositories">
      <p><a href={urls.repository(repo.name)}>Back to {repo.name}</a></p>
      <dl class="facts">
        <dt>Repository</dt><dd>{kindText(repo)}</dd>
        <dt>Media type</dt><dd>{row.mediaType}</dd>
        {shownArtifactType(row.artifactType) ? <><dt>Artifact type</dt><dd>{row.artifactType}</dd></> : null}
        <dt>Digest</dt><dd><code>{row.digest}</code></dd>
        <dt>Manifest size</dt><dd><Bytes n={row.size} /></dd>
        {facts.kind === 'image' ? <><dt>Image size</dt><dd><SizeText n={imageSize(facts)} /></dd></> : null}
        {tag ? <><dt>{repo.kind === 'local' ? 'Pushed' : 'Fetched'}</dt><dd><Time at={tag.fetchedAt} now={now} /></dd></> : null}
        {tag && repo.kind === 'mirror' ? <><dt>Checked upstream</dt><dd><Time at={tag.checkedAt} now={now} /></dd></> : null}
        {facts.subject ? <><dt>Refers to</dt><dd><a href={urls.manifest(repo.name, facts.subject.digest)}><Digest digest={facts.subject.digest} /></a></dd></> : null}
      </dl>
      <Actions repo={repo} rights={rights} ref={ref} digest={row.digest} />
      <h2 id="pull">Pull</h2>
      <PullLine id="pull-docker" label="docker" line={lines.docker} />
      <PullLine id="pull-crane" label="crane" line={lines.crane} />
      {facts.kind === 'index' ? <><h2 id="platforms">Platforms</h2><Platforms repo={repo.name} facts={facts} cached={cached} /></> : null}
      {facts.kind === 'image' ? <><h2 id="layers">Config and layers</h2><Layers facts={facts} /></> : null}
      {facts.annotations.length > 0 ? (
        <>
          <h2 id="annotations">Annotations</h2>
          <dl class="facts">{facts.annotations.map(([k, v]) => <><dt><code>{k}</code></dt><dd>{v}</dd></>)}</dl>
        </>
      ) : null}
      <h2 id="referrers">Referrers</h2>
      {referrers.length === 0 ? <p>None.</p> : <Referrers repo={repo.name} rows={referrers} />}
      <h2 id="raw">Raw manifest</h2>
      <pre class="raw" tabindex={0}>{rawText(row.bytes, facts)}</pre>
    </Layout>,
  );
}
