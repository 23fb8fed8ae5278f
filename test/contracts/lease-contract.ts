import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MaintenanceIndex } from '../../src/storage/ports.js';
import type { IndexBackend, IndexBackendFactory } from './index-contract.js';

/**
 * Issue 13: the lease ports (MaintenanceIndex tryLease/releaseLease) that let one replica
 * of several run retention. Every backend grants a free lease and renews its holder's;
 * a `shared` backend (several processes on one index) also refuses a second holder until
 * the lease expires or is released. A local one (SQLite: the data-dir lock already makes
 * one process per index) grants every request.
 */
export function describeLeaseContract(name: string, factory: IndexBackendFactory, options: { shared: boolean }): void {
  describe(`lease contract: ${name}`, () => {
    let backend: IndexBackend;
    let m: MaintenanceIndex;
    beforeEach(async () => {
      backend = await factory();
      m = backend.ports.maintenance;
    });
    afterEach(() => backend.cleanup());

    it('grants a free lease, renews it for its holder, and releasing an unheld one is harmless', async () => {
      expect(await m.tryLease('retention', 'a', 1000, 0)).toBe(true);
      expect(await m.tryLease('retention', 'a', 1000, 500)).toBe(true);
      expect(await m.tryLease('retention', 'a', 1000, 1400)).toBe(true);
      await m.releaseLease('other', 'a');
      await m.releaseLease('retention', 'a');
      expect(await m.tryLease('retention', 'a', 1000, 1500)).toBe(true);
    });

    if (options.shared) {
      it('refuses another holder until the lease expires; the renewal pushes the expiry', async () => {
        expect(await m.tryLease('retention', 'a', 1000, 0)).toBe(true);
        expect(await m.tryLease('retention', 'b', 1000, 999)).toBe(false);
        expect(await m.tryLease('retention', 'a', 1000, 900)).toBe(true); // now until 1900
        expect(await m.tryLease('retention', 'b', 1000, 1500)).toBe(false);
        expect(await m.tryLease('retention', 'b', 1000, 1900)).toBe(true);
        expect(await m.tryLease('retention', 'a', 1000, 2000)).toBe(false);
        // Leases are by name: another job's is independent.
        expect(await m.tryLease('gc', 'a', 1000, 2000)).toBe(true);
      });

      it('a released lease is free at once; a release by a non-holder keeps it', async () => {
        expect(await m.tryLease('retention', 'a', 60_000, 0)).toBe(true);
        await m.releaseLease('retention', 'b');
        expect(await m.tryLease('retention', 'b', 60_000, 1)).toBe(false);
        await m.releaseLease('retention', 'a');
        expect(await m.tryLease('retention', 'b', 60_000, 2)).toBe(true);
      });

      it('of holders racing for a free lease, exactly one gets it', async () => {
        const got = await Promise.all(['a', 'b', 'c', 'd'].map((h) => m.tryLease('retention', h, 1000, 0)));
        expect(got.filter(Boolean)).toHaveLength(1);
      });
    } else {
      it('grants every holder: one process per index, so there is nobody to exclude', async () => {
        expect(await m.tryLease('retention', 'a', 1000, 0)).toBe(true);
        expect(await m.tryLease('retention', 'b', 1000, 1)).toBe(true);
      });
    }
  });
}
