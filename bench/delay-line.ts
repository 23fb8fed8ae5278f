/**
 * A userspace delay line: a TCP relay that hands every chunk on, in each direction, a
 * fixed time after it arrived. The bench's WAN profile needs one because this machine's
 * kernel has no netem (CONFIG_NET_SCH_NETEM is not set), so `tc qdisc ... netem delay`
 * is not available; `tbf` (which is) limits the rate on the veth, this adds the latency.
 *
 * It preserves order (one FIFO per direction, every chunk has the same delay, so due
 * times never decrease) and does not limit throughput: chunks are queued, not paced, and
 * a source is paused only when more than `maxQueuedBytes` (64 MiB) wait in one direction.
 * Upstream-side reads go into one reusable 1 MiB buffer (`onread`), so a fast sender
 * costs few callbacks; a chunk is copied out of it once, as it must outlive the read.
 *
 * What it does not model: TCP's own RTT (the kernel's connections here are local, so
 * congestion windows open at once) and loss. A new connection's first request bytes are
 * held for one extra round trip, standing in for the TCP handshake a real WAN costs.
 */
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';

export interface DelayLineOptions {
  /** Address to listen on (port 0: any free port). */
  listenHost: string;
  listenPort?: number;
  /** Where each accepted connection is relayed to. */
  targetHost: string;
  targetPort: number;
  /** One-way delay in ms, applied in both directions (0: a plain relay). */
  delayMs: number;
  /** Bytes waiting in one direction before its source is paused (default 64 MiB). */
  maxQueuedBytes?: number;
}

export interface DelayLine {
  server: Server;
  port: number;
  close(): Promise<void>;
}

const READ_BUFFER = 1024 * 1024;

/** One direction of one connection: chunks due at a time, written in order. */
class DelayedPipe {
  private readonly chunks: Buffer[] = [];
  private readonly due: number[] = [];
  private head = 0;
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  private paused = false;

  constructor(
    private readonly source: Socket,
    private readonly dest: Socket,
    private readonly delayMs: number,
    private readonly maxQueued: number,
    /** No chunk leaves before this time (the emulated handshake). */
    private notBefore = 0,
  ) {
    dest.on('drain', () => this.maybeResume());
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.due.push(Math.max(performance.now() + this.delayMs, this.notBefore));
    this.queued += chunk.length;
    if (this.queued + this.dest.writableLength > this.maxQueued && !this.paused) {
      this.paused = true;
      this.source.pause();
    }
    this.schedule();
  }

  /** The source ended: end the destination once everything queued has gone out. */
  end(): void {
    this.ended = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    if (this.head === this.chunks.length) {
      if (this.ended && !this.dest.destroyed) this.dest.end();
      return;
    }
    const wait = this.due[this.head]! - performance.now();
    if (wait <= 0) {
      this.flush();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, Math.ceil(wait));
  }

  private flush(): void {
    const now = performance.now();
    // setTimeout may fire up to a ms early or late: take everything due within 1 ms.
    if (this.head < this.chunks.length) this.dest.cork();
    while (this.head < this.chunks.length && this.due[this.head]! <= now + 1) {
      const chunk = this.chunks[this.head]!;
      this.chunks[this.head] = EMPTY;
      this.head++;
      this.queued -= chunk.length;
      if (!this.dest.destroyed) this.dest.write(chunk);
    }
    this.dest.uncork();
    if (this.head === this.chunks.length) {
      // Drained: start the arrays afresh rather than let them grow with the connection.
      this.chunks.length = 0;
      this.due.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks.splice(0, this.head);
      this.due.splice(0, this.head);
      this.head = 0;
    }
    this.maybeResume();
    this.schedule();
  }

  private maybeResume(): void {
    if (this.paused && this.queued + this.dest.writableLength <= this.maxQueued / 2) {
      this.paused = false;
      this.source.resume();
    }
  }

  destroy(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

const EMPTY = Buffer.alloc(0);

/** Listens and relays every connection to the target through a delay line each way. */
export async function startDelayLine(options: DelayLineOptions): Promise<DelayLine> {
  const maxQueued = options.maxQueuedBytes ?? 64 * 1024 * 1024;
  const sockets = new Set<Socket>();
  // Half-open both ways: a client's FIN must not end its socket before the delayed answer left.
  const server = createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
    // A real connection costs a round trip before the first request byte can leave, so
    // that byte reaches the far end 3 one-way delays after the SYN (here: after accept).
    const handshakeDue = performance.now() + 3 * options.delayMs;
    let toClient: DelayedPipe | undefined;
    const upstream = new Socket({
      allowHalfOpen: true,
      onread: {
        buffer: Buffer.allocUnsafe(READ_BUFFER),
        // The read buffer is reused: each chunk is copied out once, as it waits delayMs.
        callback: (n: number, buf: Uint8Array): boolean => {
          toClient!.push(Buffer.from(buf.subarray(0, n)));
          return true;
        },
      },
    } as ConstructorParameters<typeof Socket>[0]);
    const toUpstream = new DelayedPipe(client, upstream, options.delayMs, maxQueued, handshakeDue);
    toClient = new DelayedPipe(upstream, client, options.delayMs, maxQueued);
    sockets.add(client).add(upstream);
    const fail = (): void => {
      toUpstream.destroy();
      toClient!.destroy();
      client.destroy();
      upstream.destroy();
    };
    client.on('error', fail).on('close', () => { sockets.delete(client); fail(); });
    upstream.on('error', fail).on('close', () => sockets.delete(upstream));
    client.on('data', (chunk: Buffer) => toUpstream.push(chunk));
    client.on('end', () => toUpstream.end());
    upstream.on('end', () => toClient!.end());
    upstream.setNoDelay(true);
    upstream.connect(options.targetPort, options.targetHost);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listenPort ?? 0, options.listenHost, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
