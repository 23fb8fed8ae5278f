import { close, open, read } from 'node:fs';
import type { ServerResponse } from 'node:http';

/**
 * Bytes per read; two buffers of this size per stream, reused for the whole blob. 512 KiB
 * measured best here: 1 MiB made warm skopeo pulls 4 % slower, 256 KiB slowed curl.
 */
const CHUNK = 512 * 1024;

/** Opens a blob file for sendFileRange; rejects (ENOENT) when it is gone. */
export const openForSend = (path: string) => new Promise<number>((resolve, reject) => {
  open(path, 'r', (err, fd) => (err ? reject(err) : resolve(fd)));
});

const readAt = (fd: number, buf: Buffer, length: number, position: number) => new Promise<number>((resolve, reject) => {
  read(fd, buf, 0, length, position, (err, n) => (err ? reject(err) : resolve(n)));
});

/**
 * Sends bytes [start, end] of an open file (closed when done) to a response with two reused buffers: one is read
 * into while the other is being written. A buffer is refilled only after the socket has
 * taken it (the write callback), so no byte is overwritten in flight, and a blob of any
 * size costs 1 MiB and no garbage — allocating a fresh buffer per read made the heap
 * grow by the size of the transfers before the GC caught up.
 * Rejects if the client leaves or the file ends early; the caller cuts the connection.
 */
export async function sendFileRange(
  fd: number, start: number, end: number, res: ServerResponse, onBytes: (n: number) => void,
): Promise<void> {
  try {
    const buffers = [Buffer.allocUnsafeSlow(CHUNK), Buffer.allocUnsafeSlow(CHUNK)];
    const inFlight: Array<Promise<void> | undefined> = [undefined, undefined];
    let closed = false;
    const onClose = () => { closed = true; };
    res.once('close', onClose);
    try {
      let pos = start;
      for (let i = 0; pos <= end; i ^= 1) {
        await inFlight[i];
        if (closed) throw new Error('client closed the connection');
        const buf = buffers[i]!;
        const n = await readAt(fd, buf, Math.min(CHUNK, end - pos + 1), pos);
        if (n === 0) throw new Error('blob file ended early');
        pos += n;
        const chunk = n === CHUNK ? buf : buf.subarray(0, n);
        inFlight[i] = new Promise<void>((resolve, reject) => {
          res.write(chunk, (err) => (err ? reject(err) : resolve()));
        });
        // A write that fails is seen when its buffer comes round again, or below.
        inFlight[i]!.catch(() => {});
        onBytes(n);
      }
      await Promise.all(inFlight);
    } finally {
      res.off('close', onClose);
    }
  } finally {
    close(fd, () => {});
  }
}
