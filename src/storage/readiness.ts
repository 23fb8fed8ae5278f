import { statfs, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FILE_MODE } from './fs-ops.js';

/** What /readyz answers: ready, or the reason the data dir cannot take writes. */
export interface Readiness {
  ready: boolean;
  /** Why not ready: "storage not writable (EACCES)", "storage nearly full (...)". */
  reason?: string;
  freeBytes?: number;
}

export interface ReadinessOptions {
  /** The data dir; the probe file is written in <root>/tmp. */
  root: string;
  /** Free space to keep: bytes, or a percent of the file system (one of them 0). */
  minFree: { bytes: number; percent: number };
  /** How long an answer is reused: a load balancer polling often costs one probe per interval. */
  cacheMs?: number;
  /**
   * Issue 13: the shared engines (core.engineReady): undefined when they answer, else the
   * reason. Checked with the data dir, under the same cache, so a load balancer's probes
   * cost the database and the bucket one trivial request per interval.
   */
  engines?: () => Promise<string | undefined>;
  /** How long the engines may take to answer before they count as unavailable (default 3 s). */
  enginesTimeoutMs?: number;
  now?: () => number;
}

/**
 * Readiness of the data dir for /readyz: writable (a probe file is created and removed in
 * tmp/, where only this process's own files are touched) and with more free space than
 * storage.min_free. Cached for a few seconds, and concurrent checks share one probe.
 */
export function createReadinessCheck(options: ReadinessOptions): () => Promise<Readiness> {
  const cacheMs = options.cacheMs ?? 5000;
  const now = options.now ?? Date.now;
  const probePath = join(options.root, 'tmp', `readyz-probe-${process.pid}`);
  let last: { at: number; result: Promise<Readiness> } | undefined;

  const probe = async (): Promise<Readiness> => {
    const local = await probeDataDir();
    if (!local.ready || !options.engines) return local;
    // A silent engine (no refusal, no answer: the SDK and pg would wait minutes) is not ready
    // now: a load balancer must learn it within its probe's own timeout.
    const limitMs = options.enginesTimeoutMs ?? 3000;
    let timer: NodeJS.Timeout | undefined;
    const silent = new Promise<string>((resolve) => { timer = setTimeout(() => resolve(`storage engines did not answer within ${limitMs} ms`), limitMs); });
    const reason = await Promise.race([options.engines().catch(() => 'storage engines unavailable'), silent]).finally(() => clearTimeout(timer));
    return reason === undefined ? local : { ready: false, reason, freeBytes: local.freeBytes };
  };

  const probeDataDir = async (): Promise<Readiness> => {
    try {
      await writeFile(probePath, 'ok', { mode: FILE_MODE });
      await unlink(probePath);
    } catch (err) {
      return { ready: false, reason: `storage not writable (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
    }
    let free: number;
    let total: number;
    try {
      const s = await statfs(options.root);
      free = s.bavail * s.bsize;
      total = s.blocks * s.bsize;
    } catch (err) {
      return { ready: false, reason: `storage not readable (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
    }
    const { bytes, percent } = options.minFree;
    const needed = Math.max(bytes, (total * percent) / 100);
    if (free < needed) {
      return { ready: false, reason: `storage nearly full (${free} bytes free, storage.min_free needs ${Math.ceil(needed)})`, freeBytes: free };
    }
    return { ready: true, freeBytes: free };
  };

  return () => {
    const t = now();
    if (!last || t - last.at >= cacheMs) last = { at: t, result: probe() };
    return last.result;
  };
}
