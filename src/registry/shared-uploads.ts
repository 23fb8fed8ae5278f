import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { OciError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { BlobInfo, BlobStore } from '../storage/blob-store.js';
import type { UploadChunkStore } from '../storage/upload-chunks.js';
import type { UploadChunkRow, UploadSessionIndex, UploadSessionRow } from '../storage/upload-rows.js';
import type { UploadState } from './local-registry.js';
import { LIMIT_MESSAGES, tooMany, uploadBusy, wrongOffset, type UploadLimits, type UploadSessionStore } from './uploads.js';

/** Chunks one session may have: each is an object in the bucket and a row. */
const MAX_CHUNKS = 10_000;
/** Stale sessions one expiry pass removes (the next pass takes the rest). */
const EXPIRE_BATCH = 500;
/** The longest pause between two renewals of a session a request is streaming into. */
const KEEP_ALIVE_MAX_MS = 60_000;

export interface SharedUploadDeps {
  /** The sessions' rows in the shared index. */
  index: UploadSessionIndex;
  /** The sessions' bytes in the shared bucket. */
  chunks: UploadChunkStore;
  /** Where a finished upload is written under its digest. */
  store: BlobStore;
  limits: UploadLimits;
  now: () => number;
}

/**
 * Upload sessions every replica can continue (issue 13): a POST on one replica, PATCHes
 * on others, the PUT on any. Nothing is kept in memory between requests. Each session is
 * a row in the shared index (upload-rows.ts) and each PATCH streams into its own object
 * in the bucket (upload-chunks.ts), recorded only once it is whole, by a conditional
 * update on the session's size: of two replicas appending at one offset, one wins, the
 * other deletes its object and answers 416. The PUT claims the session (no more appends),
 * streams the chunks in order through a blob writer, which verifies the digest before
 * anything is visible under it, and deletes the chunks, verified or not. A PUT carrying
 * the whole blob into an empty session (a monolithic push) goes straight to the writer.
 *
 * The limits are counted on the table, so they hold across replicas; expiry and the
 * sweep of leftover objects run on every replica and are idempotent.
 */
export class SharedUploadSessions implements UploadSessionStore {
  /** Open sessions cluster-wide as last counted (expiry counts them), moved by this replica's own starts and ends. */
  private count = 0;
  private lastSweep = Number.NEGATIVE_INFINITY;

  constructor(private readonly deps: SharedUploadDeps) {}

  get size(): number {
    return this.count;
  }

  async start(repo: string, owner = ''): Promise<UploadState> {
    const { maxUploads, maxUploadsPerUser } = this.deps.limits;
    const id = randomUUID();
    const refused = await this.deps.index.openUpload({ id, repo, owner }, { maxTotal: maxUploads, maxPerOwner: maxUploadsPerUser }, this.deps.now());
    if (refused === 'total') throw tooMany(LIMIT_MESSAGES.total(maxUploads), maxUploads);
    if (refused === 'owner') throw tooMany(LIMIT_MESSAGES.owner(maxUploadsPerUser), maxUploadsPerUser);
    this.count++;
    return { id, offset: 0 };
  }

  async status(repo: string, id: string): Promise<UploadState> {
    return { id, offset: (await this.get(repo, id)).size };
  }

  async append(repo: string, id: string, body: Readable, start?: number, length?: number): Promise<UploadState> {
    const s = await this.getOrDrain(repo, id, body);
    return this.appendTo(s, body, start, length);
  }

  async finish(repo: string, id: string, digest: Digest, body?: Readable): Promise<BlobInfo> {
    const s = body ? await this.getOrDrain(repo, id, body) : await this.get(repo, id);
    if (s.finishing) {
      body?.resume();
      throw uploadBusy();
    }
    // Nothing appended yet (a monolithic push, POST then PUT with the blob): straight to the writer.
    if (body && s.size === 0) return this.finishWhole(s, digest, body);
    // A last chunk that does not arrive whole leaves the session as it was: the client may resume.
    const size = body ? (await this.appendTo(s, body)).offset : s.size;
    if (!(await this.deps.index.claimUploadFinish(id, size, this.deps.now()))) {
      await this.get(repo, id); // gone: 404
      throw uploadBusy();
    }
    this.count = Math.max(0, this.count - 1);
    // The spec lets a failed PUT end the upload: from here it ends, verified or not.
    let chunks: UploadChunkRow[] = [];
    try {
      chunks = await this.deps.index.listUploadChunks(id);
      return await this.keepAlive(id, () => this.assemble(chunks, digest, size));
    } finally {
      const names = await this.deps.index.deleteUpload(id).catch(() => undefined);
      // Best effort: what stays is swept as a leftover once older than the expiry.
      await this.deps.chunks.delete([...new Set([...chunks.map((c) => c.name), ...(names ?? [])])]).catch(() => {});
    }
  }

  /**
   * The whole blob in the PUT's body of an empty session: streamed through the writer,
   * with no chunk object on the way. The session is claimed only once the body is in, so
   * a body that breaks off leaves it as it was, and a PATCH that got there first wins.
   */
  private async finishWhole(s: UploadSessionRow, digest: Digest, body: Readable): Promise<BlobInfo> {
    const { index, now } = this.deps;
    const writer = await this.deps.store.createWriter(digest).catch((err: unknown) => {
      body.resume();
      throw err;
    });
    try {
      try {
        await this.keepAlive(s.id, async () => {
          for await (const buf of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) await writer.write(buf);
        });
      } catch (err) {
        body.resume();
        throw err;
      }
      if (!(await index.claimUploadFinish(s.id, 0, now()))) {
        await this.get(s.repo, s.id); // gone: 404
        throw uploadBusy();
      }
      this.count = Math.max(0, this.count - 1);
      try {
        return await writer.commit(digest, writer.bytesWritten);
      } finally {
        await index.deleteUpload(s.id).catch(() => undefined);
      }
    } catch (err) {
      await writer.abort();
      throw err;
    } finally {
      await writer.close();
    }
  }

  async cancel(repo: string, id: string): Promise<void> {
    const names = await this.deps.index.deleteUpload(id, { repo });
    if (!names) throw unknown(id);
    this.count = Math.max(0, this.count - 1);
    await this.deps.chunks.delete(names).catch(() => {});
  }

  async expire(): Promise<number> {
    const { index, chunks, limits, now } = this.deps;
    const cutoff = now() - limits.expiryMs;
    let expired = 0;
    for (const id of await index.staleUploads(cutoff, EXPIRE_BATCH)) {
      // Conditional: another replica's pass took it, or a PATCH renewed it just now.
      const names = await index.deleteUpload(id, { untouchedBefore: cutoff });
      if (!names) continue;
      expired++;
      await chunks.delete(names).catch(() => {});
    }
    // Objects no row names (a replica died between writing and recording one, a delete
    // that failed): listing the prefix is dearer, so at most every quarter expiry.
    if (now() - this.lastSweep >= limits.expiryMs / 4) {
      this.lastSweep = now();
      await chunks.sweep(cutoff, (names) => index.knownUploadChunks(names), (ids) => index.openUploadIds(ids));
    }
    this.count = await index.countUploads();
    return expired;
  }

  /** Nothing to discard: the sessions are the cluster's, another replica may finish them. */
  async closeAll(): Promise<void> {}

  private async get(repo: string, id: string): Promise<UploadSessionRow> {
    const s = await this.deps.index.getUpload(id);
    // Another repository's session is as unknown as a missing one.
    if (!s || s.repo !== repo) throw unknown(id);
    return s;
  }

  /** The session, or the error with the request body drained (the answer still reaches the client). */
  private async getOrDrain(repo: string, id: string, body: Readable): Promise<UploadSessionRow> {
    try {
      return await this.get(repo, id);
    } catch (err) {
      body.resume();
      throw err;
    }
  }

  private async appendTo(s: UploadSessionRow, body: Readable, start?: number, length?: number): Promise<UploadState> {
    const { index, chunks, now } = this.deps;
    const refusal = s.finishing ? uploadBusy()
      : start !== undefined && start !== s.size ? wrongOffset(s.repo, s.id, start, s.size)
        : s.chunks >= MAX_CHUNKS ? new OciError('BLOB_UPLOAD_INVALID', { message: `an upload has at most ${MAX_CHUNKS} chunks; send larger ones` })
          : undefined;
    if (refusal) {
      body.resume();
      throw refusal;
    }
    const chunk = await this.keepAlive(s.id, () => chunks.put(s.id, s.size, body, length));
    let won = false;
    try {
      // An empty chunk appends nothing: no row, no object.
      if (chunk.length === 0) return { id: s.id, offset: s.size };
      won = await index.addUploadChunk(s.id, { start: s.size, length: chunk.length, name: chunk.name }, now());
    } finally {
      if (!won) await chunks.delete([chunk.name]).catch(() => {});
    }
    if (won) return { id: s.id, offset: s.size + chunk.length };
    // Another request appended (or finished, or cancelled) meanwhile: this chunk does not count.
    const current = await this.get(s.repo, s.id);
    if (current.finishing) throw uploadBusy();
    throw wrongOffset(s.repo, s.id, start ?? s.size, current.size);
  }

  /**
   * Runs `work` (a request streaming into or out of the session) while renewing the
   * session's updated_at every quarter of the expiry: a PATCH or PUT that takes longer
   * than upload_expiry is not expired under it by another replica, while a session whose
   * replica died mid-request stops being renewed and expires as any other.
   */
  private async keepAlive<T>(id: string, work: () => Promise<T>): Promise<T> {
    const { index, limits, now } = this.deps;
    const timer = setInterval(() => { void index.touchUpload(id, now()).catch(() => {}); }, Math.min(KEEP_ALIVE_MAX_MS, Math.max(1, limits.expiryMs / 4)));
    timer.unref();
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  }

  /** Streams the chunks in order into a blob writer, which verifies `digest` and `size` before publishing. */
  private async assemble(chunks: UploadChunkRow[], digest: Digest, size: number): Promise<BlobInfo> {
    const writer = await this.deps.store.createWriter(digest);
    try {
      for (const c of chunks) {
        if (c.start !== writer.bytesWritten) throw incomplete();
        const before = writer.bytesWritten;
        for await (const buf of await this.deps.chunks.open(c.name) as AsyncIterable<Buffer>) await writer.write(buf);
        if (writer.bytesWritten - before !== c.length) throw incomplete();
      }
      return await writer.commit(digest, size);
    } catch (err) {
      await writer.abort();
      throw err;
    } finally {
      await writer.close();
    }
  }
}

function unknown(id: string): OciError {
  return new OciError('BLOB_UPLOAD_UNKNOWN', { detail: { id } });
}

/** The rows and the objects disagree (a chunk lost from the bucket): the upload cannot be finished. */
function incomplete(): OciError {
  return new OciError('BLOB_UPLOAD_INVALID', { message: 'a chunk of this upload is incomplete in the store; start the upload again' });
}
