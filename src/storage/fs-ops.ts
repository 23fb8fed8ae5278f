import { mkdir, open, rename, rm } from 'node:fs/promises';

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
