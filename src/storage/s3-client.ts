import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config/schema.js';
import type { Digest } from '../oci/digest.js';

/** Where blobs live in S3: one bucket, under a key prefix ('' or ending in '/'). */
export interface S3Target {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
}

/** storage.s3.* as createS3Client needs it (the config's own type). */
export type S3Settings = NonNullable<Config['storage']['s3']>;

/**
 * Sockets to the store at once, per client (every pool is bounded). Generous: each warm
 * blob streamed to a client holds one for as long as that client reads.
 */
const MAX_SOCKETS = 256;

/**
 * An S3 client for AWS or an S3-compatible store (radosgw, MinIO). Checksums only when
 * an operation requires them: the SDK's default CRC32 trailers are refused by radosgw
 * and other stores, and every blob is verified by its sha256 digest anyway.
 */
export function createS3Client(s: S3Settings): S3Client {
  const agent = { keepAlive: true, maxSockets: MAX_SOCKETS, maxFreeSockets: 16 };
  return new S3Client({
    region: s.region,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    forcePathStyle: s.forcePathStyle,
    ...(s.accessKey || s.secretKey ? { credentials: { accessKeyId: s.accessKey, secretAccessKey: s.secretKey } } : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: {
      connectionTimeout: 5_000,
      requestTimeout: 60_000,
      httpAgent: new HttpAgent(agent),
      httpsAgent: new HttpsAgent(agent),
    },
  });
}

/** The prefix as stored: '' or ending in exactly one '/'. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  return trimmed ? `${trimmed}/` : '';
}

/** `<prefix>blobs/<algorithm>/` — where list() looks. */
export function blobsPrefix(target: S3Target, algorithm = 'sha256'): string {
  return `${target.prefix}blobs/${algorithm}/`;
}

/** `<prefix>blobs/sha256/<hex>`. */
export function blobKey(target: S3Target, digest: Digest): string {
  return `${blobsPrefix(target, digest.algorithm)}${digest.hex}`;
}

/**
 * How long the store may take to answer a request whose reply is small or a stream's head
 * (HEAD, the start of a GET): the SDK's own bounds are per socket and per attempt (a silent
 * store would hold a pull for minutes, three attempts of 60 s), this one is for the call.
 */
export const S3_ANSWER_TIMEOUT_MS = 10_000;

/**
 * Runs an SDK call with an abort signal that fires if it has not answered within `ms`; the
 * timer stops once it has (a GET's body then streams under the socket timeouts). A call cut
 * this way fails with code ETIMEDOUT (503 STORAGE_UNAVAILABLE through s3Error).
 */
export async function answerWithin<T>(run: (abortSignal: AbortSignal) => Promise<T>, ms: number = S3_ANSWER_TIMEOUT_MS): Promise<T> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    return await run(abort.signal);
  } catch (err) {
    if (abort.signal.aborted) throw Object.assign(new Error(`the S3 store did not answer within ${ms} ms`), { code: 'ETIMEDOUT', cause: err });
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
