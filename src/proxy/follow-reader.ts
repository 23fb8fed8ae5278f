import { Readable } from 'node:stream';
import type { BlobStore, ByteRange } from '../storage/blob-store.js';
import type { BlobFill } from './blob-fill.js';

/** Bytes a follower reads from the file per read, when it is behind the in-memory window. */
export const FOLLOW_CHUNK = 1024 * 1024;

/** The verified blob from the store, for a follower that came after the fill closed its file. */
export async function* openLater(store: BlobStore, digest: string, range?: ByteRange): AsyncGenerator<Buffer> {
  yield* await store.open(digest, range);
}

/**
 * One client of a fill: reads at its own pace from the fill's window or file (BlobFill.read),
 * never past what is verified (BlobFill.readable), and is destroyed when the fill fails.
 */
export class FollowReader extends Readable {
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
        const seen = fill.version;
        if (fill.state === 'failed') {
          this.destroy(fill.error);
          return;
        }
        const limit = Math.min(fill.readable(), this.end ?? Infinity);
        if (this.pos < limit) {
          const buf = await fill.read(this.pos, limit - this.pos);
          if (this.destroyed) return;
          if (buf && buf.length > 0) {
            this.pos += buf.length;
            if (!this.push(buf)) return;
            continue;
          }
        } else if (this.end !== undefined ? this.pos >= this.end : fill.state === 'done') {
          this.push(null);
          return;
        }
        if (fill.version === seen) await fill.changed();
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
