import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { OciError } from '../oci/errors.js';

/**
 * bcrypt compares off the event loop. bcryptjs is pure JavaScript: one compare at cost 10
 * takes tens of milliseconds of CPU, and on the main thread every password guess stalls
 * every other request (cached manifest GETs went from ~3 ms to ~76 ms under guessing).
 * Here compares run in a small pool of worker threads, with a bounded queue: when it is
 * full the caller gets 429 TOOMANYREQUESTS at once instead of waiting behind a flood.
 */
export interface BcryptPool {
  /** True when `password` matches the bcrypt `hash`; false for a malformed hash. Throws TOOMANYREQUESTS when the queue is full. */
  compare(password: string, hash: string): Promise<boolean>;
  /** Compares queued or running now. */
  readonly pending: number;
  /** Stops the workers; queued compares fail. */
  close(): Promise<void>;
}

export interface BcryptPoolOptions {
  /** Worker threads, started on the first compare. Default 1 (the machine has other work). */
  size?: number;
  /** Compares queued or running at most; more are refused. Default 64. */
  maxPending?: number;
}

/**
 * The worker's code, run with `eval` so that the same file works from dist/ (compiled) and
 * under vitest/tsx (TypeScript source): no second file to ship or to resolve. It loads
 * bcryptjs from the path this module resolves (a worker's own `require` would resolve from
 * the working directory).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.bcryptjs);
parentPort.on('message', ({ id, password, hash }) => {
  let ok = false;
  try { ok = bcrypt.compareSync(password, hash); } catch { ok = false; }
  parentPort.postMessage({ id, ok });
});
`;

const BCRYPTJS_PATH = createRequire(import.meta.url).resolve('bcryptjs');

interface Job {
  id: number;
  password: string;
  hash: string;
  resolve: (ok: boolean) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
}

export function createBcryptPool(options: BcryptPoolOptions = {}): BcryptPool {
  const size = Math.max(1, options.size ?? 1);
  const maxPending = Math.max(1, options.maxPending ?? 64);
  const queue: Job[] = [];
  const slots: Slot[] = [];
  let running = 0;
  let nextId = 0;
  let closed = false;

  function spawn(): Slot {
    const slot: Slot = { worker: new Worker(WORKER_SOURCE, { eval: true, workerData: { bcryptjs: BCRYPTJS_PATH } }), job: undefined };
    // Idle workers must not keep a finished process (a CLI command, a test) alive.
    slot.worker.unref();
    slot.worker.on('message', (msg: { id: number; ok: boolean }) => {
      const job = slot.job;
      if (!job || job.id !== msg.id) return;
      slot.job = undefined;
      running--;
      slot.worker.unref();
      job.resolve(msg.ok === true);
      dispatch();
    });
    const fail = (err: Error) => {
      // A dead worker fails its compare (no credential, not a crash) and is replaced.
      const i = slots.indexOf(slot);
      if (i >= 0) slots.splice(i, 1);
      if (slot.job) {
        running--;
        slot.job.reject(err);
        slot.job = undefined;
      }
      if (!closed) dispatch();
    };
    slot.worker.on('error', fail);
    slot.worker.on('exit', (code) => fail(new Error(`bcrypt worker exited with code ${code}`)));
    slots.push(slot);
    return slot;
  }

  function dispatch(): void {
    while (queue.length > 0 && !closed) {
      let slot = slots.find((s) => s.job === undefined);
      if (!slot && slots.length < size) slot = spawn();
      if (!slot) return;
      const job = queue.shift()!;
      slot.job = job;
      running++;
      slot.worker.ref(); // a compare in progress keeps the process alive until it answers
      slot.worker.postMessage({ id: job.id, password: job.password, hash: job.hash });
    }
  }

  return {
    get pending() {
      return queue.length + running;
    },

    compare(password, hash) {
      if (closed) return Promise.reject(new Error('bcrypt pool is closed'));
      if (queue.length + running >= maxPending) {
        return Promise.reject(new OciError('TOOMANYREQUESTS', {
          message: 'too many password checks in progress; retry shortly',
          headers: { 'Retry-After': '1' },
        }));
      }
      return new Promise<boolean>((resolve, reject) => {
        queue.push({ id: ++nextId, password, hash, resolve, reject });
        dispatch();
      });
    },

    async close() {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new Error('bcrypt pool is closed'));
      await Promise.all(slots.splice(0).map((s) => s.worker.terminate()));
    },
  };
}
