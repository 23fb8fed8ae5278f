import type { Context } from 'hono';
import { OciError } from '../oci/errors.js';
import type { Repository, TagPage } from '../repository/repository.js';
import type { AppEnv } from './app-env.js';
import { API_VERSION } from './respond.js';

/** Parses the `n` and `last` pagination parameters shared by tags/list and _catalog. */
export function pageParams(c: Context<AppEnv>): { n: number | undefined; last: string | undefined } {
  const nText = c.req.query('n');
  let n: number | undefined;
  if (nText !== undefined && nText !== '') {
    n = Number(nText);
    if (!Number.isInteger(n) || n < 0) throw new OciError('UNSUPPORTED', { status: 400, message: 'n must be a non-negative integer' });
  }
  return { n, last: c.req.query('last') || undefined };
}

/** The `Link: <...>; rel="next"` header for the page after `last`. */
export function nextLink(path: string, n: number | undefined, last: string, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams({ ...(n !== undefined ? { n: String(n) } : {}), last, ...extra });
  return `<${path}?${q.toString()}>; rel="next"`;
}

/** GET /v2/<name>/tags/list?n=&last= (end-8): asked of the upstream, or the local index. */
export function createTagsHandler() {
  return async (c: Context<AppEnv>, repo: Repository): Promise<Response> => {
    const ns = c.req.query('ns');
    const { n, last } = pageParams(c);
    // n=0 asks for nothing: neither the upstream nor the index is asked.
    const page: TagPage = n === 0 ? { tags: [], stale: false } : await repo.listTags(n, last);
    const headers: Record<string, string> = { ...API_VERSION, 'Content-Type': 'application/json' };
    if (page.next !== undefined) headers.Link = nextLink(`/v2/${repo.name}/tags/list`, n, page.next, ns ? { ns } : {});
    if (page.stale) headers.Warning = '299 - "tag list served from cache: the upstream registry is unavailable"';
    return new Response(JSON.stringify({ name: repo.name, tags: page.tags }), { status: 200, headers });
  };
}
