import type { Readable } from 'node:stream';

/**
 * Issue 13: the bytes of an upload shared by several replicas, as one object per appended
 * chunk in the shared blob store, beside (never under) its blobs:
 *
 *   <prefix>uploads/<upload id>/<start offset, 16 digits>-<random>
 *
 * The random tail makes every attempt its own object: two replicas appending at one
 * offset never overwrite each other, and the loser deletes only its own. Which objects
 * count is the index's business (upload-rows.ts); a name here is relative to uploads/.
 * Implemented by the S3 store (s3-upload-chunks.ts).
 */
export interface UploadChunkStore {
  /**
   * Streams `body` into a new object for upload `id` at offset `start`, whole or not at
   * all: a body that breaks off, or has more or fewer bytes than `expectedLength`, leaves
   * no object (400 SIZE_INVALID for a length mismatch). Never holds the body in memory
   * beyond one part.
   */
  put(id: string, start: number, body: Readable, expectedLength?: number): Promise<{ name: string; length: number }>;
  /** The object's bytes. */
  open(name: string): Promise<Readable>;
  /** Deletes the objects (a missing one is fine). */
  delete(names: readonly string[]): Promise<void>;
  /**
   * Removes what a crash or a lost race left: chunk objects last modified before `before`
   * that `known` does not claim, and multipart uploads under uploads/ started before it
   * whose upload id `live` does not name (a PATCH streaming for longer than the expiry
   * keeps its session alive, and its multipart upload with it). Returns how many were removed.
   */
  sweep(before: number, known: (names: string[]) => Promise<Set<string>>, live: (ids: string[]) => Promise<Set<string>>): Promise<number>;
}
