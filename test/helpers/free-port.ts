/**
 * Ask the kernel for a free TCP port on 127.0.0.1.
 *
 * Listens on port 0, reads the port that was assigned, then closes the socket.
 * There is a small race (another process could take the port before the caller
 * binds it); tests that start a server on the result should be ready to retry.
 */
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected listen address: ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}
