import { describe, expect, it } from 'vitest';
import { AccessBatcher } from './access-batcher.js';
import type { AccessBatch } from './ports.js';

describe('AccessBatcher', () => {
  it('writes one entry per digest: the latest access and the number of hits', async () => {
    const written: AccessBatch[] = [];
    const batcher = new AccessBatcher({ recordAccess: async (b) => void written.push(b) });
    batcher.touchBlob('b1', 20);
    batcher.touchBlob('b1', 10);
    batcher.touchBlob('b2', 5);
    batcher.touchManifest('m1', 30);
    batcher.touchManifest('m1', 25);
    await batcher.flush();
    await batcher.flush(); // nothing noted since: nothing written
    expect(written).toEqual([{
      blobs: [{ digest: 'b1', at: 20, hits: 2 }, { digest: 'b2', at: 5, hits: 1 }],
      manifests: [{ digest: 'm1', at: 30 }],
    }]);
  });

  it('keeps a batch the port refused, merged with what was noted meanwhile, for the next flush', async () => {
    const written: AccessBatch[] = [];
    let fail = true;
    const batcher = new AccessBatcher({
      recordAccess: async (b) => {
        batcher.touchBlob('b1', 50); // a request served while the write is in flight
        if (fail) throw new Error('database is locked');
        written.push(b);
      },
    });
    batcher.touchBlob('b1', 10);
    batcher.touchManifest('m1', 10);
    await expect(batcher.flush()).rejects.toThrow('database is locked');
    expect(batcher.empty).toBe(false);
    fail = false;
    await batcher.flush();
    expect(written).toEqual([{ blobs: [{ digest: 'b1', at: 50, hits: 2 }], manifests: [{ digest: 'm1', at: 10 }] }]);
  });
});
