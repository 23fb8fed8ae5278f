import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { copyBlob } from './copy-blob.js';
import type { BlobStore } from '../storage/blob-store.js';
import { acquireDataLock } from '../storage/data-lock.js';
import { createFsBlobStore } from '../storage/fs-blob-store.js';
import { INDEX_TABLES, type IndexRow, type IndexTable } from '../storage/index-tables.js';
import type { PgImport } from '../storage/pg-import.js';
import { openSqliteExport, type SqliteExport } from '../storage/sqlite-export.js';

/** Rows per batch; manifests carry their bytes (up to 4 MiB each), so fewer of them. */
const PAGE = 500;
const MANIFEST_PAGE = 50;
/** Blobs copied at once (each one stream, never buffered whole). */
const PARALLEL = 4;

/** A problem with the command line or the source/target pair: exit 2. */
export class MigrateUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrateUsageError';
  }
}

/** What migrateStorage copies from and to. */
export interface MigrateOptions {
  /** The target: storage.driver s3 and/or index.driver postgres. */
  config: Config;
  /** The source data dir (index.db + blobs/); default the config's storage.path. */
  from?: string;
  dryRun: boolean;
  log?: Logger;
  /** One line per step (stderr): blobs every so often, each table when done. */
  onProgress?: (line: string) => void;
  /** Tests: the target store and index instead of those the config names. */
  target?: { store?: BlobStore; index?: PgImport };
}

/** What the command prints (stdout, JSON): blobs copied / already there / failed, bytes, rows per table. */
export interface MigrateSummary {
  from: string;
  dryRun: boolean;
  blobs: { copied: number; alreadyThere: number; failed: number; bytesCopied: number; failedDigests: string[] };
  /** Rows written (or, dry run, that would be) per table; absent when the index stays SQLite. */
  rows?: Record<string, number>;
}

/**
 * `registry-mirror migrate-storage`: moves a single-node data dir (file store + SQLite
 * index) into the configured S3 store and/or PostgreSQL index. Blobs first, each streamed
 * through the target store's writer, which verifies the digest before anything is
 * visible: a source file that does not match is reported, never copied. A blob the target
 * already has (same size) is skipped, so an interrupted run is simply run again. Then the
 * index, table by table, as upserts (a rerun writes the same rows again); the blob rows
 * only of blobs the target now holds. The source is never written; its lock is held for
 * the run, so no server starts on it meanwhile.
 */
export async function migrateStorage(options: MigrateOptions): Promise<MigrateSummary> {
  const { config } = options;
  const log = options.log ?? silentLogger;
  const progress = options.onProgress ?? (() => {});
  const from = resolve(options.from ?? config.storage.path);
  const toS3 = config.storage.driver === 's3';
  const toPg = config.index.driver === 'postgres';
  if (!toS3 && !toPg) throw new MigrateUsageError('migrate-storage: the config names neither storage.driver: s3 nor index.driver: postgres: nothing to migrate to');
  if (!existsSync(from) || !statSync(from).isDirectory()) throw new MigrateUsageError(`migrate-storage: --from ${from}: no such directory`);
  if (!existsSync(join(from, 'index.db'))) throw new MigrateUsageError(`migrate-storage: --from ${from}: no index.db (not a data dir)`);
  const same = resolve(config.storage.path) === from;
  // What is not migrated stays where it is: it must be the source's own.
  if (!same && (!toS3 || !toPg)) {
    throw new MigrateUsageError(`migrate-storage: --from ${from} is not storage.path (${config.storage.path}): ` +
      `the ${toS3 ? 'index (index.driver: sqlite)' : 'blob store (storage.driver: fs)'} would stay behind`);
  }
  // A server on the source would write behind the copy's back (DataDirLockedError: exit 2 with its PID).
  const lock = acquireDataLock(from);
  const source = openSqliteExport(join(from, 'index.db'));
  const opened: Array<() => Promise<void> | void> = [() => source.close(), () => lock.release()];
  try {
    const sourceStore = await createFsBlobStore(from);
    const store = options.target?.store ?? (toS3 ? await openTargetStore(config) : sourceStore);
    let index = options.target?.index;
    if (!index && toPg && !options.dryRun) {
      const { openPgImport } = await import('../storage/pg-import.js');
      index = await openPgImport(config.index.url);
      const i = index;
      opened.unshift(() => i.close());
    }
    const summary: MigrateSummary = {
      from, dryRun: options.dryRun,
      blobs: { copied: 0, alreadyThere: 0, failed: 0, bytesCopied: 0, failedDigests: [] },
    };
    const failed = new Set<string>();
    const blobRows = await copyBlobs({ source, sourceStore, store, dryRun: options.dryRun, log, progress, summary, failed, index });
    if (toPg) summary.rows = await copyRows({ source, index, blobRows, failed, progress, dryRun: options.dryRun });
    summary.blobs.failedDigests = [...failed].slice(0, 100);
    return summary;
  } finally {
    for (const close of opened) await close();
  }
}

/** The S3 store the config names, imported only here (the AWS SDK stays out of the default). */
async function openTargetStore(config: Config): Promise<BlobStore> {
  if (!config.storage.s3) throw new MigrateUsageError('migrate-storage: storage.driver is s3 but storage.s3 is not set');
  const { openS3BlobStore } = await import('../storage/s3-blob-store.js');
  return openS3BlobStore(config.storage.s3, config.storage.path);
}

interface BlobPass {
  source: SqliteExport;
  sourceStore: BlobStore;
  store: BlobStore;
  dryRun: boolean;
  log: Logger;
  progress: (line: string) => void;
  summary: MigrateSummary;
  /** Digests not in the target after this pass: their rows are not copied. */
  failed: Set<string>;
  index: PgImport | undefined;
}

/**
 * Every blob row's file, then the files of the store no row names (the target then holds
 * whatever the source's gc --check would find). Blob rows are written per page right
 * after their files, so a rerun after an interruption finds the rows of what was copied.
 */
async function copyBlobs(p: BlobPass): Promise<number> {
  let rows = 0;
  const blobs = INDEX_TABLES.find((t) => t.name === 'blobs')!;
  const b = p.summary.blobs;
  let lastReport = 0;
  const one = async (digest: string, size: number | undefined): Promise<void> => {
    const have = await p.store.stat(digest);
    const known = size ?? (await p.sourceStore.stat(digest))?.size;
    if (have && (known === undefined || have.size === known)) { b.alreadyThere++; return; }
    if (p.dryRun) { b.copied++; b.bytesCopied += known ?? 0; return; }
    const outcome = p.store === p.sourceStore ? 'missing' : await copyBlob(p.sourceStore, p.store, digest, known);
    if (outcome === 'copied') { b.copied++; b.bytesCopied += known ?? 0; }
    else {
      b.failed++;
      p.failed.add(digest);
      p.progress(`migrate-storage: ${digest}: ${outcome === 'missing' ? 'file missing' : 'bytes do not match the digest'}, not copied`);
      p.log.warn('migrate-storage: blob not copied', { digest, reason: outcome });
    }
    const done = b.copied + b.alreadyThere + b.failed;
    if (done - lastReport >= 100) { lastReport = done; p.progress(`migrate-storage: blobs ${done} (${b.copied} copied, ${b.bytesCopied} bytes)`); }
  };
  for (let after: IndexRow | undefined, page = p.source.page(blobs, PAGE); page.length > 0;
    after = page.at(-1), page = p.source.page(blobs, PAGE, after)) {
    for (let i = 0; i < page.length; i += PARALLEL) {
      // All settled before a failure propagates: no copy may still run once the stores close.
      const results = await Promise.allSettled(page.slice(i, i + PARALLEL).map((r) => one(r.digest as string, r.size as number)));
      const failure = results.find((r) => r.status === 'rejected');
      if (failure) throw failure.reason;
    }
    const present = page.filter((r) => !p.failed.has(r.digest as string));
    rows += present.length;
    if (p.index && !p.dryRun) await p.index.upsert(blobs, present);
  }
  if (p.store !== p.sourceStore) {
    for await (const file of p.sourceStore.list()) {
      if (!p.source.hasBlobRow(file.digest)) await one(file.digest, file.size);
    }
  }
  p.progress(`migrate-storage: blobs done: ${b.copied} copied (${b.bytesCopied} bytes), ${b.alreadyThere} already there, ${b.failed} failed`);
  return rows;
}


/** Every table but blobs (written with their files), in pages, as upserts; a dry run counts. */
async function copyRows(p: {
  source: SqliteExport; index: PgImport | undefined; blobRows: number; failed: Set<string>; progress: (line: string) => void; dryRun: boolean;
}): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of INDEX_TABLES) {
    let n = 0;
    if (table.name === 'blobs') n = p.blobRows;
    else if (p.dryRun || !p.index) n = p.source.count(table);
    else n = await copyTable(p.source, p.index, table, p.failed);
    counts[table.name] = n;
    p.progress(`migrate-storage: ${table.name}: ${n} rows${p.dryRun ? ' (dry run)' : ''}`);
  }
  return counts;
}

async function copyTable(source: SqliteExport, index: PgImport, table: IndexTable, failed: Set<string>): Promise<number> {
  const limit = table.name === 'manifests' ? MANIFEST_PAGE : PAGE;
  let n = 0;
  for (let after: IndexRow | undefined, page = source.page(table, limit); page.length > 0;
    after = page.at(-1), page = source.page(table, limit, after)) {
    // A repository's link to a blob the target does not hold would serve a 404 after a 200 HEAD.
    const rows = table.name === 'repo_blobs' ? page.filter((r) => !failed.has(r.digest as string)) : page;
    n += await index.upsert(table, rows);
  }
  return n;
}
