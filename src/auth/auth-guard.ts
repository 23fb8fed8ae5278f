import { createHmac } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { OciError } from '../oci/errors.js';
import { isValidName } from '../oci/names.js';
import { ACTIONS, createAccessRules, type Action, type RepositoryKind } from './access-rules.js';
import { createBcryptPool } from './bcrypt-pool.js';
import { createFailureLimiter } from './failure-limiter.js';
import { parseBasic, quote, splitAuthorization } from './credentials.js';
import { createHtpasswd, type Htpasswd } from './htpasswd.js';
import { issueToken, loadOrCreateSecret, verifyToken, type TokenAccess } from './tokens.js';

export type { Action, RepositoryKind } from './access-rules.js';

/**
 * Who may do what, in the Docker token protocol (as Docker Hub and Harbor speak it):
 * clients only send credentials after a challenge, so /v2/ answers 401 with
 * `WWW-Authenticate: Bearer realm=".../auth/token",service="registry-mirror",scope="..."`,
 * the client fetches a token there (with Basic credentials when logged in) and repeats
 * the request with `Authorization: Bearer <token>`. Basic straight on /v2/ requests works
 * too, for curl and scripts.
 * https://distribution.github.io/distribution/spec/auth/token/
 */

/** The `service` of our challenges and the `aud` of our tokens. */
export const TOKEN_SERVICE = 'registry-mirror';
/** Where the token service is mounted; the realm when `auth.realm` is not configured. */
export const TOKEN_PATH = '/auth/token';

export interface AuthRequest {
  /** The Authorization header, as received. */
  authorization: string | undefined;
  /** Scheme, host and port the client used, e.g. http://127.0.0.1:5000 (for the realm). */
  origin: string;
  /** The client's address, for the password-failure limit (forwarded/callerOrigin). Default "unknown". */
  client?: string;
  /** The caller is on this machine (loopback, not forwarded for someone else). */
  loopback?: boolean;
}

/** What an admin surface is: /admin/* always needs an admin; /metrics may be opened by config. */
export type AdminSurface = 'admin' | 'metrics';

export interface AuthGuard {
  /** Users exist (htpasswd configured): pings challenge anonymous callers. */
  readonly enabled: boolean;
  /** GET /v2/: throws UNAUTHORIZED with the challenge (no scope) when users exist and the caller has no valid credentials. */
  ping(req: AuthRequest): Promise<void>;
  /**
   * The caller's user (undefined: anonymous) when it may do all of `actions` on `name`.
   * Otherwise throws UNAUTHORIZED with the challenge for this scope when the caller is
   * anonymous (no, invalid or expired credentials, or an anonymous token), or when a
   * user's token merely does not cover this scope (a fresh token would); DENIED when an
   * authenticated user lacks the permission.
   */
  authorize(req: AuthRequest, name: string, kind: RepositoryKind, actions: Action[]): Promise<string | undefined>;
  /** The caller's user from Basic or Bearer, undefined when anonymous; throws nothing. */
  identify(req: AuthRequest): Promise<string | undefined>;
  /** The access rules alone, e.g. for the `from` repository of a cross-repository mount. */
  allowed(user: string | undefined, name: string, kind: RepositoryKind, action: Action): boolean;
  /**
   * GET /auth/token?service=&scope=repository:NAME:ACTIONS[&scope=...]. Grants the
   * requested actions the caller is allowed; `kindOf` says whether a name is local or
   * mirrored. Bad Basic credentials: 401 (this is what makes `docker login` fail).
   */
  token(req: AuthRequest, query: URLSearchParams, kindOf: (name: string) => RepositoryKind): Promise<{ status: number; body: unknown }>;
  /**
   * /admin/* and /metrics. Allowed: a user listed in `auth.admins` (Basic, or a Bearer
   * token of that user); `/metrics` to anyone with `auth.metrics_anonymous`; and, while
   * no admin can log in (no admins or no htpasswd configured), callers on loopback only.
   * Otherwise throws UNAUTHORIZED (Basic challenge) for an anonymous caller when admins
   * can log in, DENIED for an authenticated non-admin or when nobody can log in as admin.
   */
  admin(req: AuthRequest, surface: AdminSurface): Promise<void>;
  /**
   * The admin decision of `admin`, for a user already known (the console's session):
   * a user in `auth.admins`, or a loopback caller while no admin can log in.
   */
  isAdmin(user: string | undefined, loopback: boolean): boolean;
  /** Users can sign in (htpasswd configured). */
  readonly canSignIn: boolean;
  /** A key for `purpose` derived from the token secret (HMAC-SHA256), e.g. the console's session cookies. */
  keyFor(purpose: string): Buffer;
  /** Stops the password-check workers. */
  close(): Promise<void>;
}

export interface AuthGuardOptions {
  auth: Config['auth'];
  storagePath: string;
  now?: () => number;
  /** Told when a changed htpasswd file cannot be used (the previous users stay). */
  log?: Logger;
}

type Caller =
  | { kind: 'anonymous' }
  | { kind: 'basic'; user: string }
  | { kind: 'token'; user: string | undefined; access: TokenAccess[] };

const ANONYMOUS: Caller = { kind: 'anonymous' };

/**
 * Builds the guard: loads the htpasswd file (throws on an invalid one) and the token
 * secret (creating `<storagePath>/token-secret` when none is configured).
 */
export function createAuthGuard(opts: AuthGuardOptions): AuthGuard {
  const { auth } = opts;
  const now = opts.now ?? Date.now;
  const rules = createAccessRules(auth);
  const secret = loadOrCreateSecret(opts.storagePath, auth.tokenSecret);
  // Password checks run in a worker thread (started on the first check), never on the
  // event loop; the queue bound answers 429 when a flood of guesses outruns it.
  const pool = createBcryptPool({ size: 1, maxPending: 64 });
  const htpasswd: Htpasswd | undefined =
    auth.htpasswd === ''
      ? undefined
      : createHtpasswd({
          path: auth.htpasswd,
          now,
          compare: (password, hash) => pool.compare(password, hash),
          onReloadError: (err) => opts.log?.warn('htpasswd not reloaded, keeping the previous users', { err }),
        });
  // Wrong passwords are counted per client address and, with a higher limit, per user
  // name from any address (so that guessing spread over many addresses is bounded too).
  // While a user is over its limit, its password is not checked at all, even the right
  // one: otherwise the lock would still answer guesses. Issued tokens keep working.
  const byAddress = createFailureLimiter({ max: auth.maxFailures, windowMs: auth.failureWindowMs, now });
  const byUser = createFailureLimiter({ max: auth.maxUserFailures, windowMs: auth.failureWindowMs, now });
  const admins = new Set(auth.admins);
  const adminCanLogIn = htpasswd !== undefined && admins.size > 0;

  // Nobody can log in as an admin: the machine's own users (loopback) are the admins.
  const isAdmin = (user: string | undefined, loopback: boolean) =>
    (user !== undefined && admins.has(user)) || (!adminCanLogIn && loopback);

  async function checkBasic(req: AuthRequest, credentials: string): Promise<string | undefined> {
    const parsed = parseBasic(credentials);
    if (!parsed || !htpasswd) return undefined;
    const client = req.client ?? 'unknown';
    const wait = Math.max(byAddress.retryAfter(client), byUser.retryAfter(parsed.user));
    if (wait > 0) {
      throw new OciError('TOOMANYREQUESTS', {
        message: 'too many failed login attempts; retry later',
        detail: { retryAfterSeconds: wait },
        headers: { 'Retry-After': String(wait) },
      });
    }
    const endAddress = byAddress.begin(client);
    const endUser = byUser.begin(parsed.user);
    let ok = true; // a check that did not happen (queue full) is no failure
    try {
      ok = await htpasswd.verify(parsed.user, parsed.password);
    } finally {
      endAddress(ok);
      endUser(ok);
    }
    return ok ? parsed.user : undefined;
  }

  /** Who is calling. Wrong, forged, expired or unknown credentials are no credentials. */
  async function callerOf(req: AuthRequest): Promise<Caller> {
    const { scheme, credentials } = splitAuthorization(req.authorization);
    if (scheme === 'basic') {
      const user = await checkBasic(req, credentials);
      return user === undefined ? ANONYMOUS : { kind: 'basic', user };
    }
    if (scheme === 'bearer') {
      const claims = verifyToken(credentials, secret, { audience: TOKEN_SERVICE, nowMs: now() });
      return claims ? { kind: 'token', user: claims.sub === '' ? undefined : claims.sub, access: claims.access } : ANONYMOUS;
    }
    return ANONYMOUS;
  }

  const userOf = (caller: Caller) => (caller.kind === 'anonymous' ? undefined : caller.user);

  /**
   * 401 with the Bearer challenge, and a detail naming what was asked (as Distribution
   * does: dockerd treats a 401 without detail as retryable and spins for ~50 s).
   */
  function challenge(req: AuthRequest, access?: { name: string; actions: Action[] }): OciError {
    const realm = auth.realm !== '' ? auth.realm : req.origin.replace(/\/+$/, '') + TOKEN_PATH;
    let value = `Bearer realm=${quote(realm)},service=${quote(TOKEN_SERVICE)}`;
    if (access !== undefined) value += `,scope=${quote(`repository:${access.name}:${access.actions.join(',')}`)}`;
    const detail = access === undefined
      ? { message: 'credentials are required: log in with docker login or send Basic credentials' }
      : access.actions.map((a) => ({ Type: 'repository', Class: '', Name: access.name, Action: a }));
    return new OciError('UNAUTHORIZED', { detail, headers: { 'WWW-Authenticate': value } });
  }

  return {
    enabled: htpasswd !== undefined,

    async ping(req) {
      if (!htpasswd) return;
      // Any valid credential will do, an anonymous token too: the client has been through
      // the token service and will ask it again for each scope.
      if ((await callerOf(req)).kind === 'anonymous') throw challenge(req);
    },

    async authorize(req, name, kind, actions) {
      const caller = await callerOf(req);
      const user = userOf(caller);
      const permitted = (a: Action) => rules.allowed(user, name, kind, a);
      let ok: boolean;
      if (caller.kind === 'token') {
        // A token grants exactly what it lists: the token service applied the rules.
        const granted = new Set(caller.access.filter((e) => e.type === 'repository' && e.name === name).flatMap((e) => e.actions));
        ok = actions.every((a) => granted.has(a));
      } else {
        ok = actions.every(permitted);
      }
      if (ok) return user;
      if (user === undefined) throw challenge(req, { name, actions });
      // A user's token for other repositories (or fewer actions): challenge, so that the
      // client fetches a token for this scope, which the rules would grant.
      if (caller.kind === 'token' && actions.every(permitted)) throw challenge(req, { name, actions });
      throw new OciError('DENIED', { detail: { repository: name, actions } });
    },

    async identify(req) {
      try {
        return userOf(await callerOf(req));
      } catch (err) {
        // A locked-out address or user is told so, not silently treated as anonymous.
        if (err instanceof OciError && err.code === 'TOOMANYREQUESTS') throw err;
        return undefined;
      }
    },

    allowed: (user, name, kind, action) => rules.allowed(user, name, kind, action),

    async token(req, query, kindOf) {
      const service = query.get('service');
      if (service !== null && service !== TOKEN_SERVICE) {
        const err = new OciError('UNSUPPORTED', { status: 400, message: `unknown service; this token service issues tokens for "${TOKEN_SERVICE}"` });
        return { status: err.status, body: err.toJSON() };
      }

      let user: string | undefined;
      const { scheme, credentials } = splitAuthorization(req.authorization);
      if (scheme === 'basic') {
        user = await checkBasic(req, credentials);
        if (user === undefined) {
          const err = new OciError('UNAUTHORIZED', { message: 'incorrect username or password', detail: { service: TOKEN_SERVICE } });
          return { status: err.status, body: err.toJSON() };
        }
      }

      const access: TokenAccess[] = [];
      for (const [name, requested] of parseScopes(query.getAll('scope'))) {
        const kind = kindOf(name);
        const actions = ACTIONS.filter((a) => requested.has(a) && rules.allowed(user, name, kind, a));
        access.push({ type: 'repository', name, actions });
      }

      const { token, claims } = issueToken({ secret, subject: user ?? '', audience: TOKEN_SERVICE, access, ttlMs: auth.tokenTtlMs, nowMs: now() });
      return {
        status: 200,
        body: { token, access_token: token, expires_in: claims.exp - claims.iat, issued_at: new Date(claims.iat * 1000).toISOString() },
      };
    },

    async admin(req, surface) {
      if (surface === 'metrics' && auth.metricsAnonymous) return;
      const user = userOf(await callerOf(req));
      if (isAdmin(user, req.loopback === true)) return;
      if (user === undefined && adminCanLogIn) {
        throw new OciError('UNAUTHORIZED', {
          message: 'admin credentials required',
          detail: { surface, hint: 'send Basic credentials of a user listed in auth.admins' },
          headers: { 'WWW-Authenticate': `Basic realm=${quote('registry-mirror admin')}` },
        });
      }
      throw new OciError('DENIED', {
        message: adminCanLogIn
          ? 'admin role required'
          : 'admin endpoints answer loopback callers only until auth.admins (and auth.htpasswd) are configured',
        detail: { surface },
      });
    },

    isAdmin,
    canSignIn: htpasswd !== undefined,
    keyFor: (purpose) => createHmac('sha256', secret).update(`registry-mirror/${purpose}`).digest(),

    close: () => pool.close(),
  };
}

/**
 * Requested repository scopes, `repository:NAME:ACTIONS`, merged per name. One `scope`
 * parameter per scope (Docker), or several separated by spaces (OAuth style). `*` asks
 * for every action (containers/image deletes with it). Other resource types, invalid
 * names and unknown actions are ignored.
 */
function parseScopes(params: string[]): Map<string, Set<Action>> {
  const result = new Map<string, Set<Action>>();
  for (const scope of params.flatMap((p) => p.split(' '))) {
    const first = scope.indexOf(':');
    const last = scope.lastIndexOf(':');
    if (first <= 0 || last === first) continue;
    if (scope.slice(0, first) !== 'repository') continue;
    const name = scope.slice(first + 1, last);
    if (!isValidName(name)) continue;
    const actions = result.get(name) ?? new Set<Action>();
    for (const a of scope.slice(last + 1).split(',')) {
      if (a === '*') ACTIONS.forEach((x) => actions.add(x));
      else if ((ACTIONS as readonly string[]).includes(a)) actions.add(a as Action);
    }
    result.set(name, actions);
  }
  return result;
}
