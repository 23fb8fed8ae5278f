import type { Context } from 'hono';
import { OciError } from '../oci/errors.js';
import type { TagsProxy } from '../proxy/tags.js';
import type { LocalRegistry } from '../registry/local-registry.js';
import type { RepositoryTarget } from '../routing/resolve-repository.js';
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
export function createTagsHandler(deps: { tags: TagsProxy; registry: LocalRegistry }) {
  return async (c: Context<AppEnv>, target: RepositoryTarget): Promise<Response> => {
    const ns = c.req.query('ns');
    const { n, last } = pageParams(c);
    let page: { tags: string[]; next?: string; stale: boolean };
    if (target.kind === 'local') {
      const p = n === 0 ? { items: [] } : deps.registry.listTags(target.name, n, last);
      page = { tags: p.items, next: p.next, stale: false };
    } else {
      page = n === 0 ? { tags: [], stale: false } : await deps.tags.list(target, n, last);
    }
    const headers: Record<string, string> = { ...API_VERSION, 'Content-Type': 'application/json' };
    if (page.next !== undefined) headers.Link = nextLink(`/v2/${target.name}/tags/list`, n, page.next, ns ? { ns } : {});
    if (page.stale) headers.Warning = '299 - "tag list served from cache: the upstream registry is unavailable"';
    return new Response(JSON.stringify({ name: target.name, tags: page.tags }), { status: 200, headers });
  };
}
