import type { RepositoryKind } from '../auth/access-rules.js';
import { OciError } from '../oci/errors.js';
import { compileNamePattern } from '../oci/name-pattern.js';
import { assertName } from '../oci/names.js';
import type { Repository } from '../repository/repository.js';
import type { UpstreamClient } from '../upstream/client.js';

/**
 * Where a repository name lives. This is the one place that chooses: a local namespace
 * (a plain registry that takes pushes, never fetched from an upstream) or an upstream.
 * There is one upstream per configured registry (Docker Hub by default), chosen by `?ns=`,
 * by a registry host as the first path component, or by default (createRepositoryResolver).
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

/** Docker Hub's other names: clients and daemons say any of them for docker.io. */
const DOCKER_HUB_ALIASES = new Set(['registry-1.docker.io', 'index.docker.io']);

/** A registry host in a path prefix: DNS labels or an IPv4 address, an optional port (Docker's reference grammar, lower-case). */
const HOST_RE = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/;

/**
 * Decides, in one place, which upstream a name means, the three ways clients ask:
 * - `?ns=<host>` (containerd, newer dockerd): that upstream, the name taken whole; it wins
 *   over a path prefix;
 * - a first path component that is a registry host (contains "." or ":", or is
 *   "localhost", as Docker's reference grammar decides): "ghcr.io/owner/app" is owner/app
 *   at ghcr.io (`docker pull mirror:5000/ghcr.io/owner/app`, podman mirror prefixes);
 * - neither: the default upstream (the first), with its official prefix for one-part names.
 * A host no upstream has is NAME_UNKNOWN: the mirror never dials a host a client names.
 * Local namespaces keep precedence over all three.
 */
export function createRepositoryResolver(
  upstreams: UpstreamClient | readonly UpstreamClient[], localNamespaces: readonly string[], factories: RepositoryFactories,
): RepositoryResolver {
  const list: readonly UpstreamClient[] = Array.isArray(upstreams) ? upstreams : [upstreams as UpstreamClient];
  const byHost = new Map(list.map((u) => [u.config.name.toLowerCase(), u] as const));
  const fallback = list[0]!;
  const lookup = (host: string): UpstreamClient | undefined => {
    const h = host.toLowerCase();
    return byHost.get(h) ?? (DOCKER_HUB_ALIASES.has(h) ? byHost.get('docker.io') : undefined);
  };
  const unknown = (host: string, how: 'ns' | 'prefix') =>
    new OciError('NAME_UNKNOWN', { message: `no upstream configured for ${host}`, detail: how === 'ns' ? { ns: host } : { registry: host } });
  const local = localNamespaces.map(compileNamePattern);
  const isLocal = (name: string) => local.some((p) => p.matches(name));
  const mirror = (name: string, upstream: UpstreamClient, repo: string): MirrorTarget => {
    const { officialPrefix } = upstream.config;
    const upstreamRepo = officialPrefix && !repo.includes('/') ? officialPrefix + repo : repo;
    return { kind: 'mirror', name, upstream, upstreamRepo, cacheRepo: `${upstream.config.name}/${upstreamRepo}` };
  };
  const target = (name: string, ns?: string): RepositoryTarget => {
    const slash = name.indexOf('/');
    const first = slash > 0 ? name.slice(0, slash) : '';
    const hostPrefixed = ns === undefined && (first.includes('.') || first.includes(':') || first === 'localhost');
    // A port is no part of a repository name: validate the host and the rest apart. Every
    // other name is validated whole, as before (and a local name never has a port).
    if (hostPrefixed && first.includes(':')) {
      if (!HOST_RE.test(first)) throw new OciError('NAME_INVALID', { message: 'invalid registry host in repository name', detail: { name } });
      assertName(name.slice(slash + 1));
    } else assertName(name);
    // A local name is never fetched from an upstream, whatever ?ns= or a prefix says.
    if (isLocal(name)) return { kind: 'local', name, cacheRepo: name };
    if (ns !== undefined) {
      const upstream = lookup(ns);
      if (!upstream) throw unknown(ns, 'ns');
      return mirror(name, upstream, name);
    }
    if (hostPrefixed) {
      const upstream = lookup(first);
      if (!upstream) throw unknown(first, 'prefix');
      return mirror(name, upstream, name.slice(slash + 1));
    }
    return mirror(name, fallback, name);
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
