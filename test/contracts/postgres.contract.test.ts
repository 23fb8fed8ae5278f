import { afterAll, beforeAll } from 'vitest';
import { openPgStorage } from '../../src/storage/pg-index.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { describeBrowseContract } from './browse-contract.js';
import { describeIndexContract } from './index-contract.js';
import { describeLeaseContract } from './lease-contract.js';
import { describeUploadSessionsContract } from './upload-sessions-contract.js';

// Issue 13: the PostgreSQL index against the same contract as SQLite's, a fresh database
// per test on one throwaway server (PG_TEST_URL: an external one instead).
let server: TestPostgres;
beforeAll(async () => { server = await startPostgres(); });
afterAll(() => server?.stop());

const postgresBackend = async () => {
  const storage = await openPgStorage(await server.createDatabase(), { poolSize: 4 });
  return { ports: storage.ports, cleanup: () => storage.close() };
};
describeIndexContract('postgres', postgresBackend);
describeBrowseContract('postgres', postgresBackend);
// Issue 13: leases, exclusive across the processes sharing the database.
describeLeaseContract('postgres', postgresBackend, { shared: true });
// Issue 13: upload sessions shared by replicas (a push continued on another one).
describeUploadSessionsContract('postgres', postgresBackend);
