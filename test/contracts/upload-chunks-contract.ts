import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isOciError } from '../../src/oci/errors.js';
import type { UploadChunkStore } from '../../src/storage/upload-chunks.js';

/** A chunk store over a place no other test uses; `pending` counts objects and unfinished multipart uploads there. */
export interface UploadChunksBackend {
  chunks: UploadChunkStore;
  /** Object names (relative to uploads/) present now. */
  names(): Promise<string[]>;
  /** Multipart uploads in progress under uploads/. */
  multiparts(): Promise<number>;
  cleanup(): Promise<void>;
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream as AsyncIterable<Buffer>) parts.push(p);
  return Buffer.concat(parts);
}

/** A body that sends `bytes` and then breaks, as a client gone mid-chunk. */
function breaking(bytes: Buffer): Readable {
  return Readable.from((async function* () {
    yield bytes;
    throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
  })());
}

/**
 * Issue 13: the chunk objects of shared upload sessions (BlobStore.uploadChunks,
 * upload-chunks.ts), for every store that has them: a chunk is whole or absent, each
 * attempt its own object, and the sweep removes only what is old and unclaimed.
 */
export function describeUploadChunksContract(name: string, factory: () => Promise<UploadChunksBackend>): void {
  describe(`upload chunks contract: ${name}`, () => {
    let b: UploadChunksBackend;
    beforeEach(async () => { b = await factory(); });
    afterEach(() => b.cleanup());

    it('streams a chunk into its own object, named by upload and offset; two attempts at one offset never share one', async () => {
      const bytes = randomBytes(6 * 1024 * 1024 + 7); // past one part
      const first = await b.chunks.put('u1', 1234, Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), bytes.length);
      const second = await b.chunks.put('u1', 1234, Readable.from([Buffer.from('other')]));
      expect(first.length).toBe(bytes.length);
      expect(second.length).toBe(5);
      expect(first.name).toMatch(/^u1\/0000000000001234-/);
      expect(second.name).not.toBe(first.name);
      expect((await collect(await b.chunks.open(first.name))).equals(bytes)).toBe(true);
      await b.chunks.delete([first.name, second.name, 'u1/never-written']);
      expect(await b.names()).toEqual([]);
    });

    it('a body longer or shorter than announced, or one that breaks off, leaves no object and no multipart upload', async () => {
      for (const [body, expected] of [
        [Readable.from([randomBytes(100)]), 50],
        [Readable.from([randomBytes(100)]), 150],
        [breaking(randomBytes(7 * 1024 * 1024)), undefined],
        [breaking(randomBytes(100)), undefined],
      ] as const) {
        const err = await b.chunks.put('u2', 0, body, expected).then(() => undefined, (e: unknown) => e);
        expect(err).toBeDefined();
        if (expected !== undefined) expect(isOciError(err) && err.code).toBe('SIZE_INVALID');
      }
      expect(await b.names()).toEqual([]);
      expect(await b.multiparts()).toBe(0);
    });

    it('the sweep removes objects older than its cutoff that nothing claims, and keeps the claimed and the young', async () => {
      const kept = await b.chunks.put('u3', 0, Readable.from([Buffer.from('claimed')]));
      const orphan = await b.chunks.put('u4', 0, Readable.from([Buffer.from('left over')]));
      const claims = async (names: string[]) => new Set(names.filter((n) => n === kept.name));
      const none = async () => new Set<string>();
      // Everything is younger than a cutoff an hour ago: nothing goes.
      expect(await b.chunks.sweep(Date.now() - 3_600_000, claims, none)).toBe(0);
      expect((await b.names()).sort()).toEqual([kept.name, orphan.name].sort());
      expect(await b.chunks.sweep(Date.now() + 60_000, claims, none)).toBe(1);
      expect(await b.names()).toEqual([kept.name]);
    });

    it('the sweep keeps the multipart upload of a chunk still streaming into a live session, and aborts it once the session is gone', async () => {
      const body = new PassThrough();
      const put = b.chunks.put('u6', 0, body);
      put.catch(() => {});
      body.write(randomBytes(6 * 1024 * 1024)); // past one part: a multipart upload is under way
      for (let i = 0; i < 200 && (await b.multiparts()) === 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(await b.multiparts()).toBe(1);
      const claims = async () => new Set<string>();
      expect(await b.chunks.sweep(Date.now() + 60_000, claims, async (ids) => new Set(ids.filter((id) => id === 'u6')))).toBe(0);
      expect(await b.multiparts()).toBe(1);
      expect(await b.chunks.sweep(Date.now() + 60_000, claims, async () => new Set<string>())).toBe(1);
      expect(await b.multiparts()).toBe(0);
      body.destroy();
      await expect(put).rejects.toBeTruthy();
    });
  });
}
