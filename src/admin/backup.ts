import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { EventBus } from '../events/event-bus.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { BlobStore } from '../storage/blob-store.js';
import { createFsBlobStore } from '../storage/fs-blob-store.js';
import { ensurePrivateFile } from '../storage/fs-ops.js';
import type { BlobRow } from '../storage/index-rows.js';
import { snapshotSqliteIndex } from '../storage/sqlite-backup.js';
import { openSqliteStorage } from '../storage/sqlite-index.js';
import { checkStorage } from './gc-check.js';
import { copyBlob } from './copy-blob.js';

const PAGE = 500;
const PARALLEL = 4;

export interface BackupOptions {
  /** The live data dir's index.db and blob store (read only). */
  indexPath: string;
  store: BlobStore;
  /** The backup: a data dir of its own (index.db, blobs/), created or brought up to date. */
  dest: string;
  /** Only pushed content (local namespaces); mirrored blobs are left out (clients pull them again). */
  pushedOnly: boolean;
  log?: Logger;
  events?: EventBus;
  onProgress?: (p: { blobs: number; bytes: number }) => void;
}

export interface BackupSummary {
  dest: string;
  /** Blob rows of the snapshot this backup holds the files of. */
  blobs: number;
  /** Files copied now, and those already in the backup from an earlier run (same digest). */
  copied: number;
  bytesCopied: number;
  alreadyPresent: number;
  /** Rows left out: mirrored ones with --pushed-only, and rows whose file was gone or corrupt. */
  mirroredSkipped: number;
  missing: number;
  corrupt: number;
  /** Rows dropped from the backup's index (their files are not in it) and files of older runs removed. */
  rowsDropped: number;
  filesRemoved: number;
  pushedOnly: boolean;
}

/**
 * `registry-mirror backup DIR`: a data dir that a server can be started on, taken while the
 * mirror runs. The index first (one consistent snapshot), then the file of every blob that
 * snapshot names, each copied through the backup's own blob writer: hashed against its
 * digest and renamed into place only when it matches, so a corrupt source file is reported,
 * never backed up. Blobs are immutable and named by digest, so a second run into the same
 * DIR copies only what is new. Last, the backup's index is made to match its files (the
 * rows of blobs not copied are dropped, files of blobs since deleted are removed: gc
 * --repair on the backup) and only then replaces the previous backup's index.db, so DIR
 * always holds one whole backup. Mirrored content is a cache of what upstreams hold:
 * `pushedOnly` leaves it out; the images pull again after a restore.
 */
export async function backupDataDir(options: BackupOptions): Promise<BackupSummary> {
  const log = options.log ?? silentLogger;
  const dest = await createFsBlobStore(options.dest);
  const tmpIndex = join(options.dest, 'index.db.partial');
  await Promise.all(['', '-wal', '-shm'].map((f) => rm(tmpIndex + f, { force: true })));
  await snapshotSqliteIndex(options.indexPath, tmpIndex);
  const snapshot = openSqliteStorage(tmpIndex);
  const summary: BackupSummary = {
    dest: options.dest, blobs: 0, copied: 0, bytesCopied: 0, alreadyPresent: 0,
    mirroredSkipped: 0, missing: 0, corrupt: 0, rowsDropped: 0, filesRemoved: 0, pushedOnly: options.pushedOnly,
  };
  try {
    const copyOne = async (row: BlobRow): Promise<void> => {
      if (options.pushedOnly && row.origin !== 'push') { summary.mirroredSkipped++; return; }
      summary.blobs++;
      const have = await dest.stat(row.digest);
      if (have?.size === row.size) { summary.alreadyPresent++; return; }
      const outcome = await copyBlob(options.store, dest, row.digest, row.size);
      if (outcome === 'copied') { summary.copied++; summary.bytesCopied += row.size; }
      else {
        summary[outcome]++;
        log.warn(outcome === 'missing' ? 'backup: blob file missing, left out' : 'backup: blob file does not match its digest, left out',
          { digest: row.digest, origin: row.origin });
      }
      options.onProgress?.({ blobs: summary.copied + summary.alreadyPresent, bytes: summary.bytesCopied });
    };
    for (let after: string | undefined, page = await snapshot.ports.maintenance.listBlobs(PAGE); page.length > 0;
      after = page.at(-1)!.digest, page = await snapshot.ports.maintenance.listBlobs(PAGE, after)) {
      for (let i = 0; i < page.length; i += PARALLEL) await Promise.all(page.slice(i, i + PARALLEL).map(copyOne));
    }
    // The backup's index names exactly the files it holds: gc --repair on the backup.
    const repaired = await checkStorage(snapshot.ports, dest, { repair: true, graceMs: 0, log, ...(options.events ? { events: options.events } : {}) });
    summary.rowsDropped = repaired.rowsDropped;
    summary.filesRemoved = repaired.filesRemoved;
  } finally {
    snapshot.close();
  }
  ensurePrivateFile(tmpIndex);
  await rename(tmpIndex, join(options.dest, 'index.db'));
  // A previous backup's WAL files belong to the index.db just replaced.
  await Promise.all(['index.db-wal', 'index.db-shm'].map((f) => rm(join(options.dest, f), { force: true })));
  return summary;
}

