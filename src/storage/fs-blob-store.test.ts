import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDigest, type Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import type { BlobStore, BlobWriter } from './blob-store.js';
import { blobPath, createFsBlobStore } from './fs-blob-store.js';

const digestOf = (b: Uint8Array): Digest => parseDigest(`sha256:${createHash('sha256').update(b).digest('hex')}`);

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function rejection(promise: Promise<unknown>): Promise<OciError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(OciError);
  return err as OciError;
}

let root: string;
let store: BlobStore;
const writers: BlobWriter[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'mirror-blobs-'));
  store = await createFsBlobStore(root);
});
afterEach(async () => {
  await Promise.all(writers.splice(0).map((w) => w.close()));
  await rm(root, { recursive: true, force: true });
});

async function newWriter(): Promise<BlobWriter> {
  const w = await store.createWriter();
  writers.push(w);
  return w;
}

/** Writes bytes in a few chunks and commits them under their own digest. */
async function putBlob(bytes: Buffer): Promise<Digest> {
  const w = await newWriter();
  for (let i = 0; i < bytes.length; i += 1000) await w.write(bytes.subarray(i, i + 1000));
  const digest = digestOf(bytes);
  await w.commit(digest, bytes.length);
  return digest;
}

const tmpEntries = () => readdir(join(root, 'tmp'));

describe('createFsBlobStore', () => {
  it('creates blobs/ and tmp/ under the root', async () => {
    expect(existsSync(join(root, 'blobs'))).toBe(true);
    expect(await tmpEntries()).toEqual([]);
  });
});

describe('writing a blob', () => {
  it('makes it visible at blobs/sha256/<2 hex>/<64 hex> with the written bytes after commit', async () => {
    const bytes = randomBytes(5000);
    const digest = digestOf(bytes);
    const w = await newWriter();
    await w.write(bytes.subarray(0, 1234));
    await w.write(bytes.subarray(1234));
    expect(w.bytesWritten).toBe(5000);

    expect(await w.commit(digest, 5000)).toEqual({ digest: digest.value, size: 5000 });
    const path = join(root, 'blobs', 'sha256', digest.hex.slice(0, 2), digest.hex);
    expect(blobPath(root, digest)).toBe(path);
    expect((await readFile(path)).equals(bytes)).toBe(true);
    expect(await tmpEntries()).toEqual([]);
    expect(await store.stat(digest.value)).toEqual({ digest: digest.value, size: 5000 });
  });

  it('commits without an expected size', async () => {
    const bytes = Buffer.from('no size given');
    const w = await newWriter();
    await w.write(bytes);
    await w.commit(digestOf(bytes));
    expect(await store.stat(digestOf(bytes).value)).toEqual({ digest: digestOf(bytes).value, size: bytes.length });
  });

  it('stores an empty blob', async () => {
    const digest = await putBlob(Buffer.alloc(0));
    expect(await store.stat(digest.value)).toEqual({ digest: digest.value, size: 0 });
  });

  it('keeps the blob invisible until commit', async () => {
    const bytes = Buffer.from('not yet');
    const w = await newWriter();
    await w.write(bytes);
    expect(await store.stat(digestOf(bytes).value)).toBeUndefined();
    expect(existsSync(blobPath(root, digestOf(bytes)))).toBe(false);
    expect(await tmpEntries()).toHaveLength(1);
  });

  it('refuses a wrong digest with DIGEST_INVALID, leaving no file at the final path and no temp file', async () => {
    const claimed = digestOf(Buffer.from('what the client promised'));
    const w = await newWriter();
    await w.write(Buffer.from('what the upstream sent'));
    const err = await rejection(w.commit(claimed));
    expect(err.code).toBe('DIGEST_INVALID');
    expect(err.status).toBe(400);
    expect(existsSync(blobPath(root, claimed))).toBe(false);
    expect(await store.stat(claimed.value)).toBeUndefined();
    expect(await tmpEntries()).toEqual([]);
  });

  it('refuses a wrong size with SIZE_INVALID, leaving no file at the final path and no temp file', async () => {
    const bytes = Buffer.from('twelve bytes');
    const digest = digestOf(bytes);
    const w = await newWriter();
    await w.write(bytes);
    const err = await rejection(w.commit(digest, bytes.length + 1));
    expect(err.code).toBe('SIZE_INVALID');
    expect(err.status).toBe(400);
    expect(existsSync(blobPath(root, digest))).toBe(false);
    expect(await tmpEntries()).toEqual([]);
  });

  it('refuses a sha512 digest (not hashed while writing) and keeps nothing', async () => {
    const w = await newWriter();
    await w.write(Buffer.from('x'));
    const err = await rejection(w.commit(parseDigest(`sha512:${'0'.repeat(128)}`)));
    expect(err.code).toBe('UNSUPPORTED');
    expect(await tmpEntries()).toEqual([]);
  });

  it('refuses further writes and a second commit after a failed commit', async () => {
    const w = await newWriter();
    await w.write(Buffer.from('abc'));
    await rejection(w.commit(digestOf(Buffer.from('xyz'))));
    await expect(w.write(Buffer.from('more'))).rejects.toThrow();
    await expect(w.commit(digestOf(Buffer.from('abc')))).rejects.toThrow();
  });

  it('abort() discards the bytes; abort() after commit keeps the blob', async () => {
    const w1 = await newWriter();
    await w1.write(Buffer.from('discard me'));
    await w1.abort();
    expect(await tmpEntries()).toEqual([]);

    const bytes = Buffer.from('keep me');
    const w2 = await newWriter();
    await w2.write(bytes);
    await w2.commit(digestOf(bytes));
    await w2.abort();
    expect(await store.stat(digestOf(bytes).value)).toEqual({ digest: digestOf(bytes).value, size: bytes.length });
  });

  it('close() without commit removes the temp file', async () => {
    const w = await store.createWriter();
    await w.write(Buffer.from('abandoned'));
    await w.close();
    expect(await tmpEntries()).toEqual([]);
  });

  it('read() returns the bytes written so far while the blob is being written', async () => {
    const w = await newWriter();
    await w.write(Buffer.from('hello '));
    expect((await w.read(0, 100)).toString()).toBe('hello ');
    expect((await w.read(2, 3)).toString()).toBe('llo');
    expect((await w.read(6, 10)).length).toBe(0);

    await w.write(Buffer.from('world'));
    expect((await w.read(6, 10)).toString()).toBe('world');
    expect((await w.read(0, 11)).toString()).toBe('hello world');
    expect((await w.read(20, 5)).length).toBe(0);
  });

  it('read() still works after commit, for followers that have not caught up', async () => {
    const bytes = randomBytes(3000);
    const w = await newWriter();
    await w.write(bytes);
    await w.commit(digestOf(bytes));
    expect((await w.read(1000, 500)).equals(bytes.subarray(1000, 1500))).toBe(true);
  });
});

describe('reading a blob', () => {
  it('open() streams all the bytes', async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const digest = await putBlob(bytes);
    expect((await collect(await store.open(digest.value))).equals(bytes)).toBe(true);
  });

  it('open() with an inclusive range streams exactly those bytes', async () => {
    const bytes = randomBytes(10_000);
    const digest = await putBlob(bytes);
    expect((await collect(await store.open(digest.value, { start: 10, end: 19 }))).equals(bytes.subarray(10, 20))).toBe(true);
    expect((await collect(await store.open(digest.value, { start: 0, end: 0 }))).equals(bytes.subarray(0, 1))).toBe(true);
    expect((await collect(await store.open(digest.value, { start: 9990, end: 9999 }))).equals(bytes.subarray(9990))).toBe(true);
  });

  it('open() of a missing or malformed digest is BLOB_UNKNOWN (404)', async () => {
    const missing = digestOf(Buffer.from('never stored'));
    const err = await rejection(store.open(missing.value));
    expect(err.code).toBe('BLOB_UNKNOWN');
    expect(err.status).toBe(404);
    expect((await rejection(store.open('sha256:nope'))).code).toBe('BLOB_UNKNOWN');
  });

  it('stat() of a missing or malformed digest is undefined', async () => {
    expect(await store.stat(digestOf(Buffer.from('never stored')).value)).toBeUndefined();
    expect(await store.stat('not-a-digest')).toBeUndefined();
  });
});

describe('delete, list and cleanTemp', () => {
  it('delete() removes the blob and reports whether there was one', async () => {
    const digest = await putBlob(Buffer.from('short-lived'));
    expect(await store.delete(digest.value)).toBe(true);
    expect(await store.stat(digest.value)).toBeUndefined();
    expect(existsSync(blobPath(root, digest))).toBe(false);
    expect(await store.delete(digest.value)).toBe(false);
    expect(await store.delete('garbage')).toBe(false);
  });

  it('list() yields every committed blob with its size, and nothing in progress', async () => {
    const a = await putBlob(Buffer.from('a'.repeat(10)));
    const b = await putBlob(Buffer.from('b'.repeat(2000)));
    const c = await putBlob(Buffer.from('c'.repeat(7)));
    const pending = await newWriter();
    await pending.write(Buffer.from('pending'));

    const listed = [];
    for await (const info of store.list()) listed.push(info);
    const byDigest = (x: { digest: string }, y: { digest: string }) => x.digest.localeCompare(y.digest);
    expect(listed.sort(byDigest)).toEqual([
      { digest: a.value, size: 10 },
      { digest: b.value, size: 2000 },
      { digest: c.value, size: 7 },
    ].sort(byDigest));
  });

  it('list() of an empty store yields nothing', async () => {
    const listed = [];
    for await (const info of store.list()) listed.push(info);
    expect(listed).toEqual([]);
  });

  it('cleanTemp() removes files and directories left in tmp/ and counts them', async () => {
    await writeFile(join(root, 'tmp', 'left-by-crash-1'), 'partial');
    await writeFile(join(root, 'tmp', 'left-by-crash-2'), 'partial');
    await mkdir(join(root, 'tmp', 'a-dir', 'nested'), { recursive: true });
    const kept = await putBlob(Buffer.from('committed blobs stay'));

    expect(await store.cleanTemp()).toBe(3);
    expect(await tmpEntries()).toEqual([]);
    expect(await store.stat(kept.value)).toBeDefined();
    expect(await store.cleanTemp()).toBe(0);
  });

  it('a new store on an existing root sees the blobs already there', async () => {
    const digest = await putBlob(Buffer.from('persisted'));
    const again = await createFsBlobStore(root);
    expect(await again.stat(digest.value)).toEqual({ digest: digest.value, size: 9 });
  });
});

describe('createUpload (resumable, no file handle between appends)', () => {
  const fdCount = () => readdirSync('/proc/self/fd').length;
  /** A stream that sends `good` and then fails, as a client that disconnects mid-chunk. */
  const brokenStream = (good: Buffer) => new Readable({
    read() {
      this.push(good);
      setImmediate(() => this.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
      this.read = () => {};
    },
  });

  it('appends chunks and commits them under their digest, as a 0600 file', async () => {
    const upload = await store.createUpload();
    const a = randomBytes(3000);
    const b = randomBytes(5000);
    expect(await upload.append(Readable.from([a.subarray(0, 1000), a.subarray(1000)]))).toBe(3000);
    expect(await upload.append(Readable.from([b]), 5000)).toBe(5000);
    expect(upload.size).toBe(8000);
    const digest = digestOf(Buffer.concat([a, b]));
    expect(await upload.commit(digest)).toEqual({ digest: digest.value, size: 8000 });
    expect(await collect(await store.open(digest.value))).toEqual(Buffer.concat([a, b]));
    expect(statSync(blobPath(root, digest)).mode & 0o777).toBe(0o600);
    expect(await tmpEntries()).toEqual([]);
  });

  it('holds no file descriptor while idle: 50 open uploads add none', async () => {
    const before = fdCount();
    const uploads = [];
    for (let i = 0; i < 50; i++) {
      const u = await store.createUpload();
      await u.append(Readable.from([randomBytes(100)]));
      uploads.push(u);
    }
    expect(fdCount()).toBe(before);
    expect(await tmpEntries()).toHaveLength(50);
    await Promise.all(uploads.map((u) => u.abort()));
    expect(await tmpEntries()).toEqual([]);
  });

  it('a chunk whose stream fails midway is not kept: size, file and hash are as before', async () => {
    const upload = await store.createUpload();
    const first = randomBytes(1000);
    await upload.append(Readable.from([first]));
    await expect(upload.append(brokenStream(randomBytes(700)))).rejects.toThrow('aborted');
    expect(upload.size).toBe(1000);
    const [tmp] = await tmpEntries();
    expect(statSync(join(root, 'tmp', tmp!)).size).toBe(1000);
    const second = randomBytes(10);
    await upload.append(Readable.from([second]));
    const digest = digestOf(Buffer.concat([first, second]));
    await upload.commit(digest);
    expect(await collect(await store.open(digest.value))).toEqual(Buffer.concat([first, second]));
  });

  it('a chunk longer or shorter than announced is refused with SIZE_INVALID and not kept', async () => {
    const upload = await store.createUpload();
    expect((await rejection(upload.append(Readable.from([randomBytes(20)]), 10))).code).toBe('SIZE_INVALID');
    expect((await rejection(upload.append(Readable.from([randomBytes(5)]), 10))).code).toBe('SIZE_INVALID');
    expect(upload.size).toBe(0);
    const bytes = randomBytes(10);
    await upload.append(Readable.from([bytes]), 10);
    await upload.commit(digestOf(bytes));
  });

  it('a wrong digest discards the upload (DIGEST_INVALID)', async () => {
    const upload = await store.createUpload();
    await upload.append(Readable.from([randomBytes(10)]));
    expect((await rejection(upload.commit(digestOf(Buffer.from('other'))))).code).toBe('DIGEST_INVALID');
    expect(await tmpEntries()).toEqual([]);
  });
});

describe('storage failures', () => {
  it('writes onto a full disk (a real ENOSPC from /dev/full) fail with STORAGE_FULL, keeping the cause', async () => {
    const full = await createFsBlobStore(root, {
      fs: { open: ((path: string, flags?: string, mode?: number) => (path.includes('/tmp/') && flags !== 'wx' ? open('/dev/full', 'r+') : open(path, flags, mode))) as typeof open },
    });
    const writer = await full.createWriter();
    writers.push(writer);
    const err = await rejection(writer.write(randomBytes(100)));
    expect(err.code).toBe('STORAGE_FULL');
    expect(err.status).toBe(507);
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOSPC');

    const upload = await full.createUpload();
    expect((await rejection(upload.append(Readable.from([randomBytes(100)])))).code).toBe('STORAGE_FULL');
    expect(upload.size).toBe(0);
  });

  it('a data dir that refuses new files (EACCES) fails with STORAGE_UNAVAILABLE', async () => {
    const denied = await createFsBlobStore(root, {
      fs: { open: (() => Promise.reject(Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }))) as unknown as typeof open },
    });
    const err = await rejection(denied.createWriter());
    expect(err.code).toBe('STORAGE_UNAVAILABLE');
    expect(err.status).toBe(503);
    expect((await rejection(denied.createUpload())).code).toBe('STORAGE_UNAVAILABLE');
  });

  it('creates tmp/, blobs/ and blob directories 0700 and files 0600', async () => {
    const digest = await putBlob(randomBytes(100));
    for (const d of [join(root, 'tmp'), join(root, 'blobs'), join(root, 'blobs', 'sha256'), join(blobPath(root, digest), '..')]) {
      expect((statSync(d).mode & 0o777).toString(8)).toBe('700');
    }
    expect((statSync(blobPath(root, digest)).mode & 0o777).toString(8)).toBe('600');
  });
});
