import type { RepositorySummary } from '../../storage/browse-rows.js';
import { choiceParam, textParam } from '../browse-input.js';
import { Bytes, Notice, Time } from '../components.js';
import type { Viewer } from '../console-env.js';
import type { ConsoleContext, ConsoleRoutes } from '../context.js';
import { Layout } from '../layout.js';
import { kindText } from '../repository-access.js';
import { rightsOf } from '../rights.js';
import { urls } from '../urls.js';

/**
 * Pulls counted since the stats' last flush belong in the tables: written now (a no-op when
 * nothing is pending). A failing write leaves the figures a few seconds behind, no more.
 */
export async function flushPulls(ctx: ConsoleContext): Promise<void> {
  try {
    await ctx.stats.flush();
  } catch (err) {
    ctx.log.warn('console: stats flush failed', { error: err });
  }
}

/** Rows a page shows. */
export const PAGE_SIZE = 50;
/** Index rows read per request at most while filtering out what the viewer may not pull. */
export const SCAN_CAP = 2_000;
const CHUNK = 200;
export const MAX_SEARCH = 200;

interface Filters {
  q: string;
  kind: 'mirror' | 'local' | '';
  upstream: string;
}

interface Listing {
  rows: RepositorySummary[];
  /** The `after` of the next page, when there is one. */
  next?: string;
  /** The scan stopped at SCAN_CAP rows: more may match. */
  capped: boolean;
}

/**
 * One page of the repositories the viewer may pull. Rules are name patterns, so visibility
 * is decided here, row by row, while walking the index in chunks; the walk stops at a full
 * page or after SCAN_CAP rows (then the next page resumes where it stopped).
 */
async function listVisible(ctx: ConsoleContext, viewer: Viewer, f: Filters, after: string): Promise<Listing> {
  // Mirrored repositories are visible all or none (the rules do not name them): skip the walk when none.
  const mirrors = rightsOf(ctx.guard, viewer, '', 'mirror').pull;
  let kind = f.kind;
  if (!mirrors) {
    if (kind === 'mirror' || f.upstream !== '') return { rows: [], capped: false };
    kind = 'local';
  }
  const sees = (r: RepositorySummary) => rightsOf(ctx.guard, viewer, r.name, r.kind).pull;
  const everything = viewer.admin || kind === 'mirror';
  const chunk = everything ? PAGE_SIZE + 1 : CHUNK;
  const rows: RepositorySummary[] = [];
  let cursor = after;
  let scanned = 0;
  for (;;) {
    const batch = await ctx.ports.browse.listRepositories({
      ...(kind ? { kind } : {}), ...(f.upstream ? { upstream: f.upstream } : {}), ...(f.q ? { search: f.q } : {}),
      ...(cursor ? { after: cursor } : {}), limit: chunk,
    });
    for (const r of batch) {
      scanned++;
      cursor = r.name;
      if (!sees(r)) continue;
      rows.push(r);
      if (rows.length > PAGE_SIZE) return { rows: rows.slice(0, PAGE_SIZE), next: rows[PAGE_SIZE - 1]!.name, capped: false };
    }
    if (batch.length < chunk) return { rows, capped: false };
    if (scanned >= SCAN_CAP) return { rows, next: cursor, capped: true };
  }
}

function RepositoryTable(p: { rows: RepositorySummary[]; now: number }) {
  return (
    <div class="table-wrap">
      <table>
        <caption>Repositories you may pull</caption>
        <thead>
          <tr><th scope="col">Repository</th><th scope="col">Kind</th><th scope="col" class="num">Size</th>
            <th scope="col" class="num">Tags</th><th scope="col">Last pull</th><th scope="col" class="num">Pulls</th></tr>
        </thead>
        <tbody>
          {p.rows.map((r) => (
            <tr>
              <td><a href={urls.repository(r.name)}>{r.name}</a></td>
              <td>{kindText(r)}</td>
              <td class="num"><Bytes n={r.bytes} /></td>
              <td class="num">{r.tags}</td>
              <td><Time at={r.lastPull} now={p.now} /></td>
              <td class="num">{r.pulls}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** GET /ui/repositories?q=&kind=&upstream=&after=: mirrored and local repositories, searchable, keyset-paged. */
export const repositoriesRoutes: ConsoleRoutes = (ui, ctx) => {
  const upstreams = ctx.config.upstreams.map((u) => u.name);
  ui.get('/ui/repositories', async (c) => {
    const { viewer } = c.var;
    const f: Filters = {
      q: textParam(c.req.query('q'), 'q', MAX_SEARCH).trim(),
      kind: choiceParam(c.req.query('kind'), 'kind', ['mirror', 'local'] as const),
      upstream: choiceParam(c.req.query('upstream'), 'upstream', upstreams),
    };
    const after = textParam(c.req.query('after'), 'after', 512);
    await flushPulls(ctx);
    const listing = await listVisible(ctx, viewer, f, after);
    const keep: Record<string, string> = {};
    if (f.q) keep.q = f.q;
    if (f.kind) keep.kind = f.kind;
    if (f.upstream) keep.upstream = f.upstream;
    return c.html(
      <Layout title="Repositories" viewer={viewer} assets={ctx.assets} section="repositories">
        <form method="get" action="/ui/repositories" class="toolbar" role="search">
          <div><label for="q">Search</label><input id="q" name="q" type="search" value={f.q} maxlength={MAX_SEARCH} /></div>
          <div>
            <label for="kind">Kind</label>
            <select id="kind" name="kind">
              <option value="" selected={f.kind === ''}>All</option>
              <option value="mirror" selected={f.kind === 'mirror'}>Mirrored</option>
              <option value="local" selected={f.kind === 'local'}>Local</option>
            </select>
          </div>
          <div>
            <label for="upstream">Upstream</label>
            <select id="upstream" name="upstream">
              <option value="" selected={f.upstream === ''}>Any</option>
              {upstreams.map((u) => <option value={u} selected={f.upstream === u}>{u}</option>)}
            </select>
          </div>
          <button type="submit">Search</button>
        </form>
        {listing.capped ? <Notice kind="warn">Stopped after {SCAN_CAP.toLocaleString('en-US')} repositories: more may match: refine the search.</Notice> : null}
        {listing.rows.length === 0
          ? <p>No repositories {after ? 'on this page' : 'match'}.</p>
          : <RepositoryTable rows={listing.rows} now={ctx.now()} />}
        <nav class="pager" aria-label="Pages">
          {after ? <a href={urls.repositories(keep)}>First page</a> : null}
          {listing.next ? <a href={urls.repositories({ ...keep, after: listing.next })} rel="next">Next page</a> : null}
        </nav>
      </Layout>,
    );
  });
};
