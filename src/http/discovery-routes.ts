import type { Context } from 'hono';
import { parseDigest } from '../oci/digest.js';
import { MEDIA_TYPES } from '../oci/manifest.js';
import type { LocalRegistry } from '../registry/local-registry.js';
import type { Repository } from '../repository/repository.js';
import type { AppEnv } from './app-env.js';
import { API_VERSION } from './respond.js';
import { nextLink, pageParams } from './tag-routes.js';

/** GET /v2/_catalog?n=&last=: the local repositories the caller may pull. */
export function createCatalogHandler(deps: { catalog: LocalRegistry['catalog'] }) {
  return async (c: Context<AppEnv>, visible: (name: string) => boolean): Promise<Response> => {
    const { n, last } = pageParams(c);
    const page = n === 0 ? { items: [] as string[], next: undefined } : await deps.catalog(n, last, visible);
    const headers: Record<string, string> = { ...API_VERSION, 'Content-Type': 'application/json' };
    if (page.next !== undefined) headers.Link = nextLink('/v2/_catalog', n, page.next);
    return new Response(JSON.stringify({ repositories: page.items }), { status: 200, headers });
  };
}

/**
 * GET /v2/<name>/referrers/<digest>?artifactType= (end-12): an image index, never a 404.
 * Mirrored repositories answer an empty index (referrers are not mirrored yet).
 */
export function createReferrersHandler() {
  return async (c: Context<AppEnv>, repo: Repository, digestText: string): Promise<Response> => {
    const digest = parseDigest(digestText);
    const artifactType = c.req.query('artifactType') || undefined;
    const headers: Record<string, string> = { ...API_VERSION, 'Content-Type': MEDIA_TYPES.ociIndex };
    if (artifactType) headers['OCI-Filters-Applied'] = 'artifactType';
    const body = await repo.referrers(digest, artifactType);
    return new Response(body as BodyInit, { status: 200, headers });
  };
}
