/**
 * Issue 13: a PATCH that streams for longer than upload_expiry is not expired under it by
 * another replica's expiry pass: the session is renewed while the request streams. The
 * index and bucket are in-memory fakes with the real ports' semantics (conditional
 * updates, untouched-since deletes); the real engines are covered by
 * test/registry/cluster-uploads.test.ts.
 */
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import type { BlobStore } from '../storage/blob-store.js';
import type { UploadChunkStore } from '../storage/upload-chunks.js';
import type { UploadChunkRow, UploadSessionIndex, UploadSessionRow } from '../storage/upload-rows.js';
import { SharedUploadSessions } from './shared-uploads.js';

function fakeIndex(): UploadSessionIndex & { sessions: Map<string, UploadSessionRow & { list: UploadChunkRow[] }> } {
  const sessions = new Map<string, UploadSessionRow & { list: UploadChunkRow[] }>();
  return {
    sessions,
    async openUpload(s, _limits, now) { sessions.set(s.id, { ...s, size: 0, chunks: 0, finishing: false, updatedAt: now, list: [] }); return undefined; },
    async getUpload(id) { const s = sessions.get(id); return s && { ...s }; },
    async addUploadChunk(id, chunk, now) {
      const s = sessions.get(id);
      if (!s || s.size !== chunk.start || s.finishing) return false;
      s.size += chunk.length; s.chunks++; s.updatedAt = now; s.list.push(chunk);
      return true;
    },
    async claimUploadFinish(id, size, now) {
      const s = sessions.get(id);
      if (!s || s.size !== size || s.finishing) return false;
      s.finishing = true; s.updatedAt = now;
      return true;
    },
    async touchUpload(id, now) { const s = sessions.get(id); if (s && s.updatedAt < now) s.updatedAt = now; },
    async listUploadChunks(id) { return [...(sessions.get(id)?.list ?? [])]; },
    async deleteUpload(id, only = {}) {
      const s = sessions.get(id);
      if (!s || (only.repo !== undefined && s.repo !== only.repo) || (only.untouchedBefore !== undefined && s.updatedAt >= only.untouchedBefore)) return undefined;
      sessions.delete(id);
      return s.list.map((c) => c.name);
    },
    async staleUploads(before) { return [...sessions.values()].filter((s) => s.updatedAt < before).map((s) => s.id); },
    async knownUploadChunks() { return new Set(); },
    async openUploadIds(ids) { return new Set(ids.filter((id) => sessions.has(id))); },
    async countUploads() { return sessions.size; },
  };
}

const chunks: UploadChunkStore = {
  async put(_id, start, body: Readable) {
    let length = 0;
    for await (const b of body as AsyncIterable<Buffer>) length += b.length;
    return { name: `c-${start}`, length };
  },
  async open() { throw new Error('not used'); },
  async delete() {},
  async sweep() { return 0; },
};

describe('shared upload sessions', () => {
  test('a PATCH streaming past the expiry keeps its session: another replica\'s expiry pass leaves it, the chunk counts', async () => {
    const index = fakeIndex();
    const limits = { expiryMs: 80, maxUploads: 10, maxUploadsPerUser: 10 };
    const deps = { index, chunks, store: {} as BlobStore, limits, now: Date.now };
    const a = new SharedUploadSessions(deps);
    const b = new SharedUploadSessions(deps);
    const { id } = await a.start('team/app', 'alice');
    const body = new PassThrough();
    const patched = a.append('team/app', id, body, 0);
    // The body trickles in over ~4 expiries while replica B runs its expiry passes.
    for (let i = 0; i < 8; i++) {
      body.write(Buffer.alloc(1000));
      await sleep(40);
      await b.expire();
    }
    body.end();
    expect(await patched).toEqual({ id, offset: 8000 });
    expect(index.sessions.get(id)?.size).toBe(8000);
    // Once nothing streams into it, it expires like any other.
    await sleep(limits.expiryMs + 20);
    expect(await b.expire()).toBe(1);
    expect(index.sessions.has(id)).toBe(false);
  });
});
