/**
 * An HTTP forwarder in front of a real upstream that records every request (method, path,
 * status, when its response started and ended) and can slow blob bodies to a rate the test
 * sets at any time: the cluster suite counts upstream blob GETs across replicas and keeps a
 * fill in progress long enough to kill its replica or to watch peers stream it.
 *
 * ```ts
 * const up = await startPacedProxy(registry.url);
 * up.setRate(2 * 1024 * 1024);           // blob GET bodies at 2 MiB/s from now on
 * up.blobGets(digest);                   // GETs of that blob the upstream answered 200
 * ```
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProxiedRequest {
  method: string;
  path: string;
  /** The upstream's status (undefined until its headers came). */
  status?: number;
  startedAt: number;
  /** performance.now() when the last body byte was written to the client (or it was cut). */
  endedAt?: number;
  /** Body bytes forwarded so far. */
  bytes: number;
}

export interface PacedProxy {
  readonly url: string;
  readonly requests: ProxiedRequest[];
  /** Bytes per second for blob GET bodies; 0 (the default) forwards at full speed. */
  setRate(bytesPerSecond: number): void;
  /** Blob GETs of `digest` the upstream answered 200 (token 401s are not fetches). */
  blobGets(digest: string): number;
  /** Those requests, for their timings. */
  blobGetRequests(digest: string): ProxiedRequest[];
  close(): Promise<void>;
}

/** A slice of body written between two pauses: small enough for a smooth rate. */
const SLICE = 64 * 1024;
const BLOB_PATH = /\/blobs\/sha256:[0-9a-f]{64}/;

export async function startPacedProxy(target: string): Promise<PacedProxy> {
  const to = new URL(target);
  const requests: ProxiedRequest[] = [];
  let rate = 0;
  const server: Server = createServer((req, res) => {
    const record: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', startedAt: performance.now(), bytes: 0 };
    requests.push(record);
    const paced = record.method === 'GET' && BLOB_PATH.test(record.path);
    const upstream = httpRequest({
      host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host },
    }, (up) => {
      record.status = up.statusCode ?? 502;
      res.writeHead(record.status, up.headers);
      void (async () => {
        try {
          for await (const chunk of up as AsyncIterable<Buffer>) {
            for (let off = 0; off < chunk.length; off += SLICE) {
              const slice = chunk.subarray(off, off + SLICE);
              if (paced && rate > 0) await sleep(Math.ceil((slice.length / rate) * 1000));
              if (res.destroyed) throw new Error('client gone');
              record.bytes += slice.length;
              if (!res.write(slice)) await new Promise((r) => res.once('drain', r));
            }
          }
          res.end();
        } catch {
          up.destroy();
          res.destroy();
        } finally {
          record.endedAt = performance.now();
        }
      })();
    });
    upstream.on('error', () => { record.endedAt ??= performance.now(); res.destroy(); });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const blobGetRequests = (digest: string) => requests.filter((r) => r.method === 'GET' && r.status === 200
    && r.path.includes(`/blobs/${digest}`));
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setRate: (bytesPerSecond) => { rate = bytesPerSecond; },
    blobGets: (digest) => blobGetRequests(digest).length,
    blobGetRequests,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
