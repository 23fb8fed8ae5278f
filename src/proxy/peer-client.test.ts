/**
 * Issue 13: the client of the other replicas' internal endpoint. A peer that takes the
 * connection but never answers, or whose every connection is held by slow readers, counts
 * as unavailable within the answer timeout (the caller then looks again or fetches the blob
 * itself) instead of making a pull wait without bound.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { silentLogger } from '../log/logger.js';
import { createPeerClient } from './peer-client.js';

const D = `sha256:${'cd'.repeat(32)}`;
const SECRET = 's'.repeat(40);
const servers: Server[] = [];
const held: ServerResponse[] = [];

async function peer(handler: (res: ServerResponse) => void): Promise<string> {
  const server = createServer((_req, res) => handler(res));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  for (const res of held.splice(0)) res.destroy();
  for (const s of servers.splice(0)) { s.closeAllConnections(); await new Promise((r) => s.close(r)); }
});

describe('peer client', () => {
  test('a peer that never answers is unavailable within the answer timeout', async () => {
    const url = await peer((res) => { held.push(res); });
    const client = createPeerClient(SECRET, silentLogger, { answerTimeoutMs: 300 });
    try {
      const started = Date.now();
      expect(await client.open(url, D)).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      for (const r of held.splice(0)) r.destroy();
      await client.close();
    }
  });

  test('when slow readers hold every connection to a peer, the next request is unavailable in time, not queued for ever', async () => {
    const url = await peer((res) => {
      held.push(res);
      res.writeHead(200, { 'content-length': '1000000' });
      res.write(Buffer.alloc(10));
    });
    const client = createPeerClient(SECRET, silentLogger, { connections: 1, answerTimeoutMs: 300 });
    try {
      const first = await client.open(url, D);
      expect(first?.size).toBe(1_000_000);
      // Nobody reads `first`: its connection stays busy.
      const started = Date.now();
      expect(await client.open(url, D)).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(2000);
      first!.body.destroy();
    } finally {
      for (const r of held.splice(0)) r.destroy();
      await client.close();
    }
  });
});
