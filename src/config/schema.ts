/**
 * The validated, frozen configuration handed to every part of the mirror.
 * Durations are milliseconds and sizes are bytes here: parsed once, in load.ts.
 */
/**
 * How the mirror authenticates to an upstream (issue 10): on its token service for a
 * Bearer challenge, or on every request for a Basic one (ECR, GAR).
 */
export type UpstreamCredentials =
  /** Static user name and password (or an access token as the password). */
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  /** The password is the content of a file, re-read when the file changes (rotated secrets). */
  | { readonly kind: 'password_file'; readonly username: string; readonly file: string }
  /** A static token sent as `Authorization: Bearer` (or as an identity token to the token service). */
  | { readonly kind: 'token'; readonly token: string }
  /** A docker credential helper: `docker-credential-<helper> get`, the registry host on stdin, JSON on stdout. */
  | { readonly kind: 'helper'; readonly helper: string };

/** TLS to an upstream. */
export interface UpstreamTls {
  /** PEM file of extra CAs trusted for this upstream (besides the system's). */
  readonly caFile?: string;
  /** Accept any certificate (labs only: logged loudly at start). */
  readonly insecureSkipVerify: boolean;
}

/** When an endpoint is skipped after failures (a circuit breaker with half-open probes). */
export interface UpstreamBreaker {
  /** Consecutive failures (connection errors, timeouts, 5xx) that open the breaker. */
  readonly failures: number;
  /** How long an open endpoint is skipped before one probe request may try it again. */
  readonly openMs: number;
}

export interface UpstreamConfig {
  /** The registry host this upstream stands for, e.g. "docker.io" (matches `?ns=`). */
  readonly name: string;
  /** Base URL of the registry API, e.g. https://registry-1.docker.io (the first of `urls`). */
  readonly url: string;
  /**
   * Endpoints tried in order (issue 10), e.g. a nearer mirror first, then the registry:
   * any endpoint is safe, every byte is verified by digest. Absent: [url].
   */
  readonly urls?: readonly string[];
  /** Credentials (issue 10). Absent: username/password below, if any. */
  readonly credentials?: UpstreamCredentials;
  /** TLS options (issue 10). Absent: system CAs, verification on. */
  readonly tls?: UpstreamTls;
  /** Endpoint circuit breaker (issue 10). Absent: the defaults of the breaker module. */
  readonly breaker?: UpstreamBreaker;
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
  /**
   * Cached tags past their TTL are served STALE instead of revalidated while the upstream's
   * rate-limit budget (ratelimit-remaining) is below this (issue 10; 0: always revalidate).
   * Absent: DEFAULT_REVALIDATE_MIN_BUDGET (5).
   */
  readonly revalidateMinBudget?: number;
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
    /** Where blobs live: 'fs' under path (the default), or 's3' (issue 13; the index stays local). */
    readonly driver: 'fs' | 's3';
    /** storage.s3.*, set when driver is 's3'. */
    readonly s3?: {
      /** Empty: AWS itself. */
      readonly endpoint: string;
      readonly region: string;
      readonly bucket: string;
      /** Key prefix for everything the mirror stores ('' = the bucket's root). */
      readonly prefix: string;
      /** Both empty: the AWS SDK's default credential chain. Never logged. */
      readonly accessKey: string;
      readonly secretKey: string;
      readonly forcePathStyle: boolean;
      /** Warm blob GETs (not ranges) answered 307 to a presigned GET URL; clients must reach the endpoint. */
      readonly redirect: boolean;
      /** How long a presigned URL is valid (ms; 1 s to 1 h). */
      readonly redirectTtlMs: number;
    };
    /** Background retention of mirrored blobs (admin/retention.ts); pushed content is never evicted. */
    readonly retention: {
      /** Bytes of blobs (pushed included) the cache may hold; 0 = no size limit. */
      readonly maxSize: number;
      /** A run evicts when the total exceeds maxSize × this (0 < x ≤ 1)… */
      readonly highWatermark: number;
      /** …least recently used first, down to maxSize × this. */
      readonly lowWatermark: number;
      /** Mirrored blobs not pulled for this long (ms) are evicted; 0 = off. */
      readonly maxAgeMs: number;
      /** How often the server checks (also right after start, and when a fill passes the high watermark). */
      readonly intervalMs: number;
    };
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
  /** The default upstream (docker.io): the `upstream:` block, or the `upstreams` entry of its name. */
  readonly upstream: UpstreamConfig;
  /** Every upstream (issue 10), the default one first; names unique, lower-case. */
  readonly upstreams: readonly UpstreamConfig[];
  readonly log: {
    readonly level: 'debug' | 'info' | 'warn' | 'error' | 'silent';
    /** JSON access log line per request. */
    readonly access: boolean;
  };
  readonly metrics: {
    /** nodejs_gc_duration_seconds in /metrics: Node's GC observer, off by default (~10 MiB peak RSS under load). */
    readonly gc: boolean;
  };
  /** Images the server pre-pulls on a schedule (issue 11; `registry-mirror warm` is the same, once). */
  readonly warm: {
    /** Image references ("alpine:3.20", "ghcr.io/owner/app:1"); empty: no schedule. */
    readonly images: readonly string[];
    /** Time between runs (0: no schedule); tags are resolved again each run once past their tag_ttl. */
    readonly everyMs: number;
    /** The first run, this long after the server starts. */
    readonly startDelayMs: number;
    /** Platforms of an index to pull ("os/arch[/variant]"); empty: every entry. */
    readonly platforms: readonly string[];
    /** Images, and blobs, warmed at once. */
    readonly concurrency: number;
  };
  /** Issue 13: the index database. */
  readonly index: {
    /** sqlite: <storage.path>/index.db (one machine); postgres: the server at url, shared by replicas. */
    readonly driver: 'sqlite' | 'postgres';
    /** postgres://user:password@host:5432/db (the password is never logged); empty with sqlite. */
    readonly url: string;
    /** Connections the pool opens at most (postgres). */
    readonly poolSize: number;
  };
  /**
   * Issue 13: several replicas sharing one upstream fetch per blob (proxy/cluster-*.ts).
   * Absent (off) unless cluster.peers is set; then index.driver is postgres and storage.driver s3.
   */
  readonly cluster?: {
    /** How the other replicas reach this one (http(s)://host:port, one of peers). */
    readonly selfUrl: string;
    /** Every replica's URL, this one's included: the only addresses the mirror dials for a peer's fill. */
    readonly peers: readonly string[];
    /** HMAC-SHA256 key of the internal endpoint (≥ 32 characters; never logged). */
    readonly secret: string;
  };
}
