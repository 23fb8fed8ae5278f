import { OciError, isOciError } from '../oci/errors.js';
import type { UpstreamResponse } from '../upstream/client.js';

/**
 * What an upstream's non-2xx answer means for our client. 404 (and 401/403, which
 * Docker Hub answers for repositories that do not exist or are private) is "unknown";
 * 429 is passed on; anything else is the upstream failing (502, its status in detail).
 */
export function upstreamStatusError(
  res: UpstreamResponse,
  unknown: 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN' | 'NAME_UNKNOWN',
  upstream: string,
): OciError {
  const detail = { upstream, status: res.status };
  if (res.status === 404 || res.status === 401 || res.status === 403) return new OciError(unknown, { detail });
  if (res.status === 429) {
    const retryAfter = res.headers['retry-after'];
    return new OciError('TOOMANYREQUESTS', { detail, headers: retryAfter ? { 'Retry-After': retryAfter } : {} });
  }
  return new OciError('UPSTREAM_UNAVAILABLE', { message: `upstream answered ${res.status}`, detail });
}

/**
 * True when a failure says nothing about the content (network, timeout, 5xx, 429),
 * so cached content may be served instead; false for an authoritative "unknown".
 */
export function isTransientUpstreamFailure(err: unknown): boolean {
  if (!isOciError(err)) return true;
  return err.code === 'UPSTREAM_UNAVAILABLE' || err.code === 'UPSTREAM_TIMEOUT' || err.code === 'TOOMANYREQUESTS';
}

/** Reads a small body (a manifest) up to `limit` bytes; beyond that the body is dropped. */
export async function readLimited(body: NodeJS.ReadableStream & { destroy(): void }, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      body.destroy();
      throw new OciError('SIZE_INVALID', { status: 413, message: 'manifest exceeds the size limit', detail: { limit } });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
