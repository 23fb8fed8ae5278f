import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DeleteObjectsCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDigest, type Digest } from '../../src/oci/digest.js';
import { isOciError } from '../../src/oci/errors.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import type { S3Target } from '../../src/storage/s3-client.js';
import { createS3BlobStore, listMultipartUploads } from '../../src/storage/s3-blob-store.js';
import { startS3, testS3Client, type S3TestStore } from '../helpers/ceph.js';
import { describeBlobStoreContract } from './blob-store-contract.js';
import { describeUploadChunksContract } from './upload-chunks-contract.js';

// One radosgw (or the S3_TEST_* store) for the file, a fresh bucket; each test a fresh prefix.
let s3: S3TestStore;
let bucket: string;
beforeAll(async () => {
  s3 = await startS3();
  bucket = await s3.createBucket();
}, 120_000);
afterAll(() => s3?.stop());

const digestOf = (b: Uint8Array): Digest => parseDigest(`sha256:${createHash('sha256').update(b).digest('hex')}`);

async function keysUnder(prefix: string): Promise<string[]> {
  const res = await s3.client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => o.Key!);
}

let n = 0;
/** A store over a prefix no other test uses, with its own spool dir. */
async function freshStore() {
  const prefix = `${s3.freshPrefix()}t${++n}/`;
  const target: S3Target = { client: s3.client(), bucket, prefix };
  const spoolDir = await mkdtemp(join(tmpdir(), 'mirror-s3-spool-'));
  const open = () => createS3BlobStore(target, { spoolDir, staleMultipartMs: 0 });
  return {
    target, prefix, spoolDir, store: await open(), reopen: open,
    pendingCount: async () => (await readdir(spoolDir)).length + (await listMultipartUploads(target)).length,
    cleanup: async () => {
      const keys = await keysUnder(prefix);
      if (keys.length) await s3.client().send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }));
      await rm(spoolDir, { recursive: true, force: true });
    },
  };
}

describeBlobStoreContract('s3 (radosgw)', freshStore);

async function putWith(store: BlobStore, bytes: Buffer) {
  const w = await store.createWriter();
  await w.write(bytes);
  const info = await w.commit(digestOf(bytes), bytes.length);
  await w.close();
  return info;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('s3 blob store', () => {
  it('a digest mismatch puts no object in the bucket and leaves no multipart upload', async () => {
    const b = await freshStore();
    const bytes = randomBytes(9 * 1024 * 1024); // more than one part: the multipart path too
    const w = await b.store.createWriter();
    await w.write(bytes);
    const err = await w.commit(digestOf(Buffer.from('other'))).catch((e: unknown) => e);
    expect(isOciError(err) && err.code).toBe('DIGEST_INVALID');
    await w.close();
    expect(await keysUnder(b.prefix)).toEqual([]);
    expect(await listMultipartUploads(b.target)).toEqual([]);
    await b.cleanup();
  });

  it('a multipart blob (> 8 MiB) round-trips under blobs/sha256/<hex>, with ranges across parts', async () => {
    const b = await freshStore();
    const bytes = randomBytes(8 * 1024 * 1024 * 2 + 12345);
    const w = await b.store.createWriter();
    for (let i = 0; i < bytes.length; i += 1024 * 1024) await w.write(bytes.subarray(i, i + 1024 * 1024));
    const digest = digestOf(bytes);
    expect(await w.commit(digest, bytes.length)).toEqual({ digest: digest.value, size: bytes.length });
    await w.close();
    expect(await keysUnder(b.prefix)).toEqual([`${b.prefix}blobs/sha256/${digest.hex}`]);
    const whole = await collect(await b.store.open(digest.value));
    expect(createHash('sha256').update(whole).digest('hex')).toBe(digest.hex);
    const boundary = 8 * 1024 * 1024;
    const range = await collect(await b.store.open(digest.value, { start: boundary - 10, end: boundary + 9 }));
    expect(range.equals(bytes.subarray(boundary - 10, boundary + 10))).toBe(true);
    expect(await listMultipartUploads(b.target)).toEqual([]);
    await b.cleanup();
  }, 60_000);

  it('two writers of one digest at once (multipart): both succeed, one object', async () => {
    const b = await freshStore();
    const bytes = randomBytes(9 * 1024 * 1024);
    const writers = [await b.store.createWriter(), await b.store.createWriter()];
    await Promise.all(writers.map((w) => w.write(bytes)));
    const infos = await Promise.all(writers.map((w) => w.commit(digestOf(bytes))));
    expect(infos.map((i) => i.size)).toEqual([bytes.length, bytes.length]);
    await Promise.all(writers.map((w) => w.close()));
    expect(await keysUnder(b.prefix)).toEqual([`${b.prefix}blobs/sha256/${digestOf(bytes).hex}`]);
    expect((await collect(await b.store.open(digestOf(bytes).value))).equals(bytes)).toBe(true);
    await b.cleanup();
  }, 60_000);

  it('a commit that loses the conditional PUT (If-None-Match) to an equal object succeeds, and the object is unchanged', async () => {
    const b = await freshStore();
    const bytes = randomBytes(5000);
    await putWith(b.store, bytes);
    // A client whose HEAD never sees the object: as if the other writer won between HEAD and PUT.
    const blind = testS3Client(s3.endpoint, s3.region, s3.accessKey, s3.secretKey);
    blind.middlewareStack.add((next, context) => async (args) => {
      if (context.commandName === 'HeadObjectCommand') throw Object.assign(new Error('not found'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
      return next(args);
    }, { step: 'initialize' });
    const loser = await createS3BlobStore({ ...b.target, client: blind }, { spoolDir: b.spoolDir });
    expect(await putWith(loser, bytes)).toEqual({ digest: digestOf(bytes).value, size: 5000 });
    expect((await collect(await b.store.open(digestOf(bytes).value))).equals(bytes)).toBe(true);
    blind.destroy();
    await b.cleanup();
  });

  it('a fill told its digest sends full parts while it writes: a multipart upload before commit, the object only after', async () => {
    const b = await freshStore();
    const bytes = randomBytes(2 * 8 * 1024 * 1024 + 1000);
    const digest = digestOf(bytes);
    const w = await b.store.createWriter(digest);
    for (let i = 0; i < bytes.length; i += 1024 * 1024) await w.write(bytes.subarray(i, i + 1024 * 1024));
    // The parts go in the background: wait (briefly) for the multipart upload to show.
    let uploads = await listMultipartUploads(b.target);
    for (let i = 0; i < 50 && uploads.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      uploads = await listMultipartUploads(b.target);
    }
    expect(uploads.map((u) => u.Key)).toEqual([`${b.prefix}blobs/sha256/${digest.hex}`]);
    expect(await b.store.stat(digest.value)).toBeUndefined(); // parts are not an object
    expect(await w.commit(digest, bytes.length)).toEqual({ digest: digest.value, size: bytes.length });
    await w.close();
    expect(await listMultipartUploads(b.target)).toEqual([]);
    expect((await collect(await b.store.open(digest.value))).equals(bytes)).toBe(true);
    await b.cleanup();
  }, 60_000);

  it('a fill told its digest whose bytes do not match: parts dropped, no object, nothing pending', async () => {
    const b = await freshStore();
    const bytes = randomBytes(9 * 1024 * 1024);
    const claimed = digestOf(Buffer.from('the upstream said so'));
    const w = await b.store.createWriter(claimed);
    await w.write(bytes);
    const err = await w.commit(claimed).catch((e: unknown) => e);
    expect(isOciError(err) && err.code).toBe('DIGEST_INVALID');
    await w.close();
    expect(await keysUnder(b.prefix)).toEqual([]);
    expect(await b.pendingCount()).toBe(0);
    // Closed without commit: the same.
    const dropped = await b.store.createWriter(digestOf(bytes));
    await dropped.write(bytes);
    await dropped.close();
    expect(await keysUnder(b.prefix)).toEqual([]);
    expect(await b.pendingCount()).toBe(0);
    await b.cleanup();
  }, 60_000);

  it('an upload larger than a part commits as one verified object', async () => {
    const b = await freshStore();
    const bytes = randomBytes(10 * 1024 * 1024 + 7);
    const upload = await b.store.createUpload();
    for (let i = 0; i < bytes.length; i += 3 * 1024 * 1024) await upload.append(Readable.from([bytes.subarray(i, i + 3 * 1024 * 1024)]));
    expect(await upload.commit(digestOf(bytes))).toEqual({ digest: digestOf(bytes).value, size: bytes.length });
    expect(await b.store.stat(digestOf(bytes).value)).toEqual({ digest: digestOf(bytes).value, size: bytes.length });
    expect(await readdir(b.spoolDir)).toEqual([]);
    await b.cleanup();
  }, 60_000);
});

// Issue 13: the chunk objects of upload sessions shared by replicas, beside the blobs.
describeUploadChunksContract('s3 (radosgw)', async () => {
  const f = await freshStore();
  const chunks = f.store.uploadChunks!;
  const base = `${f.prefix}uploads/`;
  return {
    chunks,
    names: async () => (await keysUnder(base)).map((k) => k.slice(base.length)),
    multiparts: async () => (await s3.client().send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: base }))).Uploads?.length ?? 0,
    cleanup: f.cleanup,
  };
});
