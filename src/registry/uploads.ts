import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { OciError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { BlobInfo, BlobStore, BlobUpload } from '../storage/blob-store.js';
import type { UploadState } from './local-registry.js';

interface Session {
  id: string;
  repo: string;
  /** Who opened it (the authenticated user), for the per-user limit. */
  owner: string;
  upload: BlobUpload;
  updatedAt: number;
  /** A PATCH or PUT is streaming into it: a second one at the same time is refused. */
  busy: boolean;
}

export interface UploadLimits {
  /** An upload untouched this long is abandoned and its temp file removed. */
  expiryMs: number;
  /** Open uploads at once, all users together. */
  maxUploads: number;
  /** Open uploads at once for one user. */
  maxUploadsPerUser: number;
}

/** When a refused client may try again: abandoned uploads are swept at least this often. */
const RETRY_AFTER_SECONDS = 60;

/**
 * Blob upload sessions, whoever keeps them: this process (UploadSessions, below) or the
 * index and bucket every replica shares (shared-uploads.ts, issue 13). The HTTP answers
 * (202/204/416, Location, Range) are the same for both; errors are OciErrors.
 */
export interface UploadSessionStore {
  /** Open sessions (for /metrics): this process's, or the cluster's as last counted. */
  readonly size: number;
  /** Opens a session; 429 TOOMANYREQUESTS when a limit is reached. */
  start(repo: string, owner?: string): Promise<UploadState>;
  /** 404 BLOB_UPLOAD_UNKNOWN unless the session exists in `repo`. */
  status(repo: string, id: string): Promise<UploadState>;
  /**
   * Appends a chunk, whole or not at all. `start` (Content-Range) must be the current
   * offset (416 otherwise, checked before a byte is read); `length` is the chunk length the
   * client announced (400 SIZE_INVALID when the body differs, and nothing is kept).
   */
  append(repo: string, id: string, body: Readable, start?: number, length?: number): Promise<UploadState>;
  /** Appends the last chunk (if any), verifies the digest and ends the session either way. */
  finish(repo: string, id: string, digest: Digest, body?: Readable): Promise<BlobInfo>;
  cancel(repo: string, id: string): Promise<void>;
  /** Removes sessions untouched for longer than the expiry; returns how many. */
  expire(): Promise<number>;
  /** Shutdown: discards what only this process could finish. */
  closeAll(): Promise<void>;
}

/**
 * Blob upload sessions (end-4a..6, end-13): each is a temp file in the blob store,
 * hashed as chunks arrive. No file handle is held between requests (BlobUpload opens the
 * file per chunk), and the number of sessions is bounded in total and per user, so a
 * pusher cannot exhaust the process's descriptors or the disk's inodes. Sessions live in
 * memory (startup removes temp files); an abandoned one expires and its file is removed.
 */
export class UploadSessions implements UploadSessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly perOwner = new Map<string, number>();

  constructor(
    private readonly store: BlobStore,
    private readonly limits: UploadLimits,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Opens a session; 429 TOOMANYREQUESTS when a limit is reached. */
  async start(repo: string, owner = ''): Promise<UploadState> {
    const mine = this.perOwner.get(owner) ?? 0;
    if (this.sessions.size >= this.limits.maxUploads) {
      throw tooMany(LIMIT_MESSAGES.total(this.limits.maxUploads), this.limits.maxUploads);
    }
    if (mine >= this.limits.maxUploadsPerUser) {
      throw tooMany(LIMIT_MESSAGES.owner(this.limits.maxUploadsPerUser), this.limits.maxUploadsPerUser);
    }
    // Counted before the await, so concurrent POSTs cannot overshoot the limits.
    this.perOwner.set(owner, mine + 1);
    const id = randomUUID();
    let upload: BlobUpload;
    try {
      upload = await this.store.createUpload();
    } catch (err) {
      this.uncount(owner);
      throw err;
    }
    this.sessions.set(id, { id, repo, owner, upload, updatedAt: this.now(), busy: false });
    return { id, offset: 0 };
  }

  async status(repo: string, id: string): Promise<UploadState> {
    const s = this.get(repo, id);
    return { id, offset: s.upload.size };
  }

  /**
   * Appends a chunk, whole or not at all. `start` (Content-Range) must be the current
   * offset (416 otherwise, checked before a byte is read); `length` is the chunk length the
   * client announced (400 SIZE_INVALID when the body differs, and nothing is kept).
   */
  async append(repo: string, id: string, body: Readable, start?: number, length?: number): Promise<UploadState> {
    const s = this.claim(repo, id);
    try {
      const offset = s.upload.size;
      if (start !== undefined && start !== offset) {
        body.resume();
        throw wrongOffset(repo, id, start, offset);
      }
      await s.upload.append(body, length);
      return { id, offset: s.upload.size };
    } finally {
      this.release(s);
    }
  }

  /** Appends the last chunk (if any), verifies the digest and ends the session either way. */
  async finish(repo: string, id: string, digest: Digest, body?: Readable): Promise<BlobInfo> {
    const s = this.claim(repo, id);
    try {
      if (body) await s.upload.append(body);
    } catch (err) {
      // The last chunk did not arrive whole: the session stays, the client may resume.
      this.release(s);
      throw err;
    }
    // The spec lets a failed PUT end the upload: from here it ends, verified or not.
    this.remove(s);
    try {
      return await s.upload.commit(digest);
    } finally {
      await s.upload.abort();
    }
  }

  async cancel(repo: string, id: string): Promise<void> {
    const s = this.get(repo, id);
    this.remove(s);
    await s.upload.abort();
  }

  /** Removes sessions untouched for longer than the expiry; returns how many. */
  async expire(): Promise<number> {
    const cutoff = this.now() - this.limits.expiryMs;
    const stale = [...this.sessions.values()].filter((s) => !s.busy && s.updatedAt < cutoff);
    for (const s of stale) {
      this.remove(s);
      await s.upload.abort();
    }
    return stale.length;
  }

  async closeAll(): Promise<void> {
    const all = [...this.sessions.values()];
    for (const s of all) this.remove(s);
    await Promise.all(all.map((s) => s.upload.abort()));
  }

  private get(repo: string, id: string): Session {
    const s = this.sessions.get(id);
    if (!s || s.repo !== repo) throw new OciError('BLOB_UPLOAD_UNKNOWN', { detail: { id } });
    return s;
  }

  private claim(repo: string, id: string): Session {
    const s = this.get(repo, id);
    if (s.busy) throw uploadBusy();
    s.busy = true;
    return s;
  }

  private release(s: Session): void {
    s.busy = false;
    s.updatedAt = this.now();
  }

  private remove(s: Session): void {
    if (this.sessions.delete(s.id)) this.uncount(s.owner);
  }

  private uncount(owner: string): void {
    const n = (this.perOwner.get(owner) ?? 1) - 1;
    if (n > 0) this.perOwner.set(owner, n);
    else this.perOwner.delete(owner);
  }
}

/** 429 for a session refused by a limit, with when to try again. */
export function tooMany(message: string, limit: number): OciError {
  return new OciError('TOOMANYREQUESTS', { message, detail: { limit }, headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } });
}

/** 416 for a chunk that does not start where the upload is, with the Range and Location to resume from. */
export function wrongOffset(repo: string, id: string, start: number, offset: number): OciError {
  return new OciError('BLOB_UPLOAD_INVALID', {
    status: 416,
    message: `chunk starts at ${start}, the upload is at ${offset}`,
    headers: { Range: `0-${Math.max(0, offset - 1)}`, Location: `/v2/${repo}/blobs/uploads/${id}` },
  });
}

/** Another request is writing to (or finishing) the upload. */
export function uploadBusy(): OciError {
  return new OciError('BLOB_UPLOAD_INVALID', { message: 'another request is writing to this upload' });
}

/** Limit messages, the same for every kind of session store. */
export const LIMIT_MESSAGES = {
  total: (n: number) => `the registry has ${n} uploads open, its limit; retry later`,
  owner: (n: number) => `you have ${n} uploads open, the per-user limit; finish or cancel some first`,
};
