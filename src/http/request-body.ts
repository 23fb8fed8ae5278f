import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { OciError } from '../oci/errors.js';
import type { AppEnv } from './app-env.js';

/**
 * The request body as a Node stream: the IncomingMessage itself when served by Node
 * (no web-stream conversion on upload paths), else the web body (app.request() in tests).
 */
export function requestBody(c: Context<AppEnv>): Readable {
  const incoming = c.env?.incoming;
  if (incoming) return incoming as unknown as Readable;
  const body = c.req.raw.body;
  return body ? Readable.fromWeb(body as import('node:stream/web').ReadableStream) : Readable.from([]);
}

/** Whether the request announces a body (Content-Length > 0 or chunked). */
export function hasBody(c: Context<AppEnv>): boolean {
  const length = c.req.header('content-length');
  if (length !== undefined) return Number(length) > 0;
  return c.req.header('transfer-encoding') !== undefined;
}

/** Reads a small body (a manifest), refusing it with 413 beyond `limit` bytes. */
export async function readSmallBody(c: Context<AppEnv>, limit: number): Promise<Buffer> {
  const tooLarge = () => new OciError('SIZE_INVALID', { status: 413, message: `manifest exceeds the ${limit}-byte limit`, detail: { limit } });
  const length = Number(c.req.header('content-length') ?? NaN);
  if (length > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of requestBody(c) as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
