import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { UploadSessionIndex } from '../../src/storage/upload-rows.js';
import type { IndexBackend, IndexBackendFactory } from './index-contract.js';

/**
 * Issue 13: the upload-session ports (ports.uploads, upload-rows.ts) of an index shared by
 * replicas: the limits hold however many open at once, an append at an offset the session
 * has left changes nothing, a finishing session takes no chunk, and every delete is
 * conditional and returns the chunk names exactly once. Only shared backends have them
 * (PostgreSQL); SQLite's uploads live in the process.
 */
export function describeUploadSessionsContract(name: string, factory: IndexBackendFactory): void {
  describe(`upload sessions contract: ${name}`, () => {
    let backend: IndexBackend;
    let u: UploadSessionIndex;
    const limits = { maxTotal: 5, maxPerOwner: 3 };
    beforeEach(async () => {
      backend = await factory();
      u = backend.ports.uploads!;
    });
    afterEach(() => backend.cleanup());

    it('touchUpload renews a session (an expiry cutoff before it then keeps it), never moves updated_at back, and ignores a missing one', async () => {
      await u.openUpload({ id: 't', repo: 'team/x', owner: 'alice' }, limits, 10);
      await u.touchUpload('t', 50);
      expect((await u.getUpload('t'))?.updatedAt).toBe(50);
      await u.touchUpload('t', 20);
      expect((await u.getUpload('t'))?.updatedAt).toBe(50);
      expect(await u.staleUploads(40, 10)).toEqual([]);
      expect(await u.deleteUpload('t', { untouchedBefore: 40 })).toBeUndefined();
      await u.touchUpload('missing', 60);
      expect(await u.getUpload('missing')).toBeUndefined();
    });

    it('openUploadIds names the sessions that exist, of those asked', async () => {
      await u.openUpload({ id: 'live', repo: 'team/x', owner: 'alice' }, limits, 1);
      expect(await u.openUploadIds(['live', 'gone'])).toEqual(new Set(['live']));
      expect(await u.openUploadIds([])).toEqual(new Set());
    });

    it('opens sessions up to the per-owner and the total limit, counted however many open at once', async () => {
      // Every connection of the pool open first, so that the openings below overlap.
      await Promise.all(Array.from({ length: 8 }, () => u.getUpload('none')));
      const opened = await Promise.all(Array.from({ length: 20 }, (_, i) => u.openUpload({ id: `a${i}`, repo: 'team/x', owner: 'alice' }, limits, 1)));
      expect(opened.filter((r) => r === undefined)).toHaveLength(3);
      expect(opened.filter((r) => r === 'owner')).toHaveLength(17);
      expect(await u.openUpload({ id: 'b0', repo: 'team/x', owner: 'bob' }, limits, 1)).toBeUndefined();
      expect(await u.openUpload({ id: 'b1', repo: 'team/x', owner: 'bob' }, limits, 1)).toBeUndefined();
      expect(await u.openUpload({ id: 'c0', repo: 'team/x', owner: 'carol' }, limits, 1)).toBe('total');
      expect(await u.countUploads()).toBe(5);
      expect(await u.getUpload('b1')).toEqual({ id: 'b1', repo: 'team/x', owner: 'bob', size: 0, chunks: 0, finishing: false, updatedAt: 1 });
      expect(await u.getUpload('c0')).toBeUndefined();
    });

    it('appends a chunk only at the session\'s size: of two at one offset, one counts', async () => {
      await u.openUpload({ id: 's', repo: 'team/x', owner: '' }, limits, 1);
      const both = await Promise.all([
        u.addUploadChunk('s', { start: 0, length: 10, name: 's/0-a' }, 2),
        u.addUploadChunk('s', { start: 0, length: 20, name: 's/0-b' }, 2),
      ]);
      expect(both.filter(Boolean)).toHaveLength(1);
      const size = (await u.getUpload('s'))!.size;
      expect(size === 10 || size === 20).toBe(true);
      expect(await u.addUploadChunk('s', { start: 0, length: 5, name: 's/0-c' }, 3)).toBe(false);
      expect(await u.addUploadChunk('s', { start: size, length: 5, name: 's/n' }, 4)).toBe(true);
      expect(await u.getUpload('s')).toMatchObject({ size: size + 5, chunks: 2, updatedAt: 4 });
      expect((await u.listUploadChunks('s')).map((c) => [c.start, c.length])).toEqual([[0, size], [size, 5]]);
      expect(await u.addUploadChunk('missing', { start: 0, length: 1, name: 'missing/0' }, 4)).toBe(false);
    });

    it('a finishing session takes no more chunks, and is claimed once', async () => {
      await u.openUpload({ id: 's', repo: 'team/x', owner: '' }, limits, 1);
      await u.addUploadChunk('s', { start: 0, length: 10, name: 's/0' }, 2);
      expect(await u.claimUploadFinish('s', 5, 3)).toBe(false);
      expect(await u.claimUploadFinish('s', 10, 3)).toBe(true);
      expect(await u.claimUploadFinish('s', 10, 3)).toBe(false);
      expect(await u.addUploadChunk('s', { start: 10, length: 1, name: 's/10' }, 4)).toBe(false);
      expect(await u.getUpload('s')).toMatchObject({ size: 10, finishing: true, updatedAt: 3 });
    });

    it('deletes conditionally (repository, untouched since) and returns the chunk names once', async () => {
      await u.openUpload({ id: 's', repo: 'team/x', owner: 'alice' }, limits, 1);
      await u.addUploadChunk('s', { start: 0, length: 10, name: 's/0' }, 10);
      await u.addUploadChunk('s', { start: 10, length: 10, name: 's/10' }, 20);
      expect(await u.knownUploadChunks(['s/0', 's/10', 'other/0'])).toEqual(new Set(['s/0', 's/10']));
      expect(await u.deleteUpload('s', { repo: 'team/y' })).toBeUndefined();
      expect(await u.staleUploads(20, 10)).toEqual([]);
      expect(await u.staleUploads(21, 10)).toEqual(['s']);
      expect(await u.deleteUpload('s', { untouchedBefore: 20 })).toBeUndefined();
      expect((await u.deleteUpload('s', { repo: 'team/x', untouchedBefore: 21 }))?.sort()).toEqual(['s/0', 's/10']);
      expect(await u.deleteUpload('s')).toBeUndefined();
      expect(await u.getUpload('s')).toBeUndefined();
      expect(await u.listUploadChunks('s')).toEqual([]);
      expect(await u.knownUploadChunks(['s/0'])).toEqual(new Set());
      // The place is free again.
      expect(await u.countUploads()).toBe(0);
    });
  });
}
