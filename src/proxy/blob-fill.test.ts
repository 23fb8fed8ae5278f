import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseDigest, type Digest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import type { BlobStore, BlobWriter } from '../storage/blob-store.js';
import { blobPath, createFsBlobStore, type FsBlobStoreOptions } from '../storage/fs-blob-store.js';
import type { TransferLimits, UpstreamResponse } from '../upstream/client.js';
import { BlobFill } from './blob-fill.js';

/**
 * BlobFill at the unit level: a real temp-dir file store (wrapped to observe and delay the
 * writer) and an upstream body that the test pushes, pauses, ends or breaks by hand.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
/** blob-fill.ts's bound on bytes received but not yet on disk (MAX_UNFLUSHED). */
const MAX_UNFLUSHED = 2 * MiB;

const digestOf = (b: Uint8Array): Digest => parseDigest(`sha256:${createHash('sha256').update(b).digest('hex')}`);
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Waits (on real I/O turns, never on timers, which some tests fake) until `cond` holds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await tick();
  }
}

/** Lets the fill run as far as it can without the test feeding or releasing anything. */
async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await tick();
}

/** What a client reading a follower sees: its bytes, and whether it ended or broke. */
function client(stream: Readable) {
  const chunks: Buffer[] = [];
  let ended = false;
  const result = new Promise<{ bytes: Buffer; error?: Error }>((resolve) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => { ended = true; resolve({ bytes: Buffer.concat(chunks) }); });
    stream.on('error', (error) => resolve({ bytes: Buffer.concat(chunks), error }));
  });
  return { stream, result, got: () => chunks.reduce((n, c) => n + c.length, 0), ended: () => ended };
}

async function rejection(promise: Promise<unknown>): Promise<OciError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(OciError);
  return err as OciError;
}
const reasonOf = (err: OciError) => (err.detail as { reason?: string }).reason;

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'mirror-fill-'));
});
afterEach(async () => {
  vi.useRealTimers();
  await rm(root, { recursive: true, force: true });
});

interface WriterHooks {
  /** Replaces writev; `real` performs the actual write. */
  writev?: (real: () => Promise<void>) => Promise<void>;
}

/** The file store under `root`, with its writer wrapped to count reads, aborts and closes. */
async function observedStore(hooks: WriterHooks = {}, fsOptions: FsBlobStoreOptions = {}) {
  const inner = await createFsBlobStore(root, fsOptions);
  const seen = { writers: 0, fileReads: 0, aborts: 0, closes: 0 };
  const store: BlobStore = {
    ...inner,
    async createWriter() {
      const w = await inner.createWriter();
      seen.writers++;
      const writer: BlobWriter = {
        get bytesWritten() { return w.bytesWritten; },
        write: (chunk) => writer.writev([chunk]),
        writev: (chunks) => (hooks.writev ? hooks.writev(() => w.writev(chunks)) : w.writev(chunks)),
        read: (position, length) => { seen.fileReads++; return w.read(position, length); },
        commit: (expected, size) => w.commit(expected, size),
        abort: () => { seen.aborts++; return w.abort(); },
        close: () => { seen.closes++; return w.close(); },
      };
      return writer;
    },
  };
  return { store, seen };
}

interface StartOptions {
  store: BlobStore;
  digest: Digest;
  status?: number;
  headers?: Record<string, string | undefined>;
  limits?: TransferLimits;
  /** The upstream body, when the test needs one that produces on demand. */
  body?: Readable;
}

/** A fill whose upstream body the test controls: push(), end, destroy(err). */
function startFill(o: StartOptions) {
  const body = o.body ?? new Readable({ read() {} });
  const res: UpstreamResponse = { status: o.status ?? 200, headers: o.headers ?? {}, body, limits: o.limits };
  const onCommit = vi.fn();
  const onBytes = vi.fn();
  const toError = vi.fn((r: UpstreamResponse) => new OciError('BLOB_UNKNOWN', { detail: { status: r.status } }));
  const fill = new BlobFill(o.digest, o.store, async () => res, toError, { onCommit, onBytes });
  const feed = (bytes: Buffer, chunk = 64 * KiB) => {
    for (let i = 0; i < bytes.length; i += chunk) body.push(bytes.subarray(i, i + chunk));
  };
  return { fill, body, feed, onCommit, onBytes, toError };
}

const tmpFiles = () => readdir(join(root, 'tmp'));
const lengthOf = (b: Buffer) => ({ 'content-length': String(b.length) });

/** Nothing of a failed fill is visible: no blob file, no temp file, no commit hook. */
async function expectNothingCommitted(digest: Digest, onCommit: ReturnType<typeof vi.fn>) {
  expect(existsSync(blobPath(root, digest))).toBe(false);
  expect(await tmpFiles()).toEqual([]);
  expect(onCommit).not.toHaveBeenCalled();
}

describe('BlobFill followers', () => {
  it('one follower gets the blob, which is committed under its digest once', async () => {
    const blob = randomBytes(300 * KiB);
    const digest = digestOf(blob);
    const { store, seen } = await observedStore();
    const { fill, feed, body, onCommit, onBytes } = startFill({ store, digest, headers: lengthOf(blob) });
    await fill.ready;
    expect(fill.size).toBe(blob.length);
    const c = client(fill.follow());
    feed(blob);
    body.push(null);
    expect(await fill.done).toEqual({ digest: digest.value, size: blob.length });
    expect((await c.result).bytes.equals(blob)).toBe(true);
    expect(onCommit).toHaveBeenCalledTimes(1);
    expect(onCommit).toHaveBeenCalledWith({ digest: digest.value, size: blob.length });
    expect(onBytes.mock.calls.reduce((n, [k]) => n + (k as number), 0)).toBe(blob.length);
    expect((await readFile(blobPath(root, digest))).equals(blob)).toBe(true);
    await until(() => seen.closes === 1, 'the writer closed once the follower left');
  });

  it('followers joining before the first byte, mid-transfer and behind the window all get the blob in order', async () => {
    const blob = randomBytes(6 * MiB); // more than the 4 MiB in-memory window
    const digest = digestOf(blob);
    const { store, seen } = await observedStore();
    const { fill, feed, body, onCommit } = startFill({ store, digest, headers: lengthOf(blob) });
    await fill.ready;
    const early = client(fill.follow());
    feed(blob.subarray(0, MiB));
    await until(() => fill.received === MiB && early.got() === MiB, 'the first MiB');
    const middle = client(fill.follow());
    feed(blob.subarray(MiB), 256 * KiB);
    await until(() => fill.received === blob.length, 'all bytes received');
    expect(early.got()).toBe(blob.length - 1); // the last byte waits for verification
    const readsBefore = seen.fileReads;
    const late = client(fill.follow()); // offset 0 has left the window: it reads the file
    const tail = client(fill.follow({ start: 5 * MiB, end: blob.length - 1 }));
    await until(() => late.got() === blob.length - 1, 'the late follower to catch up from the file');
    expect(seen.fileReads).toBeGreaterThan(readsBefore);
    expect(late.ended()).toBe(false);
    body.push(null);
    await fill.done;
    for (const c of [early, middle, late]) expect((await c.result).bytes.equals(blob)).toBe(true);
    expect((await tail.result).bytes.equals(blob.subarray(5 * MiB))).toBe(true);
    expect(onCommit).toHaveBeenCalledTimes(1);
    await until(() => seen.closes === 1, 'the writer closed after the last follower');
  });

  it('a range follower gets exactly its slice; a range reaching the end waits for verification', async () => {
    const blob = randomBytes(1000);
    const digest = digestOf(blob);
    const { store } = await observedStore();
    const { fill, feed, body } = startFill({ store, digest, headers: lengthOf(blob) });
    await fill.ready;
    const middle = client(fill.follow({ start: 100, end: 199 }));
    const end = client(fill.follow({ start: 990, end: 999 }));
    const one = client(fill.follow({ start: 0, end: 0 }));
    feed(blob, 100);
    expect((await middle.result).bytes.equals(blob.subarray(100, 200))).toBe(true);
    expect((await one.result).bytes.equals(blob.subarray(0, 1))).toBe(true);
    await until(() => end.got() === 9, 'the end range up to the held-back byte');
    await settle();
    expect(end.got()).toBe(9);
    expect(end.ended()).toBe(false);
    body.push(null);
    expect((await end.result).bytes.equals(blob.subarray(990))).toBe(true);
  });

  it('a follower that disconnects does not affect the fill or the other followers', async () => {
    const blob = randomBytes(512 * KiB);
    const digest = digestOf(blob);
    const { store, seen } = await observedStore();
    const { fill, feed, body, onCommit } = startFill({ store, digest, headers: lengthOf(blob) });
    await fill.ready;
    const leaving = client(fill.follow());
    const staying = client(fill.follow());
    feed(blob.subarray(0, 200 * KiB));
    await until(() => leaving.got() === 200 * KiB, 'the first bytes');
    leaving.stream.destroy();
    feed(blob.subarray(200 * KiB));
    body.push(null);
    await fill.done;
    expect((await staying.result).bytes.equals(blob)).toBe(true);
    expect(leaving.got()).toBe(200 * KiB);
    expect(onCommit).toHaveBeenCalledTimes(1);
    await until(() => seen.closes === 1, 'the writer closed despite the disconnected follower');
  });

  it('follow() before ready is refused, and after a failure throws the fill error', async () => {
    const { store } = await observedStore();
    const { fill, body } = startFill({ store, digest: digestOf(Buffer.from('x')), headers: { 'content-length': '1' } });
    expect(() => fill.follow()).toThrow('follow() before ready');
    await fill.ready;
    body.destroy(new Error('reset'));
    const err = await rejection(fill.done);
    expect(() => fill.follow()).toThrow(err);
  });
});

describe('BlobFill verification', () => {
  it('a digest mismatch cuts every follower before the last byte and commits nothing', async () => {
    const blob = randomBytes(200 * KiB);
    const wrong = digestOf(Buffer.from('another blob'));
    const { store, seen } = await observedStore();
    const { fill, feed, body, onCommit } = startFill({ store, digest: wrong, headers: lengthOf(blob) });
    await fill.ready;
    const a = client(fill.follow());
    const b = client(fill.follow({ start: 0, end: blob.length - 1 }));
    feed(blob);
    await until(() => a.got() === blob.length - 1 && b.got() === blob.length - 1, 'all but the last byte');
    body.push(null);
    const err = await rejection(fill.done);
    expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(reasonOf(err)).toBe('digest mismatch');
    for (const c of [a, b]) {
      const { bytes, error } = await c.result;
      expect(error).toBe(err);
      expect(bytes.length).toBe(blob.length - 1);
      expect(c.ended()).toBe(false);
    }
    expect(seen.aborts).toBeGreaterThan(0);
    await expectNothingCommitted(wrong, onCommit);
    await expect(fill.ready).resolves.toBeUndefined();
  });

  it('without Content-Length the size is unknown until the end, and the bytes are still verified', async () => {
    const blob = randomBytes(100 * KiB);
    const { store } = await observedStore();
    const good = startFill({ store, digest: digestOf(blob) });
    await good.fill.ready;
    expect(good.fill.size).toBeUndefined();
    const c = client(good.fill.follow());
    good.feed(blob);
    good.body.push(null);
    expect(await good.fill.done).toEqual({ digest: digestOf(blob).value, size: blob.length });
    expect((await c.result).bytes.equals(blob)).toBe(true);

    const wrong = digestOf(Buffer.from('not it'));
    const bad = startFill({ store, digest: wrong, headers: { 'content-length': 'garbage' } });
    await bad.fill.ready;
    expect(bad.fill.size).toBeUndefined();
    const d = client(bad.fill.follow());
    bad.feed(blob);
    bad.body.push(null);
    expect(reasonOf(await rejection(bad.fill.done))).toBe('digest mismatch');
    expect((await d.result).error).toBeInstanceOf(OciError);
    expect(d.ended()).toBe(false);
    await expectNothingCommitted(wrong, bad.onCommit);
  });

  it('an upstream cut mid-transfer fails the fill and its followers, keeping the cause', async () => {
    const blob = randomBytes(300 * KiB);
    const digest = digestOf(blob);
    const { store, seen } = await observedStore();
    const { fill, feed, body, onCommit } = startFill({ store, digest, headers: lengthOf(blob) });
    await fill.ready;
    const c = client(fill.follow());
    feed(blob.subarray(0, 100 * KiB));
    await until(() => c.got() === 100 * KiB, 'the first bytes');
    const reset = new Error('socket hang up');
    body.destroy(reset);
    const err = await rejection(fill.done);
    expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(err.cause).toBe(reset);
    expect((await c.result).error).toBe(err);
    expect(seen.aborts).toBeGreaterThan(0);
    await expectNothingCommitted(digest, onCommit);
  });

  it('a body shorter than its Content-Length fails as a size mismatch', async () => {
    const blob = randomBytes(1000);
    const { store } = await observedStore();
    const { fill, feed, body, onCommit } = startFill({ store, digest: digestOf(blob), headers: lengthOf(blob) });
    await fill.ready;
    const c = client(fill.follow());
    feed(blob.subarray(0, 900));
    body.push(null);
    const err = await rejection(fill.done);
    expect(reasonOf(err)).toBe('size mismatch');
    expect((await c.result).error).toBe(err);
    await expectNothingCommitted(digestOf(blob), onCommit);
  });

  it('more bytes than Content-Length fail the fill and destroy the upstream body', async () => {
    const blob = randomBytes(1000);
    const { store } = await observedStore();
    const { fill, feed, body, onCommit } = startFill({ store, digest: digestOf(blob), headers: { 'content-length': '999' } });
    await fill.ready;
    const c = client(fill.follow());
    feed(blob, 250);
    const err = await rejection(fill.done);
    expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(err.message).toBe('upstream sent more bytes than announced');
    expect(body.destroyed).toBe(true);
    expect((await c.result).error).toBe(err);
    expect(c.got()).toBeLessThan(999);
    await expectNothingCommitted(digestOf(blob), onCommit);
  });
});

describe('BlobFill upstream and storage errors', () => {
  it('a status other than 200 rejects ready and done with toError, creating no file', async () => {
    const { store, seen } = await observedStore();
    const { fill, body, toError, onCommit } = startFill({ store, digest: digestOf(Buffer.from('x')), status: 404 });
    const err = await rejection(fill.ready);
    expect(err).toBe(toError.mock.results[0]!.value);
    expect(err.code).toBe('BLOB_UNKNOWN');
    expect(await rejection(fill.done)).toBe(err);
    expect(body.destroyed).toBe(true);
    expect(seen.writers).toBe(0);
    expect(onCommit).not.toHaveBeenCalled();
  });

  it('a writer that cannot be created destroys the upstream body and keeps the storage code', async () => {
    const eacces = () => Promise.reject(Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }));
    const { store } = await observedStore({}, { fs: { open: eacces as never } });
    const { fill, body } = startFill({ store, digest: digestOf(Buffer.from('x')), headers: { 'content-length': '1' } });
    const err = await rejection(fill.ready);
    expect(err.code).toBe('STORAGE_UNAVAILABLE');
    expect(await rejection(fill.done)).toBe(err);
    expect(body.destroyed).toBe(true);
  });

  it('a storage failure at commit keeps its STORAGE_* code, not UPSTREAM_UNAVAILABLE', async () => {
    const enospc = () => Promise.reject(Object.assign(new Error('ENOSPC: no space left'), { code: 'ENOSPC' }));
    const blob = randomBytes(10 * KiB);
    const digest = digestOf(blob);
    const { store } = await observedStore({}, { fs: { rename: enospc as never } });
    const { fill, feed, body, onCommit } = startFill({ store, digest, headers: lengthOf(blob) });
    await fill.ready;
    const c = client(fill.follow());
    feed(blob);
    body.push(null);
    const err = await rejection(fill.done);
    expect(err.code).toBe('STORAGE_FULL');
    expect((await c.result).error).toBe(err);
    await expectNothingCommitted(digest, onCommit);
  });

  it('a failing disk write fails the fill with the storage code', async () => {
    const blob = randomBytes(100 * KiB);
    const digest = digestOf(blob);
    const { store } = await observedStore({ writev: () => Promise.reject(new OciError('STORAGE_FULL')) });
    const { fill, feed, body, onCommit } = startFill({ store, digest, headers: lengthOf(blob) });
    await fill.ready;
    const c = client(fill.follow());
    feed(blob);
    body.push(null);
    const err = await rejection(fill.done);
    expect(err.code).toBe('STORAGE_FULL');
    expect((await c.result).error).toBe(err);
    await expectNothingCommitted(digest, onCommit);
  });
});

describe('BlobFill flow control and limits', () => {
  it('a slow disk pauses reading from the upstream once MAX_UNFLUSHED bytes are unwritten', async () => {
    const blob = randomBytes(8 * MiB);
    const chunk = 256 * KiB;
    // Like undici's body, the upstream produces a chunk only when the reader asks for one.
    const source: Buffer[] = [];
    for (let i = 0; i < blob.length; i += chunk) source.push(blob.subarray(i, i + chunk));
    const body = new Readable({ read() { this.push(source.shift() ?? null); } });
    let release!: () => void;
    const disk = new Promise<void>((resolve) => { release = resolve; });
    const { store } = await observedStore({ writev: async (real) => { await disk; await real(); } });
    const { fill } = startFill({ store, digest: digestOf(blob), headers: lengthOf(blob), body });
    await fill.ready;
    const c = client(fill.follow());
    await settle();
    expect(fill.received).toBeGreaterThan(MAX_UNFLUSHED);
    expect(fill.received).toBeLessThanOrEqual(MAX_UNFLUSHED + chunk);
    // Beyond what the fill received, the upstream was asked for at most its read-ahead.
    expect(blob.length - source.length * chunk - fill.received).toBeLessThanOrEqual(2 * chunk);
    expect(c.got()).toBe(fill.received); // followers are not held back by the disk
    release();
    expect((await fill.done).size).toBe(blob.length);
    expect((await c.result).bytes.equals(blob)).toBe(true);
  });

  const timers = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });

  it('a fill past its deadline is aborted with UPSTREAM_TIMEOUT', async () => {
    timers();
    const blob = randomBytes(1000);
    const { store } = await observedStore();
    const limits = { deadlineMs: 5000, minBytesPerSecond: 0, windowMs: 0 };
    const { fill, feed, body, onCommit } = startFill({ store, digest: digestOf(blob), headers: lengthOf(blob), limits });
    await fill.ready;
    const c = client(fill.follow());
    feed(blob.subarray(0, 500));
    await until(() => c.got() === 500, 'the first bytes');
    vi.advanceTimersByTime(4999);
    await settle();
    expect(fill.state).toBe('running');
    vi.advanceTimersByTime(1);
    const err = await rejection(fill.done);
    expect(err.code).toBe('UPSTREAM_TIMEOUT');
    expect(reasonOf(err)).toBe('fill deadline exceeded');
    expect(body.destroyed).toBe(true);
    expect((await c.result).error).toBe(err);
    await expectNothingCommitted(digestOf(blob), onCommit);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a trickling body is aborted after a window below the minimum throughput (the first window is grace)', async () => {
    timers();
    const blob = randomBytes(1000);
    const { store } = await observedStore();
    const limits = { deadlineMs: 0, minBytesPerSecond: 1000, windowMs: 100 }; // 100 bytes a window
    const { fill, feed, onCommit } = startFill({ store, digest: digestOf(blob), headers: lengthOf(blob), limits });
    await fill.ready;
    vi.advanceTimersByTime(100); // grace: nothing arrived, only the mark is set
    for (let i = 0; i < 5; i++) {
      feed(blob.subarray(i * 100, (i + 1) * 100));
      await until(() => fill.received === (i + 1) * 100, 'a window of bytes');
      vi.advanceTimersByTime(100);
      await settle();
      expect(fill.state).toBe('running');
    }
    feed(blob.subarray(500, 599)); // one byte short of the window's share
    await until(() => fill.received === 599, 'a short window');
    vi.advanceTimersByTime(100);
    const err = await rejection(fill.done);
    expect(err.code).toBe('UPSTREAM_TIMEOUT');
    expect(reasonOf(err)).toBe('transfer below minimum throughput');
    await expectNothingCommitted(digestOf(blob), onCommit);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('the limit timers are cleared when the fill commits', async () => {
    timers();
    const blob = randomBytes(1000);
    const { store } = await observedStore();
    const limits = { deadlineMs: 60_000, minBytesPerSecond: 1, windowMs: 1000 };
    const { fill, feed, body } = startFill({ store, digest: digestOf(blob), headers: lengthOf(blob), limits });
    await fill.ready;
    expect(vi.getTimerCount()).toBe(2);
    feed(blob);
    body.push(null);
    await fill.done;
    expect(vi.getTimerCount()).toBe(0);
  });
});
