import type { Context } from 'hono';
import { evictImage, type EvictDeps } from '../admin/evict.js';
import { OciError } from '../oci/errors.js';
import { isValidTag, parseReference, type Reference } from '../oci/names.js';
import type { Repository } from '../repository/repository.js';
import type { ResolvedRepository } from '../routing/resolve-repository.js';
import type { AppEnv } from './app-env.js';
import { readSmallBody } from './request-body.js';
import { API_VERSION, manifestResponse } from './respond.js';

/** /v2/<name>/manifests/<reference>: GET/HEAD (end-3), PUT (end-7), DELETE (end-9). */
export function createManifestHandler(deps: { maxManifestBytes: number }) {
  return async (c: Context<AppEnv>, repo: Repository, reference: string): Promise<Response> => {
    const ref = readableReference(c.req.method, reference);
    switch (c.req.method) {
      case 'PUT': {
        const bytes = await readSmallBody(c, deps.maxManifestBytes);
        const { digest, subject } = await repo.putManifest(ref, bytes, c.req.header('content-type'), c.get('user'));
        const headers: Record<string, string> = {
          ...API_VERSION, Location: `/v2/${repo.name}/manifests/${digest}`, 'Docker-Content-Digest': digest,
        };
        if (subject) headers['OCI-Subject'] = subject;
        return new Response(null, { status: 201, headers });
      }
      case 'DELETE':
        await repo.deleteManifest(ref);
        return new Response(null, { status: 202, headers: API_VERSION });
      default: {
        const m = await (c.req.method === 'HEAD' ? repo.headManifest(ref) : repo.getManifest(ref));
        return manifestResponse(c, m);
      }
    }
  };
}

/**
 * An admin's DELETE /v2/<mirrored name>/manifests/<ref> (v2-routes.ts decides who): evicts
 * that cached image as `registry-mirror evict` does (admin/evict.ts): the manifest(s), the
 * tag and the blobs nothing else uses. 202 as any DELETE; 404 MANIFEST_UNKNOWN when not cached.
 */
export function createMirroredManifestDelete(deps: EvictDeps & { forget: (cacheRepo: string) => void }) {
  return async (_c: Context<AppEnv>, resolved: ResolvedRepository, reference: string): Promise<Response> => {
    await evictImage(deps, resolved.cacheRepo, parseReference(reference));
    // The evicted tag must not be answered from memory (the memo step) until its TTL runs out.
    deps.forget(resolved.cacheRepo);
    return new Response(null, { status: 202, headers: API_VERSION });
  };
}

/**
 * A GET/HEAD by a reference that cannot be a tag (e.g. `.INVALID_MANIFEST_NAME`) asks for a
 * manifest that cannot exist: 404 MANIFEST_UNKNOWN, as the distribution-spec conformance
 * suite expects. A write by one stays a 400 (the client must fix it); a malformed digest
 * stays 400 DIGEST_INVALID.
 */
function readableReference(method: string, reference: string): Reference {
  if ((method === 'GET' || method === 'HEAD') && !reference.includes(':') && !isValidTag(reference)) {
    throw new OciError('MANIFEST_UNKNOWN', { detail: { reference: reference.slice(0, 256) } });
  }
  return parseReference(reference);
}
