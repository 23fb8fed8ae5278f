/**
 * Blobs being sent to a client right now, counted per digest (issue 11): background
 * retention skips them so that a pull in progress is never cut or left pointing at a
 * removed file. One Map update when a send starts and one when it ends; nothing per chunk.
 */
export class OpenBlobs {
  private readonly open = new Map<string, number>();

  /** Notes one more send of `digest`; call release(digest) exactly once when it ends. No allocation: on the blob hot path. */
  hold(digest: string): void {
    this.open.set(digest, (this.open.get(digest) ?? 0) + 1);
  }

  /** Notes the end of one send of `digest`. */
  release(digest: string): void {
    const n = (this.open.get(digest) ?? 1) - 1;
    if (n <= 0) this.open.delete(digest);
    else this.open.set(digest, n);
  }

  /** Whether any send of `digest` is in progress. */
  has(digest: string): boolean {
    return this.open.has(digest);
  }

  /** Sends in progress, all digests together. */
  get size(): number {
    let n = 0;
    for (const v of this.open.values()) n += v;
    return n;
  }
}
