import { OciError } from '../oci/errors.js';
import { assertName } from '../oci/names.js';
import type { UpstreamClient } from '../upstream/client.js';

/**
 * Where a repository name lives. This is the one place that chooses an upstream:
 * today there is one (Docker Hub by default); a list of upstreams, routed by `?ns=`
 * or by a path prefix, fills the same function later.
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

export type RepositoryTarget = MirrorTarget;

export interface RepositoryResolver {
  resolve(name: string, ns?: string): RepositoryTarget;
}

export function createRepositoryResolver(upstream: UpstreamClient): RepositoryResolver {
  const { name: host, officialPrefix } = upstream.config;
  return {
    resolve(name, ns) {
      assertName(name);
      // containerd and newer dockerd say which registry they mean with ?ns=<host>.
      if (ns !== undefined && ns !== host && !(host === 'docker.io' && ns === 'registry-1.docker.io')) {
        throw new OciError('NAME_UNKNOWN', { message: `no upstream configured for ${ns}`, detail: { ns } });
      }
      const upstreamRepo = officialPrefix && !name.includes('/') ? officialPrefix + name : name;
      return { kind: 'mirror', name, upstream, upstreamRepo, cacheRepo: `${host}/${upstreamRepo}` };
    },
  };
}
