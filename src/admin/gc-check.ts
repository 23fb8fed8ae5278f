import { stat } from 'node:fs/promises';
import type { EventBus } from '../events/event-bus.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { tryParseDigest } from '../oci/digest.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { StoragePorts } from '../storage/ports.js';

/** Index rows read per page, and files or rows checked at the same time. */
const PAGE = 500;
const PARALLEL = 16;

export interface GcCheckOptions {
  /** Drop the rows of missing files, remove stray files; false: only report. */
  repair: boolean;
  /**
   * A stray file changed (written or renamed into place) less than this long ago (ms) is
   * left alone: a fill or upload renames its file first and writes its row just after.
   */
  graceMs: number;
  /** The clock (epoch ms); tests pass their own. */
  now?: number;
  log?: Logger;
  /** Where each dropped row is announced (blob.deleted). */
  events?: EventBus;
  /** Told of each problem found, and what was done about it. */
  onFinding?: (finding: GcFinding) => void;
  /** Told how far the check is, now and then. */
  onProgress?: (progress: { rows: number; files: number }) => void;
}

export interface GcFinding {
  /** missing: an index row whose file is gone; stray: a file no row names; unknown: a file under blobs/ that is no blob. */
  kind: 'missing' | 'stray' | 'unknown';
  digest: string;
  size: number;
  /** What happened: repaired, reported (check only), or kept (a stray younger than the grace, or one whose age is unknown). */
  action: 'repaired' | 'reported' | 'kept';
  /** For a missing file: whose content it was (a pushed blob is lost until pushed again). */
  origin?: 'upstream' | 'push';
}

export interface GcCheckSummary {
  rowsChecked: number;
  filesChecked: number;
  /** Rows whose file is missing (pushed ones among them: their images need a new push). */
  missingFiles: number;
  missingPushed: number;
  /** Files no row names, old enough to remove, and those left because they are young. */
  strayFiles: number;
  strayBytes: number;
  youngStrays: number;
  /** Files under blobs/ whose name is no digest: reported, never removed. */
  unknownFiles: number;
  /** With repair: rows dropped and files removed. */
  rowsDropped: number;
  filesRemoved: number;
  repair: boolean;
  /** Nothing found that is still wrong. */
  clean: boolean;
}

/**
 * `gc --check` / `gc --repair`: compares the index with the blob files. A row whose file
 * is missing makes the mirror answer BLOB_UNKNOWN (or, for a push, claim a blob it cannot
 * serve): repair drops the row and its links, so a pull fetches it again and a push
 * uploads it again. A file no row names is space nobody can reach: repair removes it,
 * unless it changed within the grace period (a commit writes its row just after the
 * rename). Each finding is checked again just before it is repaired, so a fill or push
 * racing with the check keeps what it wrote.
 */
export async function checkStorage(ports: Pick<StoragePorts, 'maintenance' | 'blobs'>, store: BlobStore, options: GcCheckOptions): Promise<GcCheckSummary> {
  const log = options.log ?? silentLogger;
  const now = options.now ?? Date.now();
  const s: GcCheckSummary = {
    rowsChecked: 0, filesChecked: 0, missingFiles: 0, missingPushed: 0, strayFiles: 0, strayBytes: 0, youngStrays: 0,
    unknownFiles: 0, rowsDropped: 0, filesRemoved: 0, repair: options.repair, clean: true,
  };
  const progress = () => options.onProgress?.({ rows: s.rowsChecked, files: s.filesChecked });

  // 1. Rows whose file is missing.
  for (let after: string | undefined, page = await ports.maintenance.listBlobs(PAGE); page.length > 0;
    after = page.at(-1)!.digest, page = await ports.maintenance.listBlobs(PAGE, after)) {
    for (let i = 0; i < page.length; i += PARALLEL) {
      await Promise.all(page.slice(i, i + PARALLEL).map(async (row) => {
        s.rowsChecked++;
        if (await store.stat(row.digest)) return;
        // Listed, then deleted with its file (prune, gc) while we looked: not a problem.
        if (!(await ports.blobs.getBlob(row.digest))) return;
        s.missingFiles++;
        if (row.origin === 'push') s.missingPushed++;
        let action: GcFinding['action'] = 'reported';
        if (options.repair && !(await store.stat(row.digest))) {
          await ports.blobs.deleteBlob(row.digest);
          options.events?.emit('blob.deleted', { digest: row.digest, size: row.size });
          s.rowsDropped++;
          action = 'repaired';
        }
        options.onFinding?.({ kind: 'missing', digest: row.digest, size: row.size, action, origin: row.origin });
      }));
      progress();
    }
  }

  // 2. Files no row names.
  let batch: Array<{ digest: string; size: number }> = [];
  const checkFiles = async () => {
    await Promise.all(batch.map(async (file) => {
      s.filesChecked++;
      if (!tryParseDigest(file.digest)) {
        s.unknownFiles++;
        options.onFinding?.({ kind: 'unknown', digest: file.digest, size: file.size, action: 'reported' });
        return;
      }
      if (await ports.blobs.getBlob(file.digest)) return;
      const changedAt = await changedAtOf(store, file.digest);
      if (changedAt === undefined || now - changedAt < options.graceMs) {
        s.youngStrays++;
        options.onFinding?.({ kind: 'stray', digest: file.digest, size: file.size, action: 'kept' });
        return;
      }
      s.strayFiles++;
      s.strayBytes += file.size;
      let action: GcFinding['action'] = 'reported';
      // Looked up again last: a row written since (a late commit) keeps the file.
      if (options.repair && !(await ports.blobs.getBlob(file.digest))) {
        try {
          await store.delete(file.digest); // false: gone already, which is as good
          s.filesRemoved++;
          action = 'repaired';
        } catch (err) {
          log.warn('cannot remove a stray blob file', { digest: file.digest, error: err });
        }
      }
      options.onFinding?.({ kind: 'stray', digest: file.digest, size: file.size, action });
    }));
    batch = [];
    progress();
  };
  for await (const file of store.list()) {
    batch.push(file);
    if (batch.length >= PARALLEL) await checkFiles();
  }
  await checkFiles();

  // Young strays are commits in progress, not problems; a repair that failed leaves one.
  s.clean = s.missingFiles === s.rowsDropped && s.strayFiles === s.filesRemoved && s.unknownFiles === 0;
  return s;
}

/**
 * When the file last changed: the later of mtime (last write) and ctime (the rename into
 * blobs/ changes it), so a fill committed just now counts as new however long it ran.
 * Undefined for a store without local files: such a stray is kept, never removed blind.
 */
async function changedAtOf(store: BlobStore, digest: string): Promise<number | undefined> {
  const path = store.localPath?.(digest);
  if (!path) return undefined;
  try {
    const st = await stat(path);
    return Math.max(st.mtimeMs, st.ctimeMs);
  } catch {
    return undefined;
  }
}
