import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { UploadChunkStore } from './upload-chunks.js';

/**
 * The blob store seam: put a verified stream under a digest, open a range, stat,
 * delete, list. The local-disk store (fs-blob-store.ts) is the embedded default; an
 * object store can implement the same contract, which test/contracts/blob-store-contract.ts
 * checks for every backend.
 */
export interface BlobInfo {
  digest: string;
  size: number;
}

/** Inclusive byte range, as HTTP writes it. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * A blob being written. Bytes are hashed as they are written; nothing is visible under
 * the digest until commit() has verified them. Bytes already written can be read back
 * through the writer itself (read()), so that other clients can follow a fill while it
 * runs without the store exposing anything of it: the file store reads its temp file; an
 * object store serves them from the spool or part buffers it keeps until close().
 */
export interface BlobWriter {
  readonly bytesWritten: number;
  write(chunk: Uint8Array): Promise<void>;
  /** Writes several chunks in order with one system call where possible. */
  writev(chunks: Uint8Array[]): Promise<void>;
  /**
   * Up to `length` of the bytes already written, from `position`: at least one byte when
   * position < bytesWritten (fewer than asked is allowed), never a byte not yet written,
   * an empty buffer at or past bytesWritten. Works until close(), after commit too (a
   * follower may still be behind when the fill commits).
   */
  read(position: number, length: number): Promise<Buffer>;
  /**
   * Syncs, verifies the digest (and size when given) and makes the blob visible.
   * On mismatch the bytes are discarded and DIGEST_INVALID / SIZE_INVALID is thrown.
   */
  commit(expected: Digest, expectedSize?: number): Promise<BlobInfo>;
  /** Discards the bytes. Safe to call after commit (then it does nothing). */
  abort(): Promise<void>;
  /** Releases the file handle; call once no reader needs read() any more. */
  close(): Promise<void>;
}

/**
 * A resumable upload (a push's blob, chunk by chunk). Unlike a BlobWriter it holds no
 * file handle between appends: an idle upload costs a temp file and a hash state, so a
 * client cannot exhaust the process's file descriptors by opening uploads.
 */
export interface BlobUpload {
  /** Bytes appended so far. */
  readonly size: number;
  /**
   * Appends the whole of `body`, or nothing: on any failure (a stream error, a client
   * gone mid-chunk, more or fewer bytes than `expectedLength`) the file is cut back to
   * its previous size and the hash is unchanged. Returns the bytes appended.
   */
  append(body: Readable, expectedLength?: number): Promise<number>;
  /** Verifies the digest and makes the blob visible; on mismatch the bytes are discarded. */
  commit(expected: Digest): Promise<BlobInfo>;
  /** Discards the bytes. Safe after commit (then it does nothing). */
  abort(): Promise<void>;
}

export interface BlobStore {
  stat(digest: string): Promise<BlobInfo | undefined>;
  /** A stream of the blob's bytes (or an inclusive range of them). */
  open(digest: string, range?: ByteRange): Promise<Readable>;
  /**
   * Optional fast path: the blob's file, when this store keeps blobs as local files (an
   * object store has none). Lets the HTTP layer send it without a stream per request;
   * every caller falls back to open() without it.
   */
  localPath?(digest: string): string | undefined;
  /**
   * Optional (object stores): a URL that lets whoever holds it GET this one blob, and
   * only until `ttlMs` has passed, signed locally (no request to the store). It is a
   * credential for the blob: never logged whole. The fs store has none.
   */
  presignedUrl?(digest: string, ttlMs: number): Promise<string>;
  /**
   * Optional (shared engines): undefined when the store answers, else why not (for
   * /readyz: names the store, never its address or credentials). Callers cache it.
   */
  ready?(): Promise<string | undefined>;
  /**
   * `expected`, when the caller knows it (a cache fill), is the digest the bytes should
   * have: an object store may start placing them under it (multipart parts) while they are
   * written. It changes nothing visible: commit still verifies, and decides.
   */
  createWriter(expected?: Digest): Promise<BlobWriter>;
  createUpload(): Promise<BlobUpload>;
  /**
   * Optional (object stores shared by replicas, issue 13): chunk objects for upload
   * sessions kept in a shared index, so that a push can move between replicas. Never
   * listed by list(), which yields blobs only.
   */
  readonly uploadChunks?: UploadChunkStore;
  delete(digest: string): Promise<boolean>;
  list(): AsyncIterable<BlobInfo>;
  /**
   * Removes temp files left by a previous process (crash, SIGKILL). Only the process that
   * holds the data dir lock (serve) may call it: the files may be another live process's.
   */
  cleanTemp(): Promise<number>;
}
