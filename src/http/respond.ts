import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { CacheStatus } from '../admin/metrics.js';
import { OciError } from '../oci/errors.js';
import { servedMediaType } from '../oci/manifest.js';
import type { BlobSource } from '../repository/repository.js';
import type { OpenBlobs } from '../storage/open-blobs.js';
import type { AppEnv } from './app-env.js';
import { resolveRange } from './range.js';
import { openForSend, sendFileRange } from './send-file.js';

/**
 * The one place that writes registry responses: the headers every client relies on
 * (Docker-Content-Digest, Content-Length, Content-Type, the API version), the cache
 * status, and blob bodies streamed straight to the socket.
 */
export const API_VERSION = { 'Docker-Distribution-API-Version': 'registry/2.0' } as const;

const STALE_WARNING = '299 - "served from cache: the upstream registry is unavailable"';

export interface ManifestBody {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  cache?: CacheStatus;
}

/** Headers of cached-manifest answers, prepared once per manifest Buffer (the memory cache hands out the same one). */
const preparedHits = new WeakMap<Buffer, Record<string, string>>();

/**
 * The headers of a manifest answer, for both writers: the web Response of the router and
 * the Node response of the memo step (v2-entry.ts). A HIT's are prepared once and shared:
 * callers never modify them.
 */
export function manifestHeaders(m: ManifestBody): Record<string, string> {
  if (m.cache === 'HIT') {
    const ready = preparedHits.get(m.bytes);
    if (ready) return ready;
  }
  const headers: Record<string, string> = {
    ...API_VERSION,
    // The one media-type rule (oci/manifest.ts), applied again where the header is written:
    // no stored value can make Node refuse the header (CR/LF) or a browser render the body.
    'Content-Type': servedMediaType(m.mediaType),
    'Content-Length': String(m.bytes.length),
    'Docker-Content-Digest': m.digest,
    ETag: `"${m.digest}"`,
  };
  if (m.cache) headers['X-Cache'] = m.cache;
  if (m.cache === 'STALE') headers.Warning = STALE_WARNING;
  if (m.cache === 'HIT') preparedHits.set(m.bytes, headers);
  return headers;
}

export function manifestResponse(c: Context<AppEnv>, m: ManifestBody): Response {
  if (m.cache) c.set('cache', m.cache);
  return new Response(c.req.method === 'HEAD' ? null : (m.bytes as Uint8Array<ArrayBuffer>), { status: 200, headers: manifestHeaders(m) });
}

export function blobHeadResponse(c: Context<AppEnv>, digest: string, size: number | undefined, cache?: CacheStatus): Response {
  const headers: Record<string, string> = {
    ...API_VERSION,
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    'Accept-Ranges': 'bytes',
  };
  if (size !== undefined) headers['Content-Length'] = String(size);
  if (cache) {
    headers['X-Cache'] = cache;
    c.set('cache', cache);
  }
  return new Response(null, { status: 200, headers });
}

/**
 * Sends a blob (or the requested range of it). The body goes straight to Node's
 * ServerResponse: no web-stream conversion on the hot path. If the source fails after
 * the headers went out, the connection is destroyed so the client sees a cut transfer.
 */
export async function sendBlob(
  c: Context<AppEnv>, src: BlobSource, onBytes: (n: number) => void, reads?: OpenBlobs,
): Promise<Response> {
  const range = src.size === undefined ? undefined : resolveRange(c.req.header('range'), src.size);
  const headers: Record<string, string> = {
    ...API_VERSION,
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': src.digest,
    'Accept-Ranges': 'bytes',
  };
  if (src.cache) {
    headers['X-Cache'] = src.cache;
    c.set('cache', src.cache);
  }
  if (range) {
    headers['Content-Range'] = `bytes ${range.start}-${range.end}/${src.size}`;
    headers['Content-Length'] = String(range.end - range.start + 1);
  } else if (src.size !== undefined) {
    headers['Content-Length'] = String(src.size);
  }
  const status = range ? 206 : 200;
  const outgoing = c.env?.outgoing as ServerResponse | undefined;
  if (outgoing && src.localPath && src.size !== undefined) {
    // A complete file on local disk: two reused buffers, no stream (see send-file.ts).
    const [start, end] = range ? [range.start, range.end] : [0, src.size - 1];
    // Opened before any header goes out: a file pruned since the lookup is a plain 404.
    const fd = await openForSend(src.localPath).catch(() => {
      throw new OciError('BLOB_UNKNOWN', { detail: { digest: src.digest } });
    });
    // Held from the open to the last byte: retention skips a blob being sent (open-blobs.ts).
    reads?.hold(src.digest);
    outgoing.writeHead(status, headers);
    sendFileRange(fd, start, end, outgoing, onBytes).then(
      () => { reads?.release(src.digest); outgoing.end(); },
      (err: Error) => {
        reads?.release(src.digest);
        c.set('error', err);
        outgoing.destroy(err);
      },
    );
    return RESPONSE_ALREADY_SENT;
  }
  const body = await src.open(range);
  if (!outgoing) {
    // app.request() in unit tests has no Node response: fall back to a web stream.
    return new Response(Readable.toWeb(body) as ReadableStream, { status, headers });
  }
  if (reads) {
    reads.hold(src.digest);
    body.once('close', () => reads.release(src.digest));
  }
  outgoing.writeHead(status, headers);
  body.on('data', (chunk: Buffer) => {
    onBytes(chunk.length);
    if (!outgoing.write(chunk)) body.pause();
  });
  outgoing.on('drain', () => body.resume());
  body.once('end', () => outgoing.end());
  body.once('error', (err) => {
    c.set('error', err);
    outgoing.destroy(err);
  });
  // A client that leaves stops its reader only; a fill goes on for the others.
  outgoing.once('close', () => {
    if (!body.readableEnded) body.destroy();
  });
  return RESPONSE_ALREADY_SENT;
}
