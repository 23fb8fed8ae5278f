import type { Context } from 'hono';
import type { Action, AuthGuard, AuthRequest } from '../auth/auth-guard.js';
import { callerOrigin, createTrustedProxies, type TrustedProxies } from '../auth/forwarded.js';
import { setActor } from '../events/repository-events.js';
import { OciError } from '../oci/errors.js';
import type { RepositoryResolver, ResolvedRepository } from '../routing/resolve-repository.js';
import type { AppEnv } from './app-env.js';
import type { createBlobHandler } from './blob-routes.js';
import type { createCatalogHandler, createReferrersHandler } from './discovery-routes.js';
import type { createManifestHandler, createMirroredManifestDelete } from './manifest-routes.js';
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
  /** An admin's DELETE of a mirrored manifest: evicts that cached image (issue 11). Absent: refused as read-only. */
  evictMirrored?: ReturnType<typeof createMirroredManifestDelete>;
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
  return authRequestOf(c.env?.incoming?.socket?.remoteAddress, (name) => c.req.header(name), tls, proxies);
}

/** authRequest for a caller known by its peer address and a header reader (also the Node entry's). */
export function authRequestOf(peer: string | undefined, header: (name: string) => string | undefined, tls: boolean, proxies: TrustedProxies = NO_PROXIES): AuthRequest {
  const caller = callerOrigin(peer, header, proxies, tls);
  return { authorization: header('authorization'), ...caller };
}

/** A /v2/ route that names a repository. */
export type RepositoryRoute = Exclude<V2Route, { kind: 'ping' | 'catalog' | 'unknown' }>;

/** A request located: its repository and what it needs to be allowed. */
export interface Located {
  resolved: ResolvedRepository;
  actions: Action[];
}

/**
 * The decision every repository request goes through, whichever step answers it (the
 * memo step in v2-entry.ts or the router below): `locate` chooses the repository and the
 * actions needed, refusing writes to read-only repositories (no side effects: it may run
 * again); `admit` asks the auth guard, and returns the user.
 */
export function createV2Gate(deps: { resolver: RepositoryResolver; guard: AuthGuard }) {
  const { resolver, guard } = deps;
  return {
    /** The repository a name resolves to, without deciding anything (the admin eviction). */
    resolve: (name: string, ns: string | undefined): ResolvedRepository => resolver.resolve(name, ns),
    locate(route: RepositoryRoute, method: string, ns: string | undefined, path: string): Located {
      const resolved = resolver.resolve(route.name, ns);
      const actions = requiredActions(route.kind, method);
      if (!actions) throw new OciError('UNSUPPORTED', { detail: { method, path } });
      // Refused before authorization: no credentials make a mirrored repository writable.
      if (!resolved.repository.writable && actions.some((a) => a !== 'pull')) {
        throw new OciError('DENIED', { message: 'mirrored repositories are read-only', detail: { name: route.name } });
      }
      return { resolved, actions };
    },
    admit(located: Located, auth: AuthRequest): Promise<string | undefined> {
      return guard.authorize(auth, located.resolved.name, located.resolved.kind, located.actions);
    },
    /**
     * What `admit` decides for a request without credentials, without waiting for it:
     * true when the access rules let anyone do the actions (authorize() would return
     * undefined, the anonymous user). False means: ask `admit`.
     */
    admitsAnonymous(located: Located): boolean {
      const { name, kind } = located.resolved;
      return located.actions.every((a) => guard.allowed(undefined, name, kind, a));
    },
  };
}

export type V2Gate = ReturnType<typeof createV2Gate>;

/**
 * The /v2/ router, in order: 1. parse the path; 2. choose the repository (local namespace
 * or upstream) and refuse writes to mirrored names; 3. authorize (the gate); 4. hand over
 * to the endpoint's handler.
 */
export function createV2Handler(deps: {
  gate: V2Gate; guard: AuthGuard; tls: boolean; proxies?: TrustedProxies; handlers: V2Handlers;
  /** auth.admins: who may evict a mirrored image with DELETE. */
  admins?: readonly string[];
}) {
  const { gate, guard, handlers } = deps;
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
    if (route.kind === 'manifest' && method === 'DELETE' && handlers.evictMirrored) {
      // A mirrored manifest stays read-only to everyone but an admin named in auth.admins
      // (not the loopback fallback of /admin/*: deleting takes a login), whose DELETE evicts
      // the cached image (the next pull fetches it again); refused as before otherwise.
      const resolved = gate.resolve(route.name, c.req.query('ns'));
      if (resolved.kind === 'mirror' && (await isNamedAdmin(guard, auth, deps.admins ?? []))) return handlers.evictMirrored(c, resolved, route.reference);
    }
    const located = gate.locate(route, method, c.req.query('ns'), c.req.path);
    const repo = located.resolved.repository;
    const user = await gate.admit(located, auth);
    if (user !== undefined) c.set('user', user);
    setActor(repo, user);

    switch (route.kind) {
      case 'manifest':
        return handlers.manifest(c, repo, route.reference);
      case 'blob':
        return handlers.blob(c, repo, route.digest);
      case 'tags':
        return handlers.tags(c, repo);
      case 'referrers':
        return handlers.referrers(c, repo, route.digest);
      case 'upload-start':
        return handlers.uploads.start(c, repo);
      case 'upload':
        return handlers.uploads.handle(c, repo, route.id);
    }
  };
}

/** Whether the caller logged in (Basic or token) as a user of auth.admins; bad credentials are not an error here. */
async function isNamedAdmin(guard: AuthGuard, auth: AuthRequest, admins: readonly string[]): Promise<boolean> {
  if (admins.length === 0 || auth.authorization === undefined) return false;
  try {
    const user = await guard.identify(auth);
    return user !== undefined && admins.includes(user);
  } catch {
    return false;
  }
}

/** For cross-repository mounts: may the request's caller pull from `from`? */
export function createMountCheck(resolver: RepositoryResolver, guard: AuthGuard) {
  return async (c: Context<AppEnv>, from: string): Promise<boolean> => {
    try {
      resolver.target(from); // a bad name is no mount source
    } catch {
      return false;
    }
    // Only a local repository is a mount source: mirrored content is never mounted.
    return resolver.isLocal(from) && guard.allowed(c.get('user'), from, 'local', 'pull');
  };
}
