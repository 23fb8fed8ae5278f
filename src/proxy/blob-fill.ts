import { Readable } from 'node:stream';
import { OciError, isOciError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { BlobInfo, BlobStore, BlobWriter, ByteRange } from '../storage/blob-store.js';
import type { UpstreamResponse } from '../upstream/client.js';

/** Bytes handed to a follower per read; large reads keep syscalls and chunks few. */
const FOLLOW_CHUNK = 1024 * 1024;

/**
 * One upstream fetch of one blob into the store, followed by any number of clients.
 *
 * The fill writes the upstream body into a temp file (hashing as it goes); every client
 * is a follower that reads the growing file at its own pace, so a slow client never
 * throttles the fill or the others, and a client that leaves does not cancel it. A
 * follower never receives the last byte of the blob before the digest is verified: on
 * a mismatch or a cut transfer its stream is destroyed, so the client sees a broken
 * transfer, never a complete-looking wrong body.
 */
export class BlobFill {
  state: 'starting' | 'running' | 'done' | 'failed' = 'starting';
  /** Total size, from the upstream's Content-Length (undefined when it sent none). */
  size: number | undefined;
  error: Error | undefined;
  /** Resolves once the upstream answered 200 (size known); rejects with an OciError. */
  readonly ready: Promise<void>;
  /** Settles when the fill is committed (resolves) or has failed (rejects). */
  readonly done: Promise<BlobInfo>;

  private writer: BlobWriter | undefined;
  private readers = 0;
  private waiters: Array<() => void> = [];

  constructor(
    readonly digest: Digest,
    store: BlobStore,
    fetch: () => Promise<UpstreamResponse>,
    toError: (res: UpstreamResponse) => OciError,
    hooks: { onBytes?: (n: number) => void; onCommit: (info: BlobInfo) => void },
  ) {
    let markReady!: () => void;
    let failReady!: (err: Error) => void;
    this.ready = new Promise((resolve, reject) => { markReady = resolve; failReady = reject; });
    this.ready.catch(() => {}); // observed by callers; never an unhandled rejection
    this.done = this.run(store, fetch, toError, hooks, markReady).catch(async (err: Error) => {
      const error = isOciError(err) ? err : new OciError('UPSTREAM_UNAVAILABLE', { message: 'upstream blob transfer failed', cause: err });
      // Discard the bytes before any client learns of the failure, so that nothing of a
      // failed fill is left on disk by the time a client retries.
      await this.writer?.abort().catch(() => {});
      this.error = error;
      this.state = 'failed';
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
    hooks: { onBytes?: (n: number) => void; onCommit: (info: BlobInfo) => void },
    markReady: () => void,
  ): Promise<BlobInfo> {
    const res = await fetch();
    if (res.status !== 200) {
      res.body.destroy();
      throw toError(res);
    }
    const length = res.headers['content-length'];
    this.size = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
    try {
      this.writer = await store.createWriter();
    } catch (err) {
      res.body.destroy();
      throw err;
    }
    this.state = 'running';
    markReady();
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (this.size !== undefined && this.writer.bytesWritten + chunk.length > this.size) {
        res.body.destroy();
        throw new OciError('UPSTREAM_UNAVAILABLE', { message: 'upstream sent more bytes than announced', detail: { digest: this.digest.value } });
      }
      await this.writer.write(chunk);
      hooks.onBytes?.(chunk.length);
      this.notify();
    }
    let info: BlobInfo;
    try {
      info = await this.writer.commit(this.digest, this.size);
    } catch (err) {
      // The upstream's bytes are not the blob we asked for, or were cut short.
      throw new OciError('UPSTREAM_UNAVAILABLE', {
        message: 'upstream blob failed verification', detail: { digest: this.digest.value, reason: (err as Error).message }, cause: err,
      });
    }
    this.state = 'done';
    hooks.onCommit(info);
    this.notify();
    void this.maybeClose();
    return info;
  }

  get written(): number {
    return this.writer?.bytesWritten ?? 0;
  }

  /** A stream of the blob (or an inclusive range of it) that follows the fill. */
  follow(range?: ByteRange): Readable {
    if (this.state === 'failed') throw this.error!;
    if (!this.writer || this.state === 'starting') throw new Error('follow() before ready');
    this.readers++;
    return new FollowReader(this, range?.start ?? 0, range ? range.end + 1 : undefined);
  }

  /** How far a follower may read now: the last byte waits for verification. */
  readable(): number {
    if (this.state === 'done') return this.written;
    return this.size === undefined ? this.written : Math.min(this.written, this.size - 1);
  }

  read(position: number, length: number): Promise<Buffer> {
    return this.writer!.read(position, length);
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
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private async maybeClose(): Promise<void> {
    if (this.readers === 0 && (this.state === 'done' || this.state === 'failed')) await this.writer?.close();
  }
}

class FollowReader extends Readable {
  private pos: number;
  private pumping = false;
  private released = false;

  constructor(private readonly fill: BlobFill, start: number, private readonly end: number | undefined) {
    super({ highWaterMark: FOLLOW_CHUNK });
    this.pos = start;
  }

  override _read(): void {
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      for (;;) {
        if (this.destroyed) return;
        const fill = this.fill;
        if (fill.state === 'failed') {
          this.destroy(fill.error);
          return;
        }
        const limit = Math.min(fill.readable(), this.end ?? Infinity);
        if (this.pos < limit) {
          const buf = await fill.read(this.pos, Math.min(limit - this.pos, FOLLOW_CHUNK));
          if (this.destroyed) return;
          this.pos += buf.length;
          if (!this.push(buf)) return;
          continue;
        }
        if (this.end !== undefined ? this.pos >= this.end : fill.state === 'done') {
          this.push(null);
          return;
        }
        await fill.changed();
      }
    } catch (err) {
      this.destroy(err as Error);
    } finally {
      this.pumping = false;
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.released) {
      this.released = true;
      this.fill.release();
    }
    cb(err);
  }
}
