import { describe, expect, it } from 'vitest';
import { isOciError } from '../oci/errors.js';
import type { Repository } from '../repository/repository.js';
import type { UpstreamClient } from '../upstream/client.js';
import { createRepositoryResolver, type RepositoryTarget } from './resolve-repository.js';

/** Only the config fields the resolver reads. */
const upstream = (name: string, officialPrefix: string) => ({ config: { name, officialPrefix } }) as unknown as UpstreamClient;

/** Repositories that say which factory made them and from what target. */
const factories = {
  local: (t: RepositoryTarget) => ({ made: 'local', t }) as unknown as Repository,
  mirror: (t: RepositoryTarget) => ({ made: 'mirror', t }) as unknown as Repository,
};
const made = (r: Repository) => r as unknown as { made: string; t: RepositoryTarget };

const hub = createRepositoryResolver(upstream('docker.io', 'library/'), ['corp/**', 'team'], factories);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isOciError(err) ? err.code : 'not an OciError';
  }
  return undefined;
}

describe('resolver: local namespaces against the upstream', () => {
  it('a name in a local namespace is a LocalRepository keyed by its own name', () => {
    const r = hub.resolve('corp/app');
    expect(r).toMatchObject({ name: 'corp/app', kind: 'local', cacheRepo: 'corp/app' });
    expect(made(r.repository).made).toBe('local');
  });

  it('any other name is mirrored from the upstream', () => {
    const r = hub.resolve('someone/app');
    expect(r).toMatchObject({ name: 'someone/app', kind: 'mirror', cacheRepo: 'docker.io/someone/app' });
    expect(made(r.repository)).toMatchObject({ made: 'mirror', t: { upstreamRepo: 'someone/app' } });
  });

  it('a local name wins over ?ns=, even one naming an unknown registry: it is never fetched', () => {
    expect(hub.resolve('corp/app', 'docker.io').kind).toBe('local');
    expect(hub.resolve('team', 'elsewhere.example').kind).toBe('local');
  });

  it('a pattern covers only what it says: "team" is not "team/app", "corp/**" is not "corporate"', () => {
    expect(hub.resolve('team/app').kind).toBe('mirror');
    expect(hub.resolve('corporate').kind).toBe('mirror');
  });

  it('isLocal and target agree with resolve, without making a repository', () => {
    expect(hub.isLocal('corp/x/y')).toBe(true);
    expect(hub.isLocal('alpine')).toBe(false);
    expect(hub.target('alpine')).toMatchObject({ kind: 'mirror', upstreamRepo: 'library/alpine' });
  });
});

describe('resolver: the official-image prefix', () => {
  it('a single-segment name gets the prefix upstream and in the cache key', () => {
    expect(hub.target('alpine')).toMatchObject({ name: 'alpine', upstreamRepo: 'library/alpine', cacheRepo: 'docker.io/library/alpine' });
  });

  it('"library/alpine" and "alpine" are one repository in the cache', () => {
    expect(hub.target('library/alpine').cacheRepo).toBe(hub.target('alpine').cacheRepo);
  });

  it('an upstream without a prefix keeps single-segment names as they are', () => {
    const plain = createRepositoryResolver(upstream('registry.example:5000', ''), [], factories);
    expect(plain.target('alpine')).toMatchObject({ upstreamRepo: 'alpine', cacheRepo: 'registry.example:5000/alpine' });
  });
});

describe('resolver: ?ns=', () => {
  it('the upstream\'s own host, or registry-1.docker.io for Docker Hub, is this upstream', () => {
    expect(hub.resolve('alpine', 'docker.io').kind).toBe('mirror');
    expect(hub.resolve('alpine', 'registry-1.docker.io').kind).toBe('mirror');
  });

  it('another registry is NAME_UNKNOWN (there is no upstream for it)', () => {
    expect(codeOf(() => hub.resolve('alpine', 'ghcr.io'))).toBe('NAME_UNKNOWN');
    expect(codeOf(() => hub.resolve('alpine', ''))).toBe('NAME_UNKNOWN');
  });

  it('registry-1.docker.io means Docker Hub only when the upstream is Docker Hub', () => {
    const other = createRepositoryResolver(upstream('quay.io', ''), [], factories);
    expect(codeOf(() => other.resolve('app', 'registry-1.docker.io'))).toBe('NAME_UNKNOWN');
    expect(other.resolve('app', 'quay.io').kind).toBe('mirror');
  });
});

describe('resolver: bad names', () => {
  it.each(['Alpine', 'a//b', '/a', 'a/', '-a', 'a..b', '_catalog!', 'a'.repeat(300)])('%s is NAME_INVALID, before any repository is made', (name) => {
    expect(codeOf(() => hub.resolve(name))).toBe('NAME_INVALID');
    expect(codeOf(() => hub.target(name))).toBe('NAME_INVALID');
  });

  it('a bad name is NAME_INVALID even in a local namespace or with an unknown ?ns=', () => {
    expect(codeOf(() => hub.resolve('corp/Bad'))).toBe('NAME_INVALID');
    expect(codeOf(() => hub.resolve('Bad', 'ghcr.io'))).toBe('NAME_INVALID');
  });
});

describe('resolver: many upstreams (issue 10)', () => {
  const many = createRepositoryResolver(
    [upstream('docker.io', 'library/'), upstream('ghcr.io', ''), upstream('registry.example:5000', ''), upstream('localhost', '')],
    ['corp/**', 'ghcr.io/corp/**'], factories,
  );
  const mirrorOf = (name: string, ns?: string) => {
    const t = many.target(name, ns);
    if (t.kind !== 'mirror') throw new Error('not mirrored');
    return { host: t.upstream.config.name, upstreamRepo: t.upstreamRepo, cacheRepo: t.cacheRepo, name: t.name };
  };

  it('?ns= picks that upstream and takes the name whole; registry-1.docker.io and index.docker.io are docker.io', () => {
    expect(mirrorOf('owner/app', 'ghcr.io')).toEqual({ host: 'ghcr.io', upstreamRepo: 'owner/app', cacheRepo: 'ghcr.io/owner/app', name: 'owner/app' });
    expect(mirrorOf('app', 'GHCR.io')).toMatchObject({ host: 'ghcr.io', upstreamRepo: 'app' });
    expect(mirrorOf('alpine', 'index.docker.io')).toMatchObject({ host: 'docker.io', cacheRepo: 'docker.io/library/alpine' });
    expect(mirrorOf('x/y', 'registry.example:5000')).toMatchObject({ host: 'registry.example:5000', cacheRepo: 'registry.example:5000/x/y' });
  });

  it('a first path component that is a registry host picks that upstream; the rest is the name there', () => {
    expect(mirrorOf('ghcr.io/owner/app')).toEqual({ host: 'ghcr.io', upstreamRepo: 'owner/app', cacheRepo: 'ghcr.io/owner/app', name: 'ghcr.io/owner/app' });
    expect(mirrorOf('registry.example:5000/x/y')).toMatchObject({ host: 'registry.example:5000', upstreamRepo: 'x/y' });
    expect(mirrorOf('localhost/app')).toMatchObject({ host: 'localhost', upstreamRepo: 'app' });
    // docker.io/alpine is the official image, in the same cache entry as plain alpine.
    expect(mirrorOf('docker.io/alpine').cacheRepo).toBe(mirrorOf('alpine').cacheRepo);
    expect(mirrorOf('registry-1.docker.io/library/alpine').cacheRepo).toBe('docker.io/library/alpine');
  });

  it('neither: the default upstream, library/ for one-part names', () => {
    expect(mirrorOf('alpine')).toMatchObject({ host: 'docker.io', upstreamRepo: 'library/alpine' });
    expect(mirrorOf('owner/app')).toMatchObject({ host: 'docker.io', upstreamRepo: 'owner/app' });
  });

  it('a host no upstream has, by ns or by prefix, is NAME_UNKNOWN', () => {
    expect(codeOf(() => many.resolve('owner/app', 'quay.io'))).toBe('NAME_UNKNOWN');
    expect(codeOf(() => many.resolve('quay.io/owner/app'))).toBe('NAME_UNKNOWN');
    expect(codeOf(() => many.resolve('127.0.0.1:1/owner/app'))).toBe('NAME_UNKNOWN');
  });

  it('?ns= wins over a path prefix: the name is taken whole at the ns upstream', () => {
    expect(mirrorOf('ghcr.io/owner/app', 'docker.io')).toMatchObject({ host: 'docker.io', upstreamRepo: 'ghcr.io/owner/app' });
    expect(codeOf(() => many.resolve('ghcr.io/owner/app', 'quay.io'))).toBe('NAME_UNKNOWN');
  });

  it('local namespaces keep precedence over ns and prefixes', () => {
    expect(many.resolve('ghcr.io/corp/app').kind).toBe('local');
    expect(many.resolve('corp/app', 'ghcr.io').kind).toBe('local');
  });

  it('names stay validated: a bad repository after a host, a bad host with a port, a port with ?ns=', () => {
    expect(codeOf(() => many.resolve('ghcr.io/Owner/app'))).toBe('NAME_INVALID');
    expect(codeOf(() => many.resolve('bad_host:5000/app'))).toBe('NAME_INVALID');
    expect(codeOf(() => many.resolve('registry.example:5000/x', 'ghcr.io'))).toBe('NAME_INVALID');
    expect(codeOf(() => many.resolve('ghcr.io/'))).toBe('NAME_INVALID');
  });
});
