import { randomBytes } from 'node:crypto';
import { warmImages, type WarmSummary } from '../admin/warm.js';
import type { Logger } from '../log/logger.js';
import type { ImageRef } from '../oci/image-ref.js';
import type { RepositoryResolver } from '../routing/resolve-repository.js';

/** One warm-up started from the console, as its progress page shows it. */
export interface WarmRun {
  id: string;
  images: string[];
  platforms: string[];
  user: string | undefined;
  startedAt: number;
  finishedAt?: number;
  done: number;
  failed: number;
  bytesFetched: number;
  /** Per image, in completion order. */
  results: Array<{ image: string; ok: boolean; bytesFetched: number; error?: string }>;
  summary?: WarmSummary;
  /** Set when the run itself failed (not one image). */
  error?: string;
}

export interface WarmRuns {
  /** Starts a run in the background; undefined when one is running already (at most one at a time). */
  start(images: readonly ImageRef[], platforms: string[], user: string | undefined): WarmRun | undefined;
  get(id: string): WarmRun | undefined;
  /** The run in progress, if any. */
  readonly current: WarmRun | undefined;
  /** The runs remembered, newest first. */
  recent(): WarmRun[];
}

/** Finished runs remembered for their pages: a bound on memory whatever admins start. */
const KEPT_RUNS = 10;

/**
 * The console's warm-ups: warmImages (admin/warm.ts, the pull path of the server's own
 * warm schedule) run in the background one at a time, with their progress kept in memory
 * for the progress page. A run ends by itself, or when the app stops (deps.signal); its
 * fills are the core's to finish.
 */
export function createWarmRuns(deps: { resolver: RepositoryResolver; concurrency: number; log: Logger; now: () => number; signal: AbortSignal }): WarmRuns {
  const runs = new Map<string, WarmRun>();
  let current: WarmRun | undefined;

  const remember = (run: WarmRun) => {
    runs.set(run.id, run);
    for (const id of runs.keys()) {
      if (runs.size <= KEPT_RUNS) break;
      if (runs.get(id) !== current) runs.delete(id);
    }
  };

  return {
    start(images, platforms, user) {
      if (current) return undefined;
      const run: WarmRun = {
        id: randomBytes(8).toString('hex'), images: images.map((i) => i.text), platforms, user,
        startedAt: deps.now(), done: 0, failed: 0, bytesFetched: 0, results: [],
      };
      current = run;
      remember(run);
      deps.log.info('console: warm-up started', { user, images: run.images.length, id: run.id });
      void warmImages(deps.resolver, images, {
        platforms, concurrency: deps.concurrency, signal: deps.signal,
        onImage: (r) => {
          if (r.ok) run.done++;
          else run.failed++;
          run.bytesFetched += r.bytesFetched;
          run.results.push({ image: r.image, ok: r.ok, bytesFetched: r.bytesFetched, ...(r.error ? { error: r.error } : {}) });
        },
      }).then(
        (summary) => {
          run.summary = summary;
          deps.log.info('console: warm-up done', { id: run.id, images: summary.images, failed: summary.failed, bytesFetched: summary.bytesFetched });
        },
        (err) => {
          run.error = (err as Error)?.message ?? String(err);
          deps.log.error('console: warm-up failed', { id: run.id, error: err });
        },
      ).finally(() => {
        run.finishedAt = deps.now();
        current = undefined;
      });
      return run;
    },
    get: (id) => runs.get(id),
    get current() { return current; },
    recent: () => [...runs.values()].reverse(),
  };
}
