import { Worker } from 'node:worker_threads';
import { FILL_WORKER_SOURCE } from './fill-worker-source.js';

/**
 * A small, long-lived pool of worker threads that hash (and fsync) cache fills off the
 * main event loop, which then only relays bytes from the upstream to the clients and
 * hands them to the file (SHA-256 was the largest share of a cold pull's main-thread CPU
 * after the relay itself).
 *
 * Workers start at the first fill (none for a mirror that only serves its cache), never
 * keep the process alive when idle, and are terminated by close(). A fill stays on the
 * worker it was given (its hash state lives there). A worker that dies (crash, terminate)
 * fails the fills it held — each learns through onExit — and is replaced at the next fill.
 */
export interface FillWorkerPoolOptions {
  /** Worker threads at most. */
  size: number;
  /** Bytes written between background fdatasyncs, so that the commit's fsync is short; 0 = only at commit. */
  syncEvery?: number;
  /** Tests only: while Int32 [0] of this buffer is 1, workers hash nothing (a stalled worker). */
  hold?: SharedArrayBuffer;
}

/** What a fill's writer hears from its worker. */
export interface FillChannel {
  onMessage(msg: FillReply): void;
  /** The worker is gone: the fill cannot continue (nothing more will arrive). */
  onExit(err: Error): void;
}

export type FillReply =
  | { t: 'finished'; id: number; hex: string; pos: number }
  | { t: 'dropped'; id: number }
  | { t: 'error'; id: number; error: { code?: string; errno?: number; syscall?: string; message: string } };

/** One fill's seat on a worker: how to talk to the worker about it. */
export interface FillLease {
  readonly id: number;
  /** Posts a message about this fill to its worker. */
  post(msg: { t: 'hash'; end: number } | { t: 'finish'; end: number } | { t: 'drop' }): void;
  /** Gives the seat back: only once the worker answered `dropped`/`finished`, or died. */
  release(): void;
}

export const DEFAULT_SYNC_EVERY = 16 * 1024 * 1024;

interface Thread {
  worker: Worker;
  fills: Map<number, FillChannel>;
  dead: boolean;
}

export class FillWorkerPool {
  private readonly size: number;
  private readonly syncEvery: number;
  private readonly hold: SharedArrayBuffer | undefined;
  private readonly threads: Thread[] = [];
  private nextId = 0;
  private closed = false;

  constructor(options: FillWorkerPoolOptions) {
    this.size = Math.max(1, options.size);
    this.syncEvery = options.syncEvery ?? DEFAULT_SYNC_EVERY;
    this.hold = options.hold;
  }

  /** The live worker threads (for tests that need one to die, and for diagnostics). */
  get workers(): readonly Worker[] {
    return this.threads.map((t) => t.worker);
  }

  /** Seats a fill that writes to `fd` on the least busy worker, starting one when below size. */
  open(fd: number, channel: FillChannel): FillLease {
    if (this.closed) throw new Error('fill worker pool is closed');
    let thread = this.threads.reduce<Thread | undefined>((best, t) => (!best || t.fills.size < best.fills.size ? t : best), undefined);
    if (!thread || (thread.fills.size > 0 && this.threads.length < this.size)) thread = this.spawn();
    const id = ++this.nextId;
    const t = thread;
    t.fills.set(id, channel);
    // A seated fill keeps the process alive until it is committed or dropped.
    if (t.fills.size === 1) t.worker.ref();
    t.worker.postMessage({ t: 'open', id, fd, syncEvery: this.syncEvery });
    let released = false;
    return {
      id,
      post: (msg) => {
        if (t.dead) return;
        t.worker.postMessage({ ...msg, id });
      },
      release: () => {
        if (released) return;
        released = true;
        if (t.fills.delete(id) && t.fills.size === 0) t.worker.unref();
      },
    };
  }

  /** Stops every worker; fills still running fail. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.splice(0).map((t) => t.worker.terminate()));
  }

  private spawn(): Thread {
    const thread: Thread = { worker: new Worker(FILL_WORKER_SOURCE, {
      eval: true,
      workerData: { hold: this.hold },
      // It allocates almost nothing in JavaScript: a small young generation saves ~3 MiB of RSS.
      resourceLimits: { maxYoungGenerationSizeMb: 1 },
    }), fills: new Map(), dead: false };
    // Idle workers must not keep a finished process (a CLI command, a test) alive.
    thread.worker.unref();
    thread.worker.on('message', (msg: FillReply) => {
      thread.fills.get(msg.id)?.onMessage(msg);
    });
    const die = (err: Error) => {
      if (thread.dead) return;
      thread.dead = true;
      const i = this.threads.indexOf(thread);
      if (i >= 0) this.threads.splice(i, 1);
      for (const channel of [...thread.fills.values()]) channel.onExit(err);
      thread.fills.clear();
    };
    thread.worker.on('error', die);
    thread.worker.on('exit', (code) => die(new Error(`fill worker exited with code ${code}`)));
    this.threads.push(thread);
    return thread;
  }
}
