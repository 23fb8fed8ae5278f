/**
 * A load balancer for tests: an HTTP proxy on a free 127.0.0.1 port that sends each
 * request to the next of several servers in turn (per request, not per connection, so a
 * client that keeps one connection still spreads its requests), streaming both bodies.
 * `log` records which server answered what, for "these requests reached different
 * replicas" assertions.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RoundRobin {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** 127.0.0.1:PORT, for image references. */
  readonly host: string;
  /** Every request: its method, path (without the query), the index of the server it went to, its status. */
  readonly log: Array<{ method: string; path: string; target: number; status: number }>;
  close(): Promise<void>;
}

export async function startRoundRobin(targets: readonly string[]): Promise<RoundRobin> {
  let next = 0;
  const log: RoundRobin['log'] = [];
  const server: Server = createServer((req, res) => {
    const target = next++ % targets.length;
    const to = new URL(targets[target]!);
    const out = httpRequest({
      host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers,
    }, (answer) => {
      log.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0]!, target, status: answer.statusCode ?? 0 });
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.on('error', () => out.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    log,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
