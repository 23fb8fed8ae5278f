import type { Config } from './schema.js';

/**
 * index.* (issue 13): which database holds the index. `sqlite` (the default) is the file
 * <storage.path>/index.db; `postgres` is the server at index.url, shared by replicas. The
 * URL may carry a password: errors name the key and never echo the value.
 */
export function indexConfig(get: <T>(key: string) => T, fail: (key: string, reason: string) => Error): Config['index'] {
  const driver = get<'sqlite' | 'postgres'>('index.driver');
  const url = get<string>('index.url');
  if (driver === 'postgres') {
    if (!url) throw fail('index.url', 'must be set with index.driver: postgres (postgres://user:password@host:5432/db; MIRROR_INDEX_URL)');
    let protocol: string;
    try {
      protocol = new URL(url).protocol;
    } catch {
      throw fail('index.url', 'is not a URL (postgres://user:password@host:5432/db)');
    }
    if (protocol !== 'postgres:' && protocol !== 'postgresql:') throw fail('index.url', 'must start with postgres:// or postgresql://');
  }
  return { driver, url, poolSize: get<number>('index.pool_size') };
}
