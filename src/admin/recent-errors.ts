/** One failed response as the console lists it: labels only, never a path, name or address. */
export interface RecentError {
  at: number;
  /** The method label (request-done.ts METHODS). */
  method: string;
  /** The route label (request-done.ts ROUTES): a fixed template, never the raw path. */
  route: string;
  status: number;
  /** The OCI error code, when the response had one (anything else, such as a free-text message, is dropped). */
  code?: string;
  /** For an upstream failure no response reported (route "upstream", status 0): the upstream's configured name. */
  upstream?: string;
}

/** An error code as the OCI errors and Node name them; free text could carry an address or a secret. */
const CODE = /^[A-Z][A-Z0-9_]{0,39}$/;

/**
 * The last `capacity` responses with status ≥ 500 or 429 (issue 12, the overview's "Recent
 * errors"), fed by request-done.ts's onError hook, and the upstream failures a client may
 * not have seen (core.ts: the namespace's onUpstreamFailure): a fixed-size ring, newest kept.
 */
export class RecentErrors {
  private readonly ring: RecentError[] = [];

  constructor(private readonly now: () => number, private readonly capacity = 50) {}

  /** Notes one failed response; `code` is kept only when it looks like an error code. */
  add(method: string, route: string, status: number, code: string | undefined): void {
    const e: RecentError = { at: this.now(), method, route, status };
    if (code !== undefined && CODE.test(code)) e.code = code;
    this.push(e);
  }

  /** Notes an upstream failure (a stale answer, a failed fill): the upstream's name and what failed. */
  addUpstream(upstream: string, code: string): void {
    this.push({ at: this.now(), method: '-', route: 'upstream', status: 0, upstream, code });
  }

  private push(e: RecentError): void {
    this.ring.push(e);
    if (this.ring.length > this.capacity) this.ring.shift();
  }

  /** Newest first. */
  list(): RecentError[] {
    return this.ring.slice().reverse();
  }
}
