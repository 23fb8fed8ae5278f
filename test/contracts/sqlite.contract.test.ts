import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStorage } from '../../src/storage/sqlite-index.js';
import { describeBrowseContract } from './browse-contract.js';
import { describeIndexContract } from './index-contract.js';
import { describeLeaseContract } from './lease-contract.js';

// The embedded index: a fresh SQLite file per test.
const sqliteBackend = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mirror-contract-index-'));
  const storage = openSqliteStorage(join(dir, 'index.db'));
  return {
    ports: storage.ports,
    async cleanup() {
      storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};
describeIndexContract('sqlite', sqliteBackend);
// Issue 12: the console's browsing port.
describeBrowseContract('sqlite', sqliteBackend);
// Issue 13: leases (always granted: the data-dir lock makes one process per index).
describeLeaseContract('sqlite', sqliteBackend, { shared: false });
