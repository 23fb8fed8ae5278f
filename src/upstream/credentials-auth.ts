import { findBearerChallenge, hasBasicChallenge, parseChallenges } from './challenge.js';
import { authorizationFor, type CredentialSource, type UpstreamSecret } from './credentials.js';
import type { TokenCache, TokenRequest } from './token-cache.js';

/**
 * How requests to one registry authenticate, learned from its 401 challenges:
 * - Bearer (Docker Hub, GHCR, Quay, ACR): a token from the realm's token service, asked
 *   for with the credentials (Basic, or a token as an OAuth2 refresh token), cached;
 * - Basic (ECR, GAR): the credentials on every request once the registry asked for them;
 * - a static token goes as Bearer from the first request.
 * A refused credential (401 from the registry or the token service) is dropped once and
 * the request retried once with fresh ones: a rotated password or an expired helper answer
 * heals without a restart, and a wrong one costs one extra request, not a loop.
 */

/** What we put in Authorization for one attempt, the token it carried (to reject it on 401) and the secret behind it. */
export interface Credential {
  readonly header: string;
  readonly token?: string;
  readonly secret?: UpstreamSecret;
}

export interface RegistryAuth {
  /** Authorization for a first attempt: whatever we already hold, without a round trip to the registry. */
  first(repo: string): Promise<Credential | undefined>;
  /**
   * The registry answered 401 with these challenges to a request sent with `used`: the
   * credential for the one retry, or undefined to hand the 401 on. `release` frees the 401's
   * connection; it is called before any further round trip (a token request).
   */
  challenged(wwwAuthenticate: string | string[] | undefined, repo: string, used: Credential | undefined, release: () => Promise<void>): Promise<Credential | undefined>;
}

type AuthState =
  | { kind: 'unknown' }
  | { kind: 'bearer'; realm: string; service?: string }
  | { kind: 'basic' };

/** The auth of the upstream named `upstream` (the host a credential helper is asked about). */
export function createRegistryAuth(upstream: string, credentials: CredentialSource | undefined, tokens: TokenCache): RegistryAuth {
  let auth: AuthState = { kind: 'unknown' };

  const scopeFor = (repo: string): TokenRequest => {
    const state = auth as { realm: string; service?: string };
    return { realm: state.realm, ...serviceOf(state), scopes: [`repository:${repo}:pull`] };
  };

  /** A Bearer token; when the token service refuses our credentials they are dropped and asked for once more. */
  async function bearerToken(req: TokenRequest, used: Credential | undefined): Promise<Credential> {
    const rejected = used?.token !== undefined ? { rejected: used.token } : {};
    const secret = credentials ? await credentials.get(upstream) : undefined;
    try {
      const token = await tokens.get(req, { ...rejected, ...(secret ? { secret } : {}) });
      return { header: `Bearer ${token}`, token, ...(secret ? { secret } : {}) };
    } catch (err) {
      if (!credentials || !secret || !refusedCredentials(err)) throw err;
      credentials.invalidate(upstream, secret);
      const fresh = await credentials.get(upstream);
      if (!fresh || fresh === secret) throw err;
      const token = await tokens.get(req, { ...rejected, secret: fresh });
      return { header: `Bearer ${token}`, token, secret: fresh };
    }
  }

  /** Basic for a Basic challenge: the credentials, or fresh ones when `used` were just refused. */
  async function basicCredential(used: Credential | undefined): Promise<Credential | undefined> {
    if (!credentials) return undefined;
    if (used?.secret) credentials.invalidate(upstream, used.secret);
    const secret = await credentials.get(upstream);
    if (!secret || secret.kind !== 'password') return undefined;
    const header = authorizationFor(secret);
    return header === used?.header ? undefined : { header, secret };
  }

  return {
    async first(repo) {
      if (!credentials) {
        if (auth.kind !== 'bearer') return undefined;
        const token = tokens.peek(scopeFor(repo));
        return token !== undefined ? { header: `Bearer ${token}`, token } : undefined;
      }
      const secret = await credentials.get(upstream);
      if (!secret) return undefined;
      if (auth.kind === 'bearer') {
        const token = tokens.peek(scopeFor(repo), secret);
        return token !== undefined ? { header: `Bearer ${token}`, token, secret } : undefined;
      }
      // Basic goes only where the registry asked for it; a static token always goes as Bearer.
      if (auth.kind === 'basic' || secret.kind === 'token') return { header: authorizationFor(secret), secret };
      return undefined;
    },

    async challenged(wwwAuthenticate, repo, used, release) {
      const challenges = parseChallenges(wwwAuthenticate);
      const bearer = findBearerChallenge(challenges);
      if (bearer) {
        auth = { kind: 'bearer', realm: bearer.realm, ...serviceOf(bearer) };
        const scopes = bearer.scopes.length > 0 ? bearer.scopes : [`repository:${repo}:pull`];
        await release();
        return bearerToken({ realm: bearer.realm, ...serviceOf(bearer), scopes }, used);
      }
      if (!hasBasicChallenge(challenges)) return undefined;
      const retry = await basicCredential(used);
      if (retry) {
        auth = { kind: 'basic' };
        await release();
      }
      return retry;
    },
  };
}

function serviceOf(x: { service?: string }): { service?: string } {
  return x.service !== undefined ? { service: x.service } : {};
}

/** True when the token service refused the credentials we sent (401/403), as opposed to being down. */
function refusedCredentials(err: unknown): boolean {
  const status = (err as { detail?: { status?: unknown } } | undefined)?.detail?.status;
  return status === 401 || status === 403;
}
