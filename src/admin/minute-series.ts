/** Length of one step of the last hour's series. */
export const MINUTE_MS = 60_000;

/** One minute of counters: what was counted during the minute starting at `minute` (epoch ms). */
export interface MinuteSample {
  minute: number;
  counters: Record<string, number>;
}

/**
 * The last hour at one-minute steps, for the console's hour chart (issue 12): the hourly
 * buckets of stats_hourly are too coarse for it. Every minute a timer reads the in-memory
 * counters (stats-recorder.ts counterValues) and keeps the difference to the previous
 * reading, in a ring of `capacity` entries — so requests pay nothing for it, and it covers
 * this process only (a restart starts it empty; the day and week charts are persisted).
 */
export class MinuteSeries {
  private readonly ring: MinuteSample[] = [];
  private previous: Record<string, number>;
  private started: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly read: () => Record<string, number>,
    private readonly now: () => number,
    private readonly capacity = 60,
  ) {
    this.previous = { ...read() };
    this.started = now();
  }

  /** Closes the current step: what was counted since the previous sample becomes one entry (the oldest falls out). */
  sample(): void {
    const values = this.read();
    const counters: Record<string, number> = {};
    for (const [name, v] of Object.entries(values)) {
      const d = v - (this.previous[name] ?? 0);
      if (d !== 0) counters[name] = d;
    }
    this.previous = { ...values };
    this.ring.push({ minute: this.started, counters });
    if (this.ring.length > this.capacity) this.ring.shift();
    this.started = this.now();
  }

  /** The closed minutes, oldest first, and the one in progress (counted so far) last. */
  entries(): MinuteSample[] {
    const open: Record<string, number> = {};
    for (const [name, v] of Object.entries(this.read())) {
      const d = v - (this.previous[name] ?? 0);
      if (d !== 0) open[name] = d;
    }
    return [...this.ring, { minute: this.started, counters: open }];
  }

  /** Samples every `intervalMs` until stop(); the timer does not keep the process alive. */
  start(intervalMs = MINUTE_MS): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
