import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStorage } from '../../src/storage/sqlite-index.js';
import { describeIndexContract } from './index-contract.js';

// The embedded index: a fresh SQLite file per test.
describeIndexContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mirror-contract-index-'));
  const storage = openSqliteStorage(join(dir, 'index.db'));
  return {
    ports: storage.ports,
    async cleanup() {
      storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
