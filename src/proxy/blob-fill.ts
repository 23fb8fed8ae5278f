import { Readable } from 'node:stream';
import { OciError, isOciError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { BlobInfo, BlobStore, BlobWriter, ByteRange } from '../storage/blob-store.js';
import type { UpstreamResponse } from '../upstream/client.js';
import { watchFillLimits } from './fill-limits.js';
import { FOLLOW_CHUNK, FollowReader, openLater } from './follow-reader.js';

/** Bytes received but not yet written to the file before the upstream is paused. */
const MAX_UNFLUSHED = 2 * 1024 * 1024;
/** The most recent bytes kept in memory, so followers near the front never touch the file. */
const WINDOW_BYTES = 4 * 1024 * 1024;
/**
 * Bytes queued before a write starts: a few large writes instead of one per network chunk
 * (64 KiB), since each costs a system call, a promise and, with a fill worker, a message
 * each way. Below MAX_UNFLUSHED, so the unwritten bytes stay inside the window.
 */
const WRITE_BATCH = 1024 * 1024;

interface Piece {
  start: number;
  buf: Buffer;
}

/** onCommit records the blob (the index): followers get their last byte only once it resolved. */
type FillHooks = { onBytes?: (n: number) => void; onCommit: (info: BlobInfo) => void | Promise<void> };

/**
 * One upstream fetch of one blob into the store, followed by any number of clients.
 *
 * Bytes arriving from the upstream go three ways: into the digest (hashed in order), into
 * a small in-memory window of the latest bytes, and into a temp file (written in batches,
 * so a slow disk write never holds up the network). Every client is a follower reading at
 * its own pace: from the window while it keeps up, from the file when it falls behind, so
 * a slow client never throttles the fill or the others, and a client that leaves does not
 * cancel it. A follower never receives the last byte before the digest is verified: on a
 * mismatch or a cut transfer its stream is destroyed, so the client sees a broken
 * transfer, never a complete-looking wrong body.
 */
export class BlobFill {
  state: 'starting' | 'running' | 'done' | 'failed' = 'starting';
  /** Total size, from the upstream's Content-Length (undefined when it sent none). */
  size: number | undefined;
  error: Error | undefined;
  /** Bytes received from the upstream so far. */
  received = 0;
  /** Bumped at every progress, so a follower can tell it missed none while it awaited. */
  version = 0;
  /** Resolves once the upstream answered 200 (size known); rejects with an OciError. */
  readonly ready: Promise<void>;
  /** Settles when the fill is committed (resolves) or has failed (rejects). */
  readonly done: Promise<BlobInfo>;

  private writer: BlobWriter | undefined;
  private readers = 0;
  private waiters: Array<() => void> = [];
  private window: Piece[] = [];
  private windowBytes = 0;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private writing: Promise<void> | undefined;
  private writeError: Error | undefined;
  /** The writer's file handle is released: followers can no longer read the fill's file. */
  private closed = false;

  constructor(
    readonly digest: Digest,
    private readonly store: BlobStore,
    fetch: () => Promise<UpstreamResponse>,
    toError: (res: UpstreamResponse) => OciError,
    hooks: FillHooks,
  ) {
    let markReady!: () => void;
    let failReady!: (err: Error) => void;
    this.ready = new Promise((resolve, reject) => { markReady = resolve; failReady = reject; });
    this.ready.catch(() => {}); // observed by callers; never an unhandled rejection
    this.done = this.run(store, fetch, toError, hooks, markReady).catch(async (err: Error) => {
      const error = isOciError(err) ? err : new OciError('UPSTREAM_UNAVAILABLE', { message: 'upstream blob transfer failed', cause: err });
      // Discard the bytes before any client learns of the failure, so that nothing of a
      // failed fill is left on disk by the time a client retries.
      await this.writing?.catch(() => {});
      await this.writer?.abort().catch(() => {});
      this.error = error;
      this.state = 'failed';
      this.window = [];
      failReady(error);
      this.notify();
      void this.maybeClose();
      throw error;
    });
    this.done.catch(() => {});
  }

  private async run(
    store: BlobStore,
    fetch: () => Promise<UpstreamResponse>,
    toError: (res: UpstreamResponse) => OciError,
    hooks: FillHooks,
    markReady: () => void,
  ): Promise<BlobInfo> {
    const res = await fetch();
    // Counted from the response head, not from the call: waiting for an upstream slot
    // behind other fills must not eat into this fill's time.
    const stopWatch = res.limits ? watchFillLimits(res, res.limits, this.digest.value, () => this.received) : () => {};
    try {
      return await this.transfer(res, store, toError, hooks, markReady);
    } finally {
      stopWatch();
    }
  }

  private async transfer(
    res: UpstreamResponse,
    store: BlobStore,
    toError: (res: UpstreamResponse) => OciError,
    hooks: FillHooks,
    markReady: () => void,
  ): Promise<BlobInfo> {
    if (res.status !== 200) {
      res.body.destroy();
      throw toError(res);
    }
    const length = res.headers['content-length'];
    this.size = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
    try {
      this.writer = await store.createWriter(this.digest);
    } catch (err) {
      res.body.destroy();
      throw err;
    }
    this.state = 'running';
    markReady();
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (this.size !== undefined && this.received + chunk.length > this.size) {
        res.body.destroy();
        throw new OciError('UPSTREAM_UNAVAILABLE', { message: 'upstream sent more bytes than announced', detail: { digest: this.digest.value } });
      }
      this.remember(chunk);
      this.received += chunk.length;
      this.queue.push(chunk);
      this.queuedBytes += chunk.length;
      if (this.queuedBytes >= WRITE_BATCH) this.writing ??= this.drainQueue(false);
      hooks.onBytes?.(chunk.length);
      this.notify();
      // The disk is behind: stop reading from the upstream until it catches up.
      if (this.received - this.writer.bytesWritten > MAX_UNFLUSHED) await this.writing;
      if (this.writeError) throw this.writeError;
    }
    // The rest of the queue (less than a batch), after any write still running.
    while (this.queue.length > 0 || this.writing) {
      this.writing ??= this.drainQueue(true);
      await this.writing;
      if (this.writeError) throw this.writeError;
    }
    let info: BlobInfo;
    try {
      info = await this.writer.commit(this.digest, this.size);
    } catch (err) {
      // A full or broken disk is the store's failure, not the upstream's: keep its code.
      if (isOciError(err) && err.code.startsWith('STORAGE_')) throw err;
      // The upstream's bytes are not the blob we asked for, or were cut short. The reason
      // is a fixed phrase: a storage error's message could name a file path.
      const reason = isOciError(err) && err.code === 'DIGEST_INVALID' ? 'digest mismatch' : isOciError(err) && err.code === 'SIZE_INVALID' ? 'size mismatch' : 'verification failed';
      // Wrong bytes: that endpoint is skipped for a while, so a retry goes to the next one.
      if (reason !== 'verification failed') res.badContent?.();
      throw new OciError('UPSTREAM_UNAVAILABLE', {
        message: 'upstream blob failed verification', detail: { digest: this.digest.value, reason }, cause: err,
      });
    }
    // Recorded before it is done: a failure here fails the fill (state stays 'running' until then).
    await hooks.onCommit(info);
    this.state = 'done';
    this.notify();
    void this.maybeClose();
    return info;
  }

  /** Writes queued chunks in batches while a batch is full (or, with `all`, until none is left); one loop at a time. */
  private async drainQueue(all: boolean): Promise<void> {
    try {
      while (this.queue.length > 0 && (all || this.queuedBytes >= WRITE_BATCH)) {
        const batch = this.queue;
        this.queue = [];
        this.queuedBytes = 0;
        await this.writer!.writev(batch);
        this.notify();
      }
    } catch (err) {
      this.writeError = err as Error;
    } finally {
      this.writing = undefined;
    }
  }

  private remember(chunk: Buffer): void {
    this.window.push({ start: this.received, buf: chunk });
    this.windowBytes += chunk.length;
    while (this.windowBytes - this.window[0]!.buf.length >= WINDOW_BYTES) {
      this.windowBytes -= this.window.shift()!.buf.length;
    }
  }

  /** A stream of the blob (or an inclusive range of it) that follows the fill. */
  follow(range?: ByteRange): Readable {
    if (this.state === 'failed') throw this.error!;
    if (!this.writer || this.state === 'starting') throw new Error('follow() before ready');
    // Committed and closed before this follower came (a repository joining a fill awaits an
    // upstream HEAD first): the verified blob is in the store.
    if (this.closed) return Readable.from(openLater(this.store, this.digest.value, range), { objectMode: false });
    this.readers++;
    return new FollowReader(this, range?.start ?? 0, range ? range.end + 1 : undefined);
  }

  /** How far a follower may read now: the last byte waits for verification. */
  readable(): number {
    if (this.state === 'done') return this.received;
    return this.size === undefined ? this.received : Math.min(this.received, this.size - 1);
  }

  /**
   * Up to `length` bytes at `position` (which must be below readable()): a slice of the
   * in-memory window, or a read of the file when the window has moved on. Undefined when
   * those bytes are neither in memory nor on disk yet.
   */
  async read(position: number, length: number): Promise<Buffer | undefined> {
    const w = this.window;
    for (let i = w.length - 1; i >= 0; i--) {
      const piece = w[i]!;
      if (position >= piece.start) {
        const offset = position - piece.start;
        if (offset < piece.buf.length) return piece.buf.subarray(offset, offset + Math.min(length, piece.buf.length - offset));
        break;
      }
    }
    const onDisk = this.writer!.bytesWritten;
    if (position >= onDisk) return undefined;
    return this.writer!.read(position, Math.min(length, onDisk - position, FOLLOW_CHUNK));
  }

  /** Resolves at the next progress, completion or failure. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    this.readers--;
    void this.maybeClose();
  }

  private notify(): void {
    this.version++;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private async maybeClose(): Promise<void> {
    if (this.readers === 0 && (this.state === 'done' || this.state === 'failed')) {
      this.window = [];
      this.closed = true;
      await this.writer?.close();
    }
  }
}
