/**
 * A TCP forwarder on a fixed 127.0.0.1 port that a test can switch off and on: off closes
 * every connection through it and refuses new ones, as a stopped server would; on listens
 * on the same port again. Lets a test take a shared engine (PostgreSQL, radosgw) away from
 * the mirror and give it back, without restarting the engine.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpSwitch {
  /** 127.0.0.1:PORT, the address to give the mirror instead of the engine's. */
  readonly host: string;
  readonly port: number;
  off(): Promise<void>;
  on(): Promise<void>;
  /** Stops moving bytes either way on every connection, new ones too (a network gone silent: nothing is closed). */
  freeze(): void;
  /** Moves bytes again. */
  thaw(): void;
  close(): Promise<void>;
}

export async function startTcpSwitch(targetHost: string, targetPort: number): Promise<TcpSwitch> {
  const sockets = new Set<Socket>();
  const pairs = new Set<[Socket, Socket]>();
  let frozen = false;
  const join = ([a, b]: [Socket, Socket]) => { a.pipe(b); b.pipe(a); a.resume(); b.resume(); };
  const split = ([a, b]: [Socket, Socket]) => { a.unpipe(b); b.unpipe(a); a.pause(); b.pause(); };
  let server: Server | undefined;
  let port = 0;
  const listen = () => new Promise<void>((resolve, reject) => {
    const s = createServer((client) => {
      const upstream = createConnection({ host: targetHost, port: targetPort });
      for (const sock of [client, upstream]) {
        sockets.add(sock);
        sock.on('close', () => sockets.delete(sock));
        sock.on('error', () => { client.destroy(); upstream.destroy(); });
      }
      const pair: [Socket, Socket] = [client, upstream];
      pairs.add(pair);
      client.on('close', () => pairs.delete(pair));
      if (frozen) split(pair);
      else join(pair);
    });
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      port = (s.address() as { port: number }).port;
      server = s;
      resolve();
    });
  });
  const off = async () => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();
  return {
    host: '127.0.0.1',
    get port() { return port; },
    off,
    on: () => (server ? Promise.resolve() : listen()),
    freeze() { frozen = true; for (const p of pairs) split(p); },
    thaw() { frozen = false; for (const p of pairs) join(p); },
    close: off,
  };
}
