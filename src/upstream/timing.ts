/**
 * How an upstream client reports its latency (mirror_upstream_request_duration_seconds):
 * the time from sending a request (in its concurrency slot) to the response headers.
 */

/** What an upstream request is for, as its latency is labelled (`kind`). */
export type UpstreamRequestKind = 'manifest_get' | 'manifest_head' | 'blob_get' | 'blob_head' | 'tags' | 'token';

/** Where a client reports how long a request took to its response headers, in seconds. */
export type UpstreamTiming = (kind: UpstreamRequestKind, seconds: number) => void;
