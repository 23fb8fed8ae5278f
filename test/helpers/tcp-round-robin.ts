/**
 * A round-robin TCP balancer on a free 127.0.0.1 port: each new client connection goes to
 * the next backend in turn (as a layer-4 load balancer with no affinity does), so one
 * client's connections — and with them its requests — spread over the replicas. A backend
 * that refuses the connection (a killed replica) is skipped for the next one.
 *
 * ```ts
 * const lb = await startTcpRoundRobin(cluster.replicas.map((r) => r.port));
 * // docker://${lb.host}/team/app:1
 * afterAll(() => lb.close());
 * ```
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpRoundRobin {
  /** 127.0.0.1:PORT */
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** Connections handed to each backend so far, by its index. */
  readonly connections: number[];
  close(): Promise<void>;
}

export async function startTcpRoundRobin(backendPorts: readonly number[]): Promise<TcpRoundRobin> {
  if (backendPorts.length === 0) throw new Error('round robin: no backends');
  const connections = backendPorts.map(() => 0);
  const sockets = new Set<Socket>();
  let next = 0;
  const track = (sock: Socket) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  };

  /** Connects to the next backend that accepts, trying each at most once. */
  const connectNext = (client: Socket, tries: number): void => {
    const index = next;
    next = (next + 1) % backendPorts.length;
    const backend = createConnection({ host: '127.0.0.1', port: backendPorts[index]! });
    track(backend);
    let connected = false;
    backend.once('connect', () => {
      connected = true;
      connections[index]!++;
      client.pipe(backend).pipe(client);
      client.resume();
    });
    backend.on('error', () => {
      if (!connected && tries + 1 < backendPorts.length && !client.destroyed) connectNext(client, tries + 1);
      else client.destroy();
    });
    client.on('close', () => backend.destroy());
  };

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    track(client);
    client.on('error', () => client.destroy());
    connectNext(client, 0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    host: `127.0.0.1:${port}`,
    port,
    url: `http://127.0.0.1:${port}`,
    connections,
    close: () => new Promise<void>((resolve) => {
      for (const sock of sockets) sock.destroy();
      server.close(() => resolve());
    }),
  };
}
