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

interface FillOptions {
  digest?: Digest;
  status?: number;
  /** Response headers; by default the blob's Content-Length. */
  headers?: Record<string, string | undefined>;
  limits?: TransferLimits;
  /** The upstream body, when the test needs one that produces on demand; else push() by hand. */
  body?: Readable;
  hooks?: WriterHooks;
  fs?: FsBlobStoreOptions;
  /** Return at once instead of once `ready` settled. */
  now?: boolean;
  /** What recording the committed blob does (the index write); by default nothing. */
  onCommit?: (info: { digest: string; size: number }) => void | Promise<void>;
}

/** A fill of `blob` from a fake upstream whose body the test feeds, ends or breaks. */
async function begin(blob: Buffer, o: FillOptions = {}) {
  const { store, seen } = await observedStore(o.hooks, o.fs);
  const digest = o.digest ?? digestOf(blob);
  const body = o.body ?? new Readable({ read() {} });
  const res: UpstreamResponse = { status: o.status ?? 200, headers: o.headers ?? lengthOf(blob), body, limits: o.limits };
  const onCommit = vi.fn(o.onCommit ?? (() => {}));
  const onBytes = vi.fn();
  const toError = vi.fn((r: UpstreamResponse) => new OciError('BLOB_UNKNOWN', { detail: { status: r.status } }));
  const fill = new BlobFill(digest, store, async () => res, toError, { onCommit, onBytes });
  const feed = (bytes: Buffer, chunk = 64 * KiB) => {
    for (let i = 0; i < bytes.length; i += chunk) body.push(bytes.subarray(i, i + chunk));
  };
  if (!o.now) await fill.ready.catch(() => {});
  return { fill, body, feed, onCommit, onBytes, toError, seen, digest };
}

const lengthOf = (b: Buffer) => ({ 'content-length': String(b.length) });

/** Nothing of a failed fill is visible: no blob file, no temp file, no commit hook. */
async function expectNothingCommitted(digest: Digest, onCommit: ReturnType<typeof vi.fn>) {
  expect(existsSync(blobPath(root, digest))).toBe(false);
  expect(await readdir(join(root, 'tmp'))).toEqual([]);
  expect(onCommit).not.toHaveBeenCalled();
}

describe('BlobFill followers', () => {
  it('one follower gets the blob, which is committed under its digest once', async () => {
    const blob = randomBytes(300 * KiB);
    const { fill, feed, body, onCommit, onBytes, digest, seen } = await begin(blob);
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
    const { fill, feed, body, onCommit, digest, seen } = await begin(blob);
    const early = client(fill.follow());
    feed(blob.subarray(0, MiB));
    await until(() => fill.received === MiB && early.got() === MiB, 'the first MiB');
    const middle = client(fill.follow());
    feed(blob.subarray(MiB), 256 * KiB);
    // The last byte waits for verification.
    await until(() => fill.received === blob.length && early.got() === blob.length - 1, 'all but the last byte');
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
    const { fill, feed, body } = await begin(blob);
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
    const { fill, feed, body, onCommit, seen } = await begin(blob);
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

  it('a follower joining after the fill committed and its file closed still gets the blob', async () => {
    // A repository joining a running fill awaits an upstream HEAD first: the fill can
    // commit, and its last follower leave, before this one starts reading.
    const blob = randomBytes(100 * KiB);
    const { fill, feed, body, seen } = await begin(blob);
    feed(blob);
    body.push(null);
    await fill.done;
    await until(() => seen.closes === 1, 'the writer closed');
    const whole = await client(fill.follow()).result;
    expect(whole.error).toBeUndefined();
    expect(whole.bytes.equals(blob)).toBe(true);
    expect((await client(fill.follow({ start: 10, end: 19 })).result).bytes.equals(blob.subarray(10, 20))).toBe(true);
  });

  it('follow() before ready is refused, and after a failure throws the fill error', async () => {
    const { fill, body } = await begin(Buffer.from('x'), { now: true });
    expect(() => fill.follow()).toThrow('follow() before ready');
    await fill.ready;
    body.destroy(new Error('reset'));
    const err = await rejection(fill.done);
    expect(() => fill.follow()).toThrow(err);
  });
});

describe('BlobFill commit', () => {
  it('a follower gets its last byte only once the blob is recorded (onCommit resolved)', async () => {
    const blob = randomBytes(100 * KiB);
    let record!: () => void;
    const recorded = new Promise<void>((resolve) => { record = resolve; });
    const { fill, feed, body, onCommit } = await begin(blob, { onCommit: () => recorded });
    const c = client(fill.follow());
    feed(blob);
    body.push(null);
    await until(() => onCommit.mock.calls.length === 1, 'the commit hook');
    await settle();
    expect(c.ended()).toBe(false);
    expect(fill.state).toBe('running');
    record();
    expect((await c.result).bytes.equals(blob)).toBe(true);
    expect(fill.state).toBe('done');
  });

  it('a failure to record the blob fails the fill: its followers break, done rejects with the storage error', async () => {
    const blob = randomBytes(100 * KiB);
    const full = new OciError('STORAGE_FULL', { message: 'index full' });
    const { fill, feed, body } = await begin(blob, { onCommit: async () => { throw full; } });
    const c = client(fill.follow());
    feed(blob);
    body.push(null);
    expect((await rejection(fill.done)).code).toBe('STORAGE_FULL');
    expect((await c.result).error).toBeDefined();
    expect(fill.state).toBe('failed');
  });
});

describe('BlobFill verification', () => {
  it('a digest mismatch cuts every follower before the last byte and commits nothing', async () => {
    const blob = randomBytes(200 * KiB);
    const wrong = digestOf(Buffer.from('another blob'));
    const { fill, feed, body, onCommit, seen } = await begin(blob, { digest: wrong });
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
  });

  it('without Content-Length the size is unknown until the end, and the bytes are still verified', async () => {
    const blob = randomBytes(100 * KiB);
    const good = await begin(blob, { headers: {} });
    expect(good.fill.size).toBeUndefined();
    const c = client(good.fill.follow());
    good.feed(blob);
    good.body.push(null);
    expect(await good.fill.done).toEqual({ digest: good.digest.value, size: blob.length });
    expect((await c.result).bytes.equals(blob)).toBe(true);

    const bad = await begin(blob, { digest: digestOf(Buffer.from('not it')), headers: { 'content-length': 'garbage' } });
    expect(bad.fill.size).toBeUndefined();
    const d = client(bad.fill.follow());
    bad.feed(blob);
    bad.body.push(null);
    expect(reasonOf(await rejection(bad.fill.done))).toBe('digest mismatch');
    expect((await d.result).error).toBeInstanceOf(OciError);
    expect(d.ended()).toBe(false);
    await expectNothingCommitted(bad.digest, bad.onCommit);
  });

  it('an upstream cut mid-transfer fails the fill and its followers, keeping the cause', async () => {
    const blob = randomBytes(300 * KiB);
    const { fill, feed, body, onCommit, digest, seen } = await begin(blob);
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

  it('a body shorter or longer than its Content-Length fails the fill', async () => {
    const blob = randomBytes(1000);
    const short = await begin(blob);
    const c = client(short.fill.follow());
    short.feed(blob.subarray(0, 900));
    short.body.push(null);
    const err = await rejection(short.fill.done);
    expect(reasonOf(err)).toBe('size mismatch');
    expect((await c.result).error).toBe(err);
    await expectNothingCommitted(short.digest, short.onCommit);

    const long = await begin(blob, { headers: { 'content-length': '999' } });
    const d = client(long.fill.follow());
    long.feed(blob, 250);
    const tooMany = await rejection(long.fill.done);
    expect(tooMany.message).toBe('upstream sent more bytes than announced');
    expect(long.body.destroyed).toBe(true);
    expect((await d.result).error).toBe(tooMany);
    expect(d.got()).toBeLessThan(999);
    await expectNothingCommitted(long.digest, long.onCommit);
  });
});

describe('BlobFill upstream and storage errors', () => {
  it('a status other than 200 rejects ready and done with toError, creating no file', async () => {
    const { fill, body, toError, onCommit, seen } = await begin(Buffer.from('x'), { status: 404 });
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
    const { fill, body } = await begin(Buffer.from('x'), { fs: { fs: { open: eacces as never } } });
    const err = await rejection(fill.ready);
    expect(err.code).toBe('STORAGE_UNAVAILABLE');
    expect(await rejection(fill.done)).toBe(err);
    expect(body.destroyed).toBe(true);
  });

  it('a storage failure at commit or on a write keeps its STORAGE_* code, not UPSTREAM_UNAVAILABLE', async () => {
    const enospc = () => Promise.reject(Object.assign(new Error('ENOSPC: no space left'), { code: 'ENOSPC' }));
    const blob = randomBytes(100 * KiB);
    const atCommit = { fs: { fs: { rename: enospc as never } } };
    const onWrite = { hooks: { writev: () => Promise.reject(new OciError('STORAGE_FULL')) } };
    for (const faults of [atCommit, onWrite]) {
      const { fill, feed, body, onCommit, digest } = await begin(blob, faults);
      const c = client(fill.follow());
      feed(blob);
      body.push(null);
      const err = await rejection(fill.done);
      expect(err.code).toBe('STORAGE_FULL');
      expect((await c.result).error).toBe(err);
      await expectNothingCommitted(digest, onCommit);
    }
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
    const { fill } = await begin(blob, { body, hooks: { writev: async (real) => { await disk; await real(); } } });
    const c = client(fill.follow());
    await settle();
    await until(() => c.got() === fill.received, 'the follower to read what arrived'); // not held back by the disk
    expect(fill.received).toBeGreaterThan(MAX_UNFLUSHED);
    expect(fill.received).toBeLessThanOrEqual(MAX_UNFLUSHED + chunk);
    // Beyond what the fill received, the upstream was asked for at most its read-ahead.
    expect(blob.length - source.length * chunk - fill.received).toBeLessThanOrEqual(2 * chunk);
    release();
    expect((await fill.done).size).toBe(blob.length);
    expect((await c.result).bytes.equals(blob)).toBe(true);
  });

  it('writes in batches of about a MiB, not once per network chunk, and the last partial batch before commit', async () => {
    const blob = randomBytes(8 * MiB + 100 * KiB);
    const chunk = 64 * KiB;
    let at = 0;
    // A network-paced body: one chunk per I/O turn, so a fast disk is never behind.
    const body = new Readable({
      read() {
        setImmediate(() => {
          this.push(at < blob.length ? blob.subarray(at, at + chunk) : null);
          at += chunk;
        });
      },
    });
    let writes = 0;
    const { fill, digest } = await begin(blob, { body, hooks: { writev: async (real) => { writes++; await real(); } } });
    const c = client(fill.follow());
    expect((await fill.done).size).toBe(blob.length);
    expect((await c.result).bytes.equals(blob)).toBe(true);
    expect(writes).toBeLessThanOrEqual(10);
    expect((await readFile(blobPath(root, digest))).equals(blob)).toBe(true);
  });

  const fakeTimers = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });

  it('a fill past its deadline is aborted with UPSTREAM_TIMEOUT', async () => {
    fakeTimers();
    const blob = randomBytes(1000);
    const limits = { deadlineMs: 5000, minBytesPerSecond: 0, windowMs: 0 };
    const { fill, feed, body, onCommit, digest } = await begin(blob, { limits });
    const c = client(fill.follow());
    feed(blob.subarray(0, 500));
    await until(() => c.got() === 500, 'the first bytes');
    vi.advanceTimersByTime(4999);
    await settle();
    expect(fill.state).toBe('running');
    vi.advanceTimersByTime(1);
    await until(() => fill.state === 'failed', 'the deadline abort');
    const err = await rejection(fill.done);
    expect(err.code).toBe('UPSTREAM_TIMEOUT');
    expect(reasonOf(err)).toBe('fill deadline exceeded');
    expect(body.destroyed).toBe(true);
    expect((await c.result).error).toBe(err);
    await expectNothingCommitted(digest, onCommit);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a trickling body is aborted after a window below the minimum throughput (the first window is grace)', async () => {
    fakeTimers();
    const blob = randomBytes(1000);
    const limits = { deadlineMs: 0, minBytesPerSecond: 1000, windowMs: 100 }; // 100 bytes a window
    const { fill, feed, onCommit, digest } = await begin(blob, { limits });
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
    await until(() => fill.state === 'failed', 'the throughput abort');
    const err = await rejection(fill.done);
    expect(err.code).toBe('UPSTREAM_TIMEOUT');
    expect(reasonOf(err)).toBe('transfer below minimum throughput');
    await expectNothingCommitted(digest, onCommit);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('the limit timers are cleared when the fill commits', async () => {
    fakeTimers();
    const blob = randomBytes(1000);
    const { fill, feed, body } = await begin(blob, { limits: { deadlineMs: 60_000, minBytesPerSecond: 1, windowMs: 1000 } });
    expect(vi.getTimerCount()).toBe(2);
    feed(blob);
    body.push(null);
    await fill.done;
    expect(vi.getTimerCount()).toBe(0);
  });
});
