import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDigest, type Digest } from '../../src/oci/digest.js';
import { isOciError } from '../../src/oci/errors.js';
import type { BlobStore, BlobWriter } from '../../src/storage/blob-store.js';

/** One fresh, empty blob store of the backend under test, with optional capabilities. */
export interface BlobStoreBackend {
  store: BlobStore;
  /** Another store over the same storage, as after a restart. */
  reopen(): Promise<BlobStore>;
  /** Optional: how many in-progress objects (temp files, open multipart uploads) it holds. */
  pendingCount?(): Promise<number>;
  /** Optional: the permission bits of every file and directory the store created. */
  modes?(): Promise<{ files: number[]; dirs: number[] }>;
  /** Removes what it stored. */
  cleanup(): Promise<void>;
}

export type BlobStoreBackendFactory = () => Promise<BlobStoreBackend>;

const digestOf = (b: Uint8Array): Digest => parseDigest(`sha256:${createHash('sha256').update(b).digest('hex')}`);
const MISSING = `sha256:${'0'.repeat(64)}`;

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function code(promise: Promise<unknown>): Promise<string | undefined> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  return isOciError(err) ? err.code : err === undefined ? undefined : `not an OciError: ${String(err)}`;
}

/**
 * The BlobStore contract (blob-store.ts): what every backend must do, observed through
 * the port (and the backend's optional capabilities). Run by
 * test/contracts/*.contract.test.ts for each backend.
 */
export function describeBlobStoreContract(name: string, factory: BlobStoreBackendFactory): void {
  describe(`blob store contract: ${name}`, () => {
    let backend: BlobStoreBackend;
    let store: BlobStore;
    const writers: BlobWriter[] = [];
    beforeEach(async () => {
      backend = await factory();
      store = backend.store;
    });
    afterEach(async () => {
      await Promise.all(writers.splice(0).map((w) => w.close()));
      await backend.cleanup();
    });
    const newWriter = async (s = store) => {
      const w = await s.createWriter();
      writers.push(w);
      return w;
    };
    const put = async (bytes: Buffer) => {
      const w = await newWriter();
      for (let i = 0; i < bytes.length; i += 1000) await w.write(bytes.subarray(i, i + 1000));
      const info = await w.commit(digestOf(bytes), bytes.length);
      await w.close();
      return info.digest;
    };
    const listed = async (s = store) => {
      const all = [];
      for await (const b of s.list()) all.push(b);
      return all.sort((a, b) => (a.digest < b.digest ? -1 : 1));
    };
    const nothingPending = async () => {
      if (backend.pendingCount) expect(await backend.pendingCount()).toBe(0);
    };

    it('write, commit, then stat and open give back the bytes; ranges are inclusive', async () => {
      const bytes = randomBytes(10_000);
      const w = await newWriter();
      await w.writev([bytes.subarray(0, 3000), bytes.subarray(3000, 3001), bytes.subarray(3001)]);
      expect(w.bytesWritten).toBe(10_000);
      const digest = digestOf(bytes);
      expect(await w.commit(digest, 10_000)).toEqual({ digest: digest.value, size: 10_000 });
      await w.close();
      expect(await store.stat(digest.value)).toEqual({ digest: digest.value, size: 10_000 });
      expect((await collect(await store.open(digest.value))).equals(bytes)).toBe(true);
      expect((await collect(await store.open(digest.value, { start: 100, end: 199 }))).equals(bytes.subarray(100, 200))).toBe(true);
      expect((await collect(await store.open(digest.value, { start: 9999, end: 9999 }))).equals(bytes.subarray(9999))).toBe(true);
      await nothingPending();
    });

    it('stores an empty blob, and commits without an expected size', async () => {
      const digest = await put(Buffer.alloc(0));
      expect(await store.stat(digest)).toEqual({ digest, size: 0 });
      const w = await newWriter();
      await w.write(Buffer.from('abc'));
      expect((await w.commit(digestOf(Buffer.from('abc')))).size).toBe(3);
    });

    it('a missing or malformed digest: stat is undefined, open is BLOB_UNKNOWN, delete is false', async () => {
      for (const digest of [MISSING, 'sha256:nothex', 'md5:abc']) {
        expect(await store.stat(digest)).toBeUndefined();
        expect(await code(store.open(digest))).toBe('BLOB_UNKNOWN');
        expect(await store.delete(digest)).toBe(false);
      }
    });

    it('nothing is visible before commit; the writer reads back what it wrote, before and after commit', async () => {
      const bytes = randomBytes(5000);
      const w = await newWriter();
      await w.write(bytes.subarray(0, 2000));
      expect(await store.stat(digestOf(bytes).value)).toBeUndefined();
      expect(await listed()).toEqual([]);
      const head = await w.read(0, 2000);
      expect(head.length).toBeGreaterThan(0);
      expect(head.equals(bytes.subarray(0, head.length))).toBe(true);
      expect((await w.read(1500, 100)).equals(bytes.subarray(1500, 1600))).toBe(true);
      expect((await w.read(2000, 100)).length).toBe(0); // not written yet
      await w.write(bytes.subarray(2000));
      await w.commit(digestOf(bytes));
      expect((await w.read(4990, 100)).equals(bytes.subarray(4990))).toBe(true);
    });

    it('a digest or size mismatch leaves nothing: no blob, nothing listed, nothing pending', async () => {
      const bytes = randomBytes(3000);
      const w1 = await newWriter();
      await w1.write(bytes);
      expect(await code(w1.commit(digestOf(Buffer.from('other'))))).toBe('DIGEST_INVALID');
      const w2 = await newWriter();
      await w2.write(bytes);
      expect(await code(w2.commit(digestOf(bytes), 2999))).toBe('SIZE_INVALID');
      await nothingPending(); // discarded by the failed commit, not only at close
      await w1.close();
      await w2.close();
      expect(await store.stat(digestOf(bytes).value)).toBeUndefined();
      expect(await listed()).toEqual([]);
    });

    it('abort and close-without-commit discard the bytes; abort after commit keeps the blob', async () => {
      const bytes = randomBytes(100);
      const aborted = await newWriter();
      await aborted.write(bytes);
      await aborted.abort();
      const dropped = await newWriter();
      await dropped.write(bytes);
      await dropped.close();
      expect(await store.stat(digestOf(bytes).value)).toBeUndefined();
      await nothingPending();
      const kept = await newWriter();
      await kept.write(bytes);
      await kept.commit(digestOf(bytes));
      await kept.abort();
      await kept.close();
      expect(await store.stat(digestOf(bytes).value)).toEqual({ digest: digestOf(bytes).value, size: 100 });
    });

    it('concurrent writers of one digest both commit; the blob is whole and listed once', async () => {
      const bytes = randomBytes(200_000);
      const [a, b] = [await newWriter(), await newWriter()];
      for (let i = 0; i < bytes.length; i += 50_000) {
        await Promise.all([a.write(bytes.subarray(i, i + 50_000)), b.write(bytes.subarray(i, i + 50_000))]);
      }
      const infos = await Promise.all([a.commit(digestOf(bytes)), b.commit(digestOf(bytes))]);
      expect(infos.map((i) => i.size)).toEqual([200_000, 200_000]);
      expect((await collect(await store.open(digestOf(bytes).value))).equals(bytes)).toBe(true);
      expect(await listed()).toEqual([{ digest: digestOf(bytes).value, size: 200_000 }]);
    });

    it('delete removes a blob once; list yields every committed blob with its size', async () => {
      const one = await put(randomBytes(10));
      const two = await put(randomBytes(20));
      expect(await listed()).toEqual([{ digest: one, size: 10 }, { digest: two, size: 20 }].sort((a, b) => (a.digest < b.digest ? -1 : 1)));
      expect(await store.delete(one)).toBe(true);
      expect(await store.delete(one)).toBe(false);
      expect(await store.stat(one)).toBeUndefined();
      expect(await code(store.open(one))).toBe('BLOB_UNKNOWN');
      expect(await listed()).toEqual([{ digest: two, size: 20 }]);
    });

    it('a store reopened on the same storage sees the blobs; cleanTemp removes what a dead process left', async () => {
      const digest = await put(randomBytes(10));
      const leftover = await store.createWriter(); // never closed: the process "died"
      await leftover.write(randomBytes(10));
      const upload = await store.createUpload();
      await upload.append(Readable.from([randomBytes(10)]));
      const next = await backend.reopen();
      expect(await next.stat(digest)).toEqual({ digest, size: 10 });
      expect(await next.cleanTemp()).toBeGreaterThanOrEqual(2);
      await nothingPending();
      expect(await listed(next)).toEqual([{ digest, size: 10 }]);
      await leftover.close().catch(() => {});
    });

    it('an upload appends whole chunks, refuses a chunk of the wrong length without keeping it, and commits', async () => {
      const bytes = randomBytes(3000);
      const upload = await store.createUpload();
      expect(await upload.append(Readable.from([bytes.subarray(0, 1000)]), 1000)).toBe(1000);
      expect(await code(upload.append(Readable.from([bytes.subarray(1000, 2000)]), 999))).toBe('SIZE_INVALID');
      expect(upload.size).toBe(1000);
      await upload.append(Readable.from([bytes.subarray(1000, 2000), bytes.subarray(2000)]));
      expect(await upload.commit(digestOf(bytes))).toEqual({ digest: digestOf(bytes).value, size: 3000 });
      expect((await collect(await store.open(digestOf(bytes).value))).equals(bytes)).toBe(true);
      await nothingPending();
    });

    it('an upload with the wrong digest leaves nothing; abort discards', async () => {
      const bytes = randomBytes(100);
      const wrong = await store.createUpload();
      await wrong.append(Readable.from([bytes]));
      expect(await code(wrong.commit(digestOf(Buffer.from('x'))))).toBe('DIGEST_INVALID');
      const aborted = await store.createUpload();
      await aborted.append(Readable.from([bytes]));
      await aborted.abort();
      expect(await store.stat(digestOf(bytes).value)).toBeUndefined();
      expect(await listed()).toEqual([]);
      await nothingPending();
    });

    it('localPath, when the store has it, names a file holding exactly the blob', async () => {
      const bytes = randomBytes(500);
      const digest = await put(bytes);
      if (!store.localPath) return; // optional fast path: an object store has none
      expect((await readFile(store.localPath(digest)!)).equals(bytes)).toBe(true);
      expect(store.localPath('sha256:nothex')).toBeUndefined();
    });

    // Issue 13 (part R): the optional capabilities of an object store.
    it('presignedUrl, when the store has it, is a URL for that one blob, serving exactly its bytes until its TTL', async () => {
      const bytes = randomBytes(700);
      const digest = await put(bytes);
      const other = await put(randomBytes(10));
      if (!store.presignedUrl) return; // optional: a local store has none
      const url = await store.presignedUrl(digest, 60_000);
      expect(new URL(url).searchParams.get('X-Amz-Expires')).toBe('60');
      expect(url).toContain(digest.slice(7));
      expect(url).not.toContain(other.slice(7));
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
      expect(await code(store.presignedUrl('sha256:nothex', 1000))).toBe('BLOB_UNKNOWN');
    });

    it('ready, when the store has it, answers undefined while the store is up', async () => {
      if (!store.ready) return; // optional: /readyz probes a local store its own way
      expect(await store.ready()).toBeUndefined();
    });

    it('whatever it creates is private to the mirror (files 0600, directories 0700)', async () => {
      await put(randomBytes(10));
      const w = await newWriter();
      await w.write(randomBytes(10));
      await (await store.createUpload()).append(Readable.from([randomBytes(10)]));
      if (!backend.modes) return; // a backend without modes (an object store) has nothing to check
      const { files, dirs } = await backend.modes();
      expect(files.length).toBeGreaterThanOrEqual(3);
      expect(new Set(files)).toEqual(new Set([0o600]));
      expect(new Set(dirs)).toEqual(new Set([0o700]));
    });
  });
}
