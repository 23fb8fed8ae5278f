import type { Context } from 'hono';
import type { Action, AuthGuard, AuthRequest } from '../auth/auth-guard.js';
import { callerOrigin, createTrustedProxies, type TrustedProxies } from '../auth/forwarded.js';
import { OciError } from '../oci/errors.js';
import type { RepositoryResolver } from '../routing/resolve-repository.js';
import type { AppEnv } from './app-env.js';
import type { createBlobHandler } from './blob-routes.js';
import type { createCatalogHandler, createReferrersHandler } from './discovery-routes.js';
import type { createManifestHandler } from './manifest-routes.js';
import { API_VERSION } from './respond.js';
import type { createTagsHandler } from './tag-routes.js';
import type { createUploadHandlers } from './upload-routes.js';
import { parseV2Path, type V2Route } from './v2-path.js';

export interface V2Handlers {
  manifest: ReturnType<typeof createManifestHandler>;
  blob: ReturnType<typeof createBlobHandler>;
  uploads: ReturnType<typeof createUploadHandlers>;
  tags: ReturnType<typeof createTagsHandler>;
  catalog: ReturnType<typeof createCatalogHandler>;
  referrers: ReturnType<typeof createReferrersHandler>;
}

const PULL: Action[] = ['pull'];
const PUSH: Action[] = ['pull', 'push'];
const DELETE: Action[] = ['delete'];

/** What a request needs, by endpoint and method; undefined: the method is not allowed there. */
function requiredActions(kind: V2Route['kind'], method: string): Action[] | undefined {
  const read = method === 'GET' || method === 'HEAD';
  switch (kind) {
    case 'manifest':
      return read ? PULL : method === 'PUT' ? PUSH : method === 'DELETE' ? DELETE : undefined;
    case 'blob':
      return read ? PULL : method === 'DELETE' ? DELETE : undefined;
    case 'upload-start':
      return method === 'POST' ? PUSH : undefined;
    case 'upload':
      return ['GET', 'HEAD', 'PATCH', 'PUT', 'DELETE'].includes(method) ? PUSH : undefined;
    case 'tags':
    case 'referrers':
      return read ? PULL : undefined;
    default:
      return undefined;
  }
}

const NO_PROXIES = createTrustedProxies([]);

/**
 * The caller's credentials, address and where it reached us (for the token realm in
 * challenges). X-Forwarded-* count only from `proxies` (http.trusted_proxies); the peer
 * address comes from the Node socket (absent under app.request() in unit tests).
 */
export function authRequest(c: Context<AppEnv>, tls: boolean, proxies: TrustedProxies = NO_PROXIES): AuthRequest {
  const caller = callerOrigin(c.env?.incoming?.socket?.remoteAddress, (name) => c.req.header(name), proxies, tls);
  return { authorization: c.req.header('authorization'), ...caller };
}

/**
 * The /v2/ dispatcher, in order: 1. parse the path; 2. choose local namespace or upstream;
 * 3. refuse writes to mirrored names; 4. authorize; 5. hand over to the endpoint's handler.
 */
export function createV2Handler(deps: { resolver: RepositoryResolver; guard: AuthGuard; tls: boolean; proxies?: TrustedProxies; handlers: V2Handlers }) {
  const { resolver, guard, handlers } = deps;
  return async (c: Context<AppEnv>): Promise<Response> => {
    const route = parseV2Path(c.req.path);
    const method = c.req.method;
    const auth = authRequest(c, deps.tls, deps.proxies);
    if (route.kind === 'ping') {
      await guard.ping(auth);
      return new Response('{}', { status: 200, headers: { ...API_VERSION, 'Content-Type': 'application/json' } });
    }
    if (route.kind === 'catalog') {
      if (method !== 'GET') throw new OciError('UNSUPPORTED', { detail: { method } });
      const user = await guard.identify(auth);
      return handlers.catalog(c, (name) => guard.allowed(user, name, 'local', 'pull'));
    }
    if (route.kind === 'unknown') {
      throw new OciError('UNSUPPORTED', { status: 404, message: 'no such endpoint', detail: { method, path: c.req.path } });
    }
    const target = resolver.resolve(route.name, c.req.query('ns'));
    const actions = requiredActions(route.kind, method);
    if (!actions) throw new OciError('UNSUPPORTED', { detail: { method, path: c.req.path } });
    if (target.kind === 'mirror' && actions.some((a) => a !== 'pull')) {
      throw new OciError('DENIED', { message: 'mirrored repositories are read-only', detail: { name: route.name } });
    }
    const user = await guard.authorize(auth, target.name, target.kind, actions);
    // The actor of the events the handlers emit (and the owner of an upload).
    c.set('user', user);

    switch (route.kind) {
      case 'manifest':
        return handlers.manifest(c, target, route.reference);
      case 'blob':
        return handlers.blob(c, target, route.digest);
      case 'tags':
        return handlers.tags(c, target);
      case 'referrers':
        return handlers.referrers(c, target, route.digest);
      case 'upload-start':
      case 'upload': {
        if (target.kind !== 'local') throw new OciError('DENIED', { detail: { name: route.name } });
        if (route.kind === 'upload') return handlers.uploads.handle(c, target, route.id);
        return handlers.uploads.start(c, target);
      }
    }
  };
}

/** For cross-repository mounts: may the request's caller pull from `from`? */
export function createMountCheck(resolver: RepositoryResolver, guard: AuthGuard) {
  return async (c: Context<AppEnv>, from: string): Promise<boolean> => {
    let target;
    try {
      target = resolver.resolve(from);
    } catch {
      return false;
    }
    return target.kind === 'local' && guard.allowed(c.get('user'), from, 'local', 'pull');
  };
}
