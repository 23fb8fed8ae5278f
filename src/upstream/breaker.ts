import type { UpstreamBreaker } from '../config/schema.js';

/**
 * A circuit breaker for one upstream endpoint (issue 10). A dead endpoint would otherwise
 * cost every client request a connect timeout; after `failures` consecutive failures
 * (connection errors, timeouts, 5xx, wrong bytes) it is skipped for `openMs` — no
 * connection attempt at all — and then exactly one request (the half-open probe) may try
 * it: success closes the breaker, failure opens it for another `openMs`.
 */

/** Used when an upstream's config has no `breaker`. */
export const DEFAULT_BREAKER: UpstreamBreaker = { failures: 5, openMs: 30_000 };

/** What a caller may do with the endpoint now. */
export type Admission = 'closed' | 'probe' | 'skip';

export type BreakerState = 'closed' | 'open' | 'half-open';

export class Breaker {
  private consecutive = 0;
  private openUntil = 0;
  /** A probe is in flight: everyone else still skips the endpoint. */
  private probing = false;

  constructor(
    private readonly settings: UpstreamBreaker = DEFAULT_BREAKER,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Asks to send one request. 'probe' is handed to exactly one caller once the open
   * period has passed; that caller must report success() or failure().
   */
  admit(): Admission {
    if (this.openUntil === 0) return 'closed';
    if (this.probing || this.now() < this.openUntil) return 'skip';
    this.probing = true;
    return 'probe';
  }

  /** The endpoint answered (any status below 500). */
  success(): void {
    this.consecutive = 0;
    this.openUntil = 0;
    this.probing = false;
  }

  /** The endpoint failed; opens the breaker at the threshold, or at once after a failed probe. */
  failure(): void {
    this.consecutive++;
    if (this.probing || this.consecutive >= Math.max(1, this.settings.failures)) this.open();
  }

  /** Opens at once, whatever the count: the endpoint sent bytes that are not what it claimed. */
  trip(): void {
    this.consecutive = Math.max(this.consecutive, this.settings.failures);
    this.open();
  }

  /** For stats: 'open' while skipped, 'half-open' once a probe may go (or is in flight). */
  get state(): BreakerState {
    if (this.openUntil === 0) return 'closed';
    return this.probing || this.now() >= this.openUntil ? 'half-open' : 'open';
  }

  /** Epoch ms until which the endpoint is skipped (0: closed). */
  get until(): number {
    return this.openUntil;
  }

  private open(): void {
    this.probing = false;
    this.openUntil = this.now() + this.settings.openMs;
  }
}
