import { closeSync, openSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * The file system calls the blob store makes to create, write and place files. Tests
 * hand in a faulty set (a handle on /dev/full for ENOSPC, an EACCES on open) to prove
 * how storage failures reach clients, since tests run as root and chmod stops nothing.
 */
export interface FsOps {
  open: typeof open;
  mkdir: typeof mkdir;
  rename: typeof rename;
  rm: typeof rm;
}

export const NODE_FS: FsOps = { open, mkdir, rename, rm };

/** Data files and dirs are private to the mirror's user: blobs may be private images. */
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/**
 * Creates `path` (empty, FILE_MODE) when missing, so that a library creating it later
 * (SQLite: index.db, whose -wal and -shm copy its mode) cannot make it world-readable.
 */
export function ensurePrivateFile(path: string): void {
  closeSync(openSync(path, 'a', FILE_MODE));
}

/**
 * Puts a verified temp file at its content address (creating the fan-out dir): the one
 * step that makes a blob visible, taken only after its size and digest matched.
 */
export async function publishBlobFile(fs: FsOps, tmpPath: string, finalPath: string): Promise<void> {
  await fs.mkdir(dirname(finalPath), { recursive: true, mode: DIR_MODE });
  await fs.rename(tmpPath, finalPath);
}
