import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { parseImageRef } from '../oci/image-ref.js';
import type { RepositoryResolver } from '../routing/resolve-repository.js';
import { warmImages, type WarmSummary } from './warm.js';

export interface WarmSchedule {
  /** Runs finished so far. */
  readonly runs: number;
  /** The last run's summary, once there is one. */
  readonly last: WarmSummary | undefined;
  /** No run starts any more; a run in progress stops reading (its fills go on until the core closes). */
  stop(): Promise<void>;
}

/**
 * The server's warm-up (config `warm:`): the images pre-pulled `start_delay` after start,
 * then again `every` after each run ends (runs never overlap), through the same path as a
 * client's pull (admin/warm.ts). The timers are unref'd: they never keep the process up.
 * Undefined when there is nothing to schedule (no images, or every: 0).
 */
export function startWarmSchedule(resolver: RepositoryResolver, warm: Config['warm'], log: Logger): WarmSchedule | undefined {
  if (warm.images.length === 0 || warm.everyMs <= 0) return undefined;
  // Parsed at config load already; tags are looked up again at each run by the pull path.
  const images = warm.images.map(parseImageRef);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const abort = new AbortController();
  const state = { runs: 0, last: undefined as WarmSummary | undefined };

  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = run().finally(() => {
        running = undefined;
        schedule(warm.everyMs);
      });
    }, ms);
    timer.unref();
  };
  const run = async () => {
    const started = Date.now();
    try {
      const summary = await warmImages(resolver, images, {
        platforms: warm.platforms, concurrency: warm.concurrency, signal: abort.signal,
        onImage: (r) => {
          if (!r.ok && !abort.signal.aborted) log.warn('warm-up: image failed', { image: r.image, error: r.error });
        },
      });
      state.runs++;
      state.last = summary;
      const { failures: _failures, ...counts } = summary;
      log.info('warm-up run done', { ...counts, ms: Date.now() - started });
    } catch (err) {
      log.error('warm-up run failed', { error: err });
    }
  };
  schedule(warm.startDelayMs);

  return {
    get runs() { return state.runs; },
    get last() { return state.last; },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      abort.abort();
      await running;
    },
  };
}
