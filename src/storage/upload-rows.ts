/**
 * Issue 13: the index's side of upload sessions shared by several replicas (a push whose
 * PATCHes and PUT reach different replicas). Rows only: the chunk bytes are objects in the
 * bucket (upload-chunks.ts), named by the rows. Implemented by the PostgreSQL index
 * (pg-uploads.ts); SQLite has none, its uploads stay in the one process's memory
 * (registry/uploads.ts). Timestamps are epoch milliseconds.
 */
export interface UploadSessionRow {
  id: string;
  repo: string;
  /** Who opened it (the authenticated user, '' for none), for the per-user limit. */
  owner: string;
  /** Bytes appended so far: the offset the next chunk must start at. */
  size: number;
  /** Chunk objects appended so far. */
  chunks: number;
  /** A PUT is assembling the chunks: nothing more may be appended. */
  finishing: boolean;
  updatedAt: number;
}

/** One appended chunk: `length` bytes at `start`, in the object `name` (relative to the store's uploads/). */
export interface UploadChunkRow {
  start: number;
  length: number;
  name: string;
}

/** Why a session was not opened: the limit on all sessions, or on the owner's. */
export type UploadRefusal = 'total' | 'owner';

export interface UploadSessionIndex {
  /**
   * Inserts an empty session unless `maxTotal` sessions are open, or `maxPerOwner` of
   * `owner`'s: counted and inserted under one lock, so that replicas opening sessions at
   * once cannot overshoot either limit. Returns undefined when inserted, else the refusal.
   */
  openUpload(session: { id: string; repo: string; owner: string }, limits: { maxTotal: number; maxPerOwner: number }, now: number): Promise<UploadRefusal | undefined>;
  getUpload(id: string): Promise<UploadSessionRow | undefined>;
  /**
   * Records a chunk and moves the session's size to its end, only when the session is at
   * `chunk.start` and not finishing (an optimistic, conditional update): of two replicas
   * appending at one offset exactly one gets true. False changes nothing.
   */
  addUploadChunk(id: string, chunk: UploadChunkRow, now: number): Promise<boolean>;
  /** Marks the session finishing when it is at `size` and not finishing already; false changes nothing. */
  claimUploadFinish(id: string, size: number, now: number): Promise<boolean>;
  /** Marks the session as updated now (a long PATCH or PUT keeps it from expiring); nothing if it is gone. */
  touchUpload(id: string, now: number): Promise<void>;
  /** The session's chunks in offset order. */
  listUploadChunks(id: string): Promise<UploadChunkRow[]>;
  /**
   * Deletes the session and its chunk rows; returns the chunk object names, or undefined
   * when no such session was deleted. `repo`: only a session of that repository;
   * `untouchedBefore`: only one not updated since (an expiry that a PATCH just renewed misses).
   */
  deleteUpload(id: string, only?: { repo?: string; untouchedBefore?: number }): Promise<string[] | undefined>;
  /** Ids of sessions not updated since `before`, at most `limit`. */
  staleUploads(before: number, limit: number): Promise<string[]>;
  /** Of `names`, those a chunk row names (the rest are left over by a crash or a lost race). */
  knownUploadChunks(names: string[]): Promise<Set<string>>;
  /** Of `ids`, those of sessions that exist (a sweep keeps their in-progress bytes). */
  openUploadIds(ids: string[]): Promise<Set<string>>;
  /** Open sessions, every replica's. */
  countUploads(): Promise<number>;
}
