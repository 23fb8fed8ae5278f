/**
 * The code of a fill worker thread (fill-worker-pool.ts), run with `eval` so that the same
 * module works from dist/ (compiled) and under vitest (TypeScript sources): plain
 * JavaScript, no second file to ship or resolve — the trick src/auth/bcrypt-pool.ts uses.
 *
 * A worker serves any number of fills, each under an id. The main thread copies a fill's
 * bytes into that fill's ring (a SharedArrayBuffer; ring offset = file position modulo its
 * size) and posts `data` with how far the ring is filled; the worker hashes and writes
 * (pwrite on the fd the main thread opened, so injected faults such as /dev/full apply)
 * and answers `written` with the file position reached, which frees that part of the ring.
 * Every `syncEvery` bytes it starts an fdatasync in the background, so that the fsync at
 * `finish` has little left to do. `finish` answers the SHA-256 hex after a full fsync and
 * forgets the fill; `drop` forgets it once no sync uses the fd (the main thread closes
 * the fd only after that answer, so a reused fd number is never written to).
 *
 * `workerData.hold` (tests only): while its first Int32 is 1 nothing is written — a stalled disk.
 *
 * Messages in:  {t:'open', id, fd, ring, syncEvery} {t:'data', id, end} {t:'finish', id} {t:'drop', id}
 * Messages out: {t:'written', id, pos} {t:'finished', id, hex, pos} {t:'dropped', id} {t:'error', id, error}
 */
export const FILL_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const fills = new Map();
const hold = workerData && workerData.hold ? new Int32Array(workerData.hold) : undefined;

function plain(err) {
  return { code: err && err.code, errno: err && err.errno, syscall: err && err.syscall, message: String((err && err.message) || err) };
}
function fail(id, st, err) {
  if (st.error) return;
  st.error = plain(err);
  parentPort.postMessage({ t: 'error', id, error: st.error });
}
function whenSynced(st, fn) {
  if (st.syncing) st.onSynced.push(fn); else fn();
}
function write(id, st, end) {
  while (hold && Atomics.load(hold, 0) === 1) Atomics.wait(hold, 0, 1, 20);
  try {
    while (st.pos < end) {
      const at = st.pos % st.size;
      const n = Math.min(end - st.pos, st.size - at);
      const view = st.ring.subarray(at, at + n);
      st.hash.update(view);
      let off = 0;
      while (off < n) off += fs.writeSync(st.fd, view, off, n - off, st.pos + off);
      st.pos += n;
    }
  } catch (err) {
    fail(id, st, err);
    return;
  }
  parentPort.postMessage({ t: 'written', id, pos: st.pos });
  if (st.syncEvery > 0 && !st.syncing && st.pos - st.synced >= st.syncEvery) {
    const at = st.pos;
    st.syncing = true;
    fs.fdatasync(st.fd, (err) => {
      st.syncing = false;
      st.synced = at;
      if (err) fail(id, st, err);
      for (const fn of st.onSynced.splice(0)) fn();
    });
  }
}

parentPort.on('message', (m) => {
  const st = fills.get(m.id);
  if (m.t === 'open') {
    fills.set(m.id, {
      fd: m.fd, ring: Buffer.from(m.ring), size: m.ring.byteLength, pos: 0, synced: 0, syncEvery: m.syncEvery,
      hash: createHash('sha256'), syncing: false, onSynced: [], error: undefined,
    });
  } else if (m.t === 'data') {
    if (st && !st.error) write(m.id, st, m.end);
  } else if (m.t === 'finish') {
    if (!st) return parentPort.postMessage({ t: 'error', id: m.id, error: { message: 'unknown fill' } });
    whenSynced(st, () => {
      fills.delete(m.id);
      if (st.error) return parentPort.postMessage({ t: 'error', id: m.id, error: st.error });
      try {
        fs.fsyncSync(st.fd);
      } catch (err) {
        return parentPort.postMessage({ t: 'error', id: m.id, error: plain(err) });
      }
      parentPort.postMessage({ t: 'finished', id: m.id, hex: st.hash.digest('hex'), pos: st.pos });
    });
  } else if (m.t === 'drop') {
    if (!st) return parentPort.postMessage({ t: 'dropped', id: m.id });
    whenSynced(st, () => {
      fills.delete(m.id);
      parentPort.postMessage({ t: 'dropped', id: m.id });
    });
  }
});
`;
