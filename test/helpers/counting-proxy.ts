/**
 * A transparent HTTP proxy in front of a real upstream that records every request, so
 * an end-to-end test can assert how many requests (and which) reached the upstream.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CountedRequest {
  method: string;
  path: string;
}

export interface CountingProxy {
  url: string;
  requests: CountedRequest[];
  /** Requests whose method matches and whose path matches the pattern. */
  count(method: string, pattern: RegExp): number;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const to = new URL(target);
  const requests: CountedRequest[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? 'GET', path: req.url ?? '/' });
    const upstream = httpRequest({
      host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host },
    }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    count: (method, pattern) => requests.filter((r) => r.method === method && pattern.test(r.path)).length,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
