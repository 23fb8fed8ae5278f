import type { Context } from 'hono';
import { parseReference } from '../oci/names.js';
import type { Metrics } from '../admin/metrics.js';
import type { ManifestProxy } from '../proxy/manifests.js';
import type { LocalRegistry } from '../registry/local-registry.js';
import type { RepositoryTarget } from '../routing/resolve-repository.js';
import type { AppEnv } from './app-env.js';
import { readSmallBody } from './request-body.js';
import { API_VERSION, manifestResponse } from './respond.js';

/** /v2/<name>/manifests/<reference>: GET/HEAD (end-3), PUT (end-7), DELETE (end-9). */
export function createManifestHandler(deps: {
  manifests: ManifestProxy; registry: LocalRegistry; metrics: Metrics; maxManifestBytes: number;
}) {
  return async (c: Context<AppEnv>, target: RepositoryTarget, reference: string): Promise<Response> => {
    const ref = parseReference(reference);
    switch (c.req.method) {
      case 'PUT': {
        const bytes = await readSmallBody(c, deps.maxManifestBytes);
        const { digest, subject } = deps.registry.putManifest(target.name, ref, bytes, c.req.header('content-type'));
        const headers: Record<string, string> = {
          ...API_VERSION, Location: `/v2/${target.name}/manifests/${digest}`, 'Docker-Content-Digest': digest,
        };
        if (subject) headers['OCI-Subject'] = subject;
        return new Response(null, { status: 201, headers });
      }
      case 'DELETE':
        deps.registry.deleteManifest(target.name, ref);
        return new Response(null, { status: 202, headers: API_VERSION });
      default: {
        if (target.kind === 'local') return manifestResponse(c, deps.registry.getManifest(target.name, ref));
        const m = await deps.manifests.get(target, ref);
        deps.metrics.cache.manifest[m.cache]++;
        return manifestResponse(c, m);
      }
    }
  };
}
