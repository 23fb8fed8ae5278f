import bcrypt from 'bcryptjs';
import { afterEach, describe, expect, it } from 'vitest';
import { OciError } from '../oci/errors.js';
import { createBcryptPool, type BcryptPool } from './bcrypt-pool.js';

const HASH = bcrypt.hashSync('secret', 4).replace(/^\$2b\$/, '$2y$');
let pool: BcryptPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('bcrypt worker pool', () => {
  it('compares in a worker thread: the right password, a wrong one, a malformed hash', async () => {
    pool = createBcryptPool();
    expect(await pool.compare('secret', HASH)).toBe(true);
    expect(await pool.compare('wrong', HASH)).toBe(false);
    expect(await pool.compare('secret', 'not-a-hash')).toBe(false);
    expect(pool.pending).toBe(0);
  });

  it('refuses compares beyond its bound with 429 TOOMANYREQUESTS and Retry-After, at once', async () => {
    pool = createBcryptPool({ size: 1, maxPending: 2 });
    const slow = bcrypt.hashSync('x', 10);
    const queued = [pool.compare('a', slow), pool.compare('b', slow)];
    const refused = await pool.compare('c', slow).then(() => undefined, (err: unknown) => err);
    expect(refused).toBeInstanceOf(OciError);
    expect((refused as OciError).status).toBe(429);
    expect((refused as OciError).code).toBe('TOOMANYREQUESTS');
    expect((refused as OciError).headers['Retry-After']).toBe('1');
    expect(await Promise.all(queued)).toEqual([false, false]);
  });

  it('fails queued compares when closed', async () => {
    pool = createBcryptPool({ size: 1 });
    const slow = bcrypt.hashSync('x', 10);
    const results = [pool.compare('a', slow), pool.compare('b', slow)].map((p) => p.then(() => 'done', () => 'failed'));
    await pool.close();
    expect(await Promise.all(results)).toEqual(['failed', 'failed']);
  });
});
