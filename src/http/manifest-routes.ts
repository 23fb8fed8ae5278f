import type { Context } from 'hono';
import { OciError } from '../oci/errors.js';
import { parseReference } from '../oci/names.js';
import type { Metrics } from '../admin/metrics.js';
import type { ManifestProxy } from '../proxy/manifests.js';
import type { RepositoryResolver } from '../routing/resolve-repository.js';
import type { AppEnv } from './app-env.js';
import { manifestResponse } from './respond.js';

/** GET/HEAD /v2/<name>/manifests/<reference> (end-3). */
export function createManifestHandler(deps: { resolver: RepositoryResolver; manifests: ManifestProxy; metrics: Metrics }) {
  return async (c: Context<AppEnv>, name: string, reference: string): Promise<Response> => {
    const method = c.req.method;
    const target = deps.resolver.resolve(name, c.req.query('ns'));
    if (method !== 'GET' && method !== 'HEAD') {
      throw new OciError('DENIED', { message: 'mirrored repositories are read-only', detail: { name } });
    }
    const m = await deps.manifests.get(target, parseReference(reference));
    deps.metrics.cache.manifest[m.cache]++;
    return manifestResponse(c, m);
  };
}
