import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FillWorkerPool } from '../../src/storage/fill-worker-pool.js';
import { createFsBlobStore } from '../../src/storage/fs-blob-store.js';
import { describeBlobStoreContract } from './blob-store-contract.js';

/** Permission bits of everything under dir (dir itself excluded). */
async function modesUnder(dir: string, out = { files: [] as number[], dirs: [] as number[] }) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const mode = (await stat(path)).mode & 0o777;
    if (entry.isDirectory()) {
      out.dirs.push(mode);
      await modesUnder(path, out);
    } else out.files.push(mode);
  }
  return out;
}

// The embedded store: content-addressed files under a fresh temp dir per test.
describeBlobStoreContract('fs', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mirror-contract-blobs-'));
  return {
    store: await createFsBlobStore(root),
    reopen: () => createFsBlobStore(root),
    pendingCount: async () => (await readdir(join(root, 'tmp'))).length,
    modes: () => modesUnder(root),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

// The same store with cache fills hashed and written on a worker thread (storage.fill_workers ≥ 1).
describeBlobStoreContract('fs with a fill worker', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mirror-contract-blobs-'));
  const pool = new FillWorkerPool({ size: 1 });
  return {
    store: await createFsBlobStore(root, { fillWorkers: pool }),
    reopen: () => createFsBlobStore(root, { fillWorkers: pool }),
    pendingCount: async () => (await readdir(join(root, 'tmp'))).length,
    modes: () => modesUnder(root),
    cleanup: async () => {
      await pool.close();
      await rm(root, { recursive: true, force: true });
    },
  };
});
