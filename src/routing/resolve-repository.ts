import type { RepositoryKind } from '../auth/access-rules.js';
import { OciError } from '../oci/errors.js';
import { compileNamePattern } from '../oci/name-pattern.js';
import { assertName } from '../oci/names.js';
import type { Repository } from '../repository/repository.js';
import type { UpstreamClient } from '../upstream/client.js';

/**
 * Where a repository name lives. This is the one place that chooses: a local namespace
 * (a plain registry that takes pushes, never fetched from an upstream) or an upstream.
 * Today there is one upstream (Docker Hub by default); a list of upstreams, routed by
 * `?ns=` or by a path prefix, fills the same function later.
 */
export interface MirrorTarget {
  kind: 'mirror';
  /** The name the client used, e.g. "alpine". */
  name: string;
  upstream: UpstreamClient;
  /** The name upstream, e.g. "library/alpine". */
  upstreamRepo: string;
  /** The key under which the index keeps it, e.g. "docker.io/library/alpine". */
  cacheRepo: string;
}

export interface LocalTarget {
  kind: 'local';
  name: string;
  /** The key under which the index keeps it: the name itself. */
  cacheRepo: string;
}

export type RepositoryTarget = MirrorTarget | LocalTarget;

/**
 * A resolved name: the Repository the routes talk to, and what the auth decision needs.
 * `kind` is for access rules only (they differ for local and mirrored names); routes
 * never branch on it.
 */
export interface ResolvedRepository {
  repository: Repository;
  name: string;
  kind: RepositoryKind;
  cacheRepo: string;
}

/** How a Repository is made for a resolved target (wired by the app: local registry, proxies). */
export interface RepositoryFactories {
  local(target: LocalTarget): Repository;
  mirror(target: MirrorTarget): Repository;
}

export interface RepositoryResolver {
  /** Throws NAME_INVALID for a bad name, NAME_UNKNOWN for an unknown `?ns=`. */
  resolve(name: string, ns?: string): ResolvedRepository;
  /** Where the name lives, without making a Repository. */
  target(name: string, ns?: string): RepositoryTarget;
  /** Is this name in a local namespace? (no validation) */
  isLocal(name: string): boolean;
}

export function createRepositoryResolver(
  upstream: UpstreamClient, localNamespaces: readonly string[], factories: RepositoryFactories,
): RepositoryResolver {
  const { name: host, officialPrefix } = upstream.config;
  const local = localNamespaces.map(compileNamePattern);
  const isLocal = (name: string) => local.some((p) => p.matches(name));
  const target = (name: string, ns?: string): RepositoryTarget => {
    assertName(name);
    // A local name is never fetched from an upstream, whatever ?ns= says.
    if (isLocal(name)) return { kind: 'local', name, cacheRepo: name };
    // containerd and newer dockerd say which registry they mean with ?ns=<host>.
    if (ns !== undefined && ns !== host && !(host === 'docker.io' && ns === 'registry-1.docker.io')) {
      throw new OciError('NAME_UNKNOWN', { message: `no upstream configured for ${ns}`, detail: { ns } });
    }
    const upstreamRepo = officialPrefix && !name.includes('/') ? officialPrefix + name : name;
    return { kind: 'mirror', name, upstream, upstreamRepo, cacheRepo: `${host}/${upstreamRepo}` };
  };
  return {
    isLocal,
    target,
    resolve(name, ns) {
      const t = target(name, ns);
      const repository = t.kind === 'local' ? factories.local(t) : factories.mirror(t);
      return { repository, name: t.name, kind: t.kind, cacheRepo: t.cacheRepo };
    },
  };
}
