/**
 * The code of a fill worker thread (fill-worker-pool.ts), run with `eval` so that the same
 * module works from dist/ (compiled) and under vitest (TypeScript sources): plain
 * JavaScript, no second file to ship or resolve — the trick src/auth/bcrypt-pool.ts uses.
 *
 * A worker serves any number of fills, each under an id. The main thread writes a fill's
 * bytes to its temp file and posts `hash` with how far the file is written; the worker
 * reads those bytes back (pread on the fd the main thread opened: from the page cache, on
 * this thread) and hashes them, so the digest is over the bytes really in the file and the
 * main thread neither hashes nor copies. Every `syncEvery` bytes it starts an fdatasync in
 * the background, so that the fsync at `finish` has little left to do. `finish` hashes up
 * to `end`, fsyncs, answers the SHA-256 hex and forgets the fill; `drop` forgets it once no
 * sync uses the fd (the main thread closes the fd only after that answer, so a reused fd
 * number is never read or synced).
 *
 * `workerData.hold` (tests only): while its first Int32 is 1 nothing is hashed — a stalled worker.
 *
 * Messages in:  {t:'open', id, fd, syncEvery} {t:'hash', id, end} {t:'finish', id, end} {t:'drop', id}
 * Messages out: {t:'finished', id, hex, pos} {t:'dropped', id} {t:'error', id, error}
 */
export const FILL_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const fills = new Map();
const hold = workerData && workerData.hold ? new Int32Array(workerData.hold) : undefined;
// One read buffer for every fill: a worker hashes one fill at a time.
const buf = Buffer.allocUnsafeSlow(1024 * 1024);

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
/** Hashes the file from st.pos up to end; false on failure (reported). */
function hashTo(id, st, end) {
  while (hold && Atomics.load(hold, 0) === 1) Atomics.wait(hold, 0, 1, 20);
  if (st.error) return false;
  try {
    while (st.pos < end) {
      const n = fs.readSync(st.fd, buf, 0, Math.min(buf.length, end - st.pos), st.pos);
      if (n === 0) throw Object.assign(new Error('blob file shorter than written'), { code: 'EIO' });
      st.hash.update(buf.subarray(0, n));
      st.pos += n;
    }
  } catch (err) {
    fail(id, st, err);
    return false;
  }
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
  return true;
}

parentPort.on('message', (m) => {
  const st = fills.get(m.id);
  if (m.t === 'open') {
    fills.set(m.id, {
      fd: m.fd, pos: 0, synced: 0, syncEvery: m.syncEvery, hash: createHash('sha256'), syncing: false, onSynced: [], error: undefined,
    });
  } else if (m.t === 'hash') {
    if (st) hashTo(m.id, st, m.end);
  } else if (m.t === 'finish') {
    if (!st) return parentPort.postMessage({ t: 'error', id: m.id, error: { message: 'unknown fill' } });
    if (!hashTo(m.id, st, m.end)) return;
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
