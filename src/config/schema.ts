/**
 * The validated, frozen configuration handed to every part of the mirror.
 * Durations are milliseconds and sizes are bytes here: parsed once, in load.ts.
 */
export interface UpstreamConfig {
  /** The registry host this upstream stands for, e.g. "docker.io" (matches `?ns=`). */
  readonly name: string;
  /** Base URL of the registry API, e.g. https://registry-1.docker.io */
  readonly url: string;
  /** Optional credentials for the upstream's token service (Basic on the token request). */
  readonly username?: string;
  readonly password?: string;
  /** Time to wait for a connection. */
  readonly connectTimeoutMs: number;
  /** Time to wait for response headers, and the longest pause between body chunks. */
  readonly timeoutMs: number;
  /** Upstream requests in flight at once (p-queue slots; client requests before prefetches). */
  readonly concurrency: number;
  /** How long a cached tag is served without asking the upstream again. */
  readonly tagTtlMs: number;
  /** Single-name repositories ("alpine") live under this prefix upstream ("library/"). */
  readonly officialPrefix: string;
  /**
   * Hosts (lower-case, no port) that redirects and token realms may name even at a
   * loopback/private/link-local address; the upstream's own host always may.
   */
  readonly redirectAllow: readonly string[];
  /** A blob fill must end within this long of the upstream's answer (0: no deadline). */
  readonly fillDeadlineMs: number;
  /** A blob fill slower than this many bytes per second over a window is aborted (0: off). */
  readonly minThroughput: number;
  /** The window min_throughput is averaged over; the first one after the answer is grace. */
  readonly throughputWindowMs: number;
  /** Eager prefetch: prefetches (blob fills, platform manifests) per upstream at most at once (0: off). */
  readonly prefetch: number;
  /** Platforms ("linux/amd64", "linux/arm64/v8") whose manifests an index fetched for a client prefetches, besides those learned from clients. */
  readonly prefetchPlatforms: readonly string[];
  /** Prefetch is skipped while the upstream's rate-limit budget (ratelimit-remaining) is below this (0: never skipped). */
  readonly prefetchMinBudget: number;
}

/** Who may do what in repositories matching a pattern. Principals: user names, "*" (any authenticated user), "anonymous" (anyone). */
export interface AccessRule {
  readonly repository: string;
  readonly pull: readonly string[];
  readonly push: readonly string[];
  readonly delete: readonly string[];
}

export interface Config {
  readonly http: {
    readonly host: string;
    readonly port: number;
    readonly tls?: { readonly certificate: string; readonly key: string };
    /**
     * Reverse proxies (IPs, CIDRs) whose X-Forwarded-Host/-Proto/-For are believed: they
     * shape the token realm and name the client address for the password-failure limit.
     */
    readonly trustedProxies: readonly string[];
  };
  readonly storage: {
    readonly path: string;
    /** Largest manifest accepted from an upstream or a push (413 above). */
    readonly maxManifestBytes: number;
    /** An upload untouched this long is abandoned: its temp file is removed. */
    readonly uploadExpiryMs: number;
    /** Open uploads at once, all users together (429 beyond). */
    readonly maxUploads: number;
    /** Open uploads at once per user (429 beyond). */
    readonly maxUploadsPerUser: number;
    /** /readyz fails below this much free space: bytes, or a percent of the file system (one is 0). */
    readonly minFree: { readonly bytes: number; readonly percent: number };
    /** Worker threads that hash (SHA-256) and fsync cache fills off the event loop; 0 = on the main thread. */
    readonly fillWorkers: number;
  };
  /** Local namespaces: plain registries that take pushes, never fetched from an upstream. */
  readonly local: {
    readonly namespaces: readonly string[];
    /** Allow local namespaces that would hide mirrored names (e.g. "library/*"). */
    readonly allowShadowing: boolean;
  };
  readonly auth: {
    /** htpasswd file with bcrypt hashes (htpasswd -B); empty: no users, so no pushes. */
    readonly htpasswd: string;
    /** Token realm URL announced in challenges; empty: derived from each request's host. */
    readonly realm: string;
    readonly tokenTtlMs: number;
    /** HMAC key for tokens; empty: a random key kept in <storage>/token-secret. */
    readonly tokenSecret: string;
    /** Who may pull mirrored content. */
    readonly mirrorPull: 'anonymous' | 'authenticated';
    readonly rules: readonly AccessRule[];
    /** Users who may call /admin/* (and /metrics). With none, only loopback callers may. */
    readonly admins: readonly string[];
    /** /metrics open to anyone (e.g. a Prometheus without credentials); default: admins only. */
    readonly metricsAnonymous: boolean;
    /** Wrong passwords per client address per window before 429. */
    readonly maxFailures: number;
    /** Wrong passwords per user name (from any address) per window before 429. */
    readonly maxUserFailures: number;
    readonly failureWindowMs: number;
  };
  readonly upstream: UpstreamConfig;
  readonly log: {
    readonly level: 'debug' | 'info' | 'warn' | 'error' | 'silent';
    /** JSON access log line per request. */
    readonly access: boolean;
  };
}
