import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { OciError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { BlobInfo, BlobStore, BlobWriter } from '../storage/blob-store.js';
import type { UploadState } from './local-registry.js';

interface Session {
  id: string;
  repo: string;
  writer: BlobWriter;
  updatedAt: number;
  /** A PATCH or PUT is streaming into it: a second one at the same time is refused. */
  busy: boolean;
}

/**
 * Blob upload sessions (end-4a..6, end-13): each is a temp file in the blob store,
 * hashed as chunks arrive, kept open between requests. They live in memory because the
 * open file cannot outlive the process (startup removes temp files); an abandoned one
 * expires and its temp file is removed.
 */
export class UploadSessions {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly store: BlobStore,
    private readonly expiryMs: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  async start(repo: string): Promise<UploadState> {
    const writer = await this.store.createWriter();
    const id = randomUUID();
    this.sessions.set(id, { id, repo, writer, updatedAt: this.now(), busy: false });
    return { id, offset: 0 };
  }

  status(repo: string, id: string): UploadState {
    const s = this.get(repo, id);
    return { id, offset: s.writer.bytesWritten };
  }

  /** Appends a chunk. `start`, when the client sent Content-Range, must be the current offset. */
  async append(repo: string, id: string, body: Readable, start?: number, length?: number): Promise<UploadState> {
    const s = this.claim(repo, id);
    try {
      const offset = s.writer.bytesWritten;
      if (start !== undefined && start !== offset) {
        body.resume();
        throw new OciError('BLOB_UPLOAD_INVALID', {
          status: 416,
          message: `chunk starts at ${start}, the upload is at ${offset}`,
          headers: { Range: `0-${Math.max(0, offset - 1)}`, Location: `/v2/${repo}/blobs/uploads/${id}` },
        });
      }
      await this.pump(s, body);
      if (length !== undefined && s.writer.bytesWritten - offset !== length) {
        throw new OciError('SIZE_INVALID', { detail: { expected: length, received: s.writer.bytesWritten - offset } });
      }
      return { id, offset: s.writer.bytesWritten };
    } finally {
      this.release(s);
    }
  }

  /** Appends the last chunk (if any), verifies the digest and ends the session either way. */
  async finish(repo: string, id: string, digest: Digest, body?: Readable): Promise<BlobInfo> {
    const s = this.claim(repo, id);
    try {
      if (body) await this.pump(s, body);
    } catch (err) {
      // The last chunk did not arrive whole: the session stays, the client may resume.
      this.release(s);
      throw err;
    }
    // The spec lets a failed PUT end the upload: from here it ends, verified or not.
    this.sessions.delete(id);
    try {
      return await s.writer.commit(digest);
    } finally {
      await s.writer.close();
    }
  }

  async cancel(repo: string, id: string): Promise<void> {
    const s = this.get(repo, id);
    this.sessions.delete(id);
    await s.writer.close();
  }

  /** Removes sessions untouched for longer than the expiry; returns how many. */
  async expire(): Promise<number> {
    const cutoff = this.now() - this.expiryMs;
    const stale = [...this.sessions.values()].filter((s) => !s.busy && s.updatedAt < cutoff);
    for (const s of stale) {
      this.sessions.delete(s.id);
      await s.writer.close();
    }
    return stale.length;
  }

  async closeAll(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((s) => s.writer.close()));
  }

  private get(repo: string, id: string): Session {
    const s = this.sessions.get(id);
    if (!s || s.repo !== repo) throw new OciError('BLOB_UPLOAD_UNKNOWN', { detail: { id } });
    return s;
  }

  private claim(repo: string, id: string): Session {
    const s = this.get(repo, id);
    if (s.busy) throw new OciError('BLOB_UPLOAD_INVALID', { message: 'another request is writing to this upload' });
    s.busy = true;
    return s;
  }

  private release(s: Session): void {
    s.busy = false;
    s.updatedAt = this.now();
  }

  private async pump(s: Session, body: Readable): Promise<void> {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      await s.writer.write(chunk);
      s.updatedAt = this.now();
    }
  }
}
