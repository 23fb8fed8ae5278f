import type { Context } from 'hono';
import { OciError } from '../oci/errors.js';
import { parseDigest } from '../oci/digest.js';
import type { Repository, UploadState } from '../repository/repository.js';
import type { OpenBlobs } from '../storage/open-blobs.js';
import type { AppEnv } from './app-env.js';
import { hasBody, requestBody } from './request-body.js';
import { API_VERSION } from './respond.js';

/**
 * Blob uploads into a local repository (end-4a, 4b, 5, 6, 11, 13 and cancel):
 *   POST   /v2/<name>/blobs/uploads/[?digest=|?mount=&from=]
 *   GET    PATCH    PUT ?digest=    DELETE    /v2/<name>/blobs/uploads/<id>
 */
export function createUploadHandlers(deps: {
  /** May the caller pull from `from` (a cross-repository mount source)? */
  mayMountFrom: (c: Context<AppEnv>, from: string) => Promise<boolean>;
  /**
   * Issue 13: with cluster pins, an upload's commit pins its digest, so that a gc on any
   * replica never deletes the object this commit found already stored (and is about to
   * record) between the two: the gc skips it or has finished, and the commit writes it anew.
   */
  openBlobs?: OpenBlobs;
}) {
  const finishPinned = async <T,>(digest: string, finish: () => Promise<T>): Promise<T> => {
    const pins = deps.openBlobs;
    if (!pins?.clustered) return finish();
    await pins.pin(digest);
    try {
      return await finish();
    } finally {
      pins.release(digest);
    }
  };

  const uploadHeaders = (name: string, s: UploadState): Record<string, string> => ({
    ...API_VERSION,
    Location: `/v2/${name}/blobs/uploads/${s.id}`,
    // Inclusive end of what we hold; Distribution writes 0-0 for an empty upload.
    Range: `0-${Math.max(0, s.offset - 1)}`,
    'Docker-Upload-UUID': s.id,
    'Content-Length': '0',
  });

  const created = (name: string, digest: string) => new Response(null, {
    status: 201,
    headers: { ...API_VERSION, Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest, 'Content-Length': '0' },
  });

  return {
    async start(c: Context<AppEnv>, repo: Repository): Promise<Response> {
      const uploads = repo.uploads;
      const mount = c.req.query('mount');
      if (mount) {
        const digest = parseDigest(mount);
        // Without `from`, any local repository holding the blob that the caller may pull
        // (automatic cross-mount, distribution-spec end-11); never a mirrored one.
        const from = c.req.query('from');
        for (const source of from ? [from] : await uploads.mountSources(digest)) {
          if (await deps.mayMountFrom(c, source) && await uploads.mount(source, digest)) return created(repo.name, digest.value);
        }
      }
      const digestText = c.req.query('digest');
      const session = await uploads.start(c.get('user'));
      if (digestText !== undefined) {
        const expected = parseDigest(digestText);
        const { digest } = await finishPinned(expected.value, () => uploads.finish(session.id, expected, requestBody(c)));
        return created(repo.name, digest);
      }
      return new Response(null, { status: 202, headers: uploadHeaders(repo.name, session) });
    },

    async handle(c: Context<AppEnv>, repo: Repository, id: string): Promise<Response> {
      const name = repo.name;
      const uploads = repo.uploads;
      switch (c.req.method) {
        case 'GET':
        case 'HEAD':
          return new Response(null, { status: 204, headers: uploadHeaders(name, await uploads.status(id)) });
        case 'PATCH': {
          const range = parseContentRange(c.req.header('content-range'));
          const length = chunkLength(range, c.req.header('content-length'));
          const state = await uploads.append(id, requestBody(c), range?.start, length);
          return new Response(null, { status: 202, headers: uploadHeaders(name, state) });
        }
        case 'PUT': {
          const digestText = c.req.query('digest');
          if (!digestText) throw new OciError('DIGEST_INVALID', { message: 'digest query parameter is required' });
          const digest = parseDigest(digestText);
          const result = await finishPinned(digest.value, () => uploads.finish(id, digest, hasBody(c) ? requestBody(c) : undefined));
          return created(name, result.digest);
        }
        case 'DELETE':
          await uploads.cancel(id);
          return new Response(null, { status: 204, headers: { ...API_VERSION, 'Content-Length': '0' } });
        default:
          throw new OciError('UNSUPPORTED', { detail: { method: c.req.method } });
      }
    },
  };
}

/**
 * The chunk length the client announced: Content-Range and Content-Length must agree,
 * checked before a byte is read so that a refused PATCH leaves the upload as it was.
 */
function chunkLength(range: { start: number; end: number } | undefined, contentLength: string | undefined): number | undefined {
  const fromRange = range && range.end - range.start + 1;
  if (contentLength === undefined) return fromRange;
  if (!/^\d+$/.test(contentLength)) throw new OciError('SIZE_INVALID', { message: 'invalid Content-Length', detail: { contentLength } });
  const declared = Number(contentLength);
  if (fromRange !== undefined && fromRange !== declared) {
    throw new OciError('SIZE_INVALID', { message: 'Content-Range and Content-Length disagree', detail: { contentRange: fromRange, contentLength: declared } });
  }
  return declared;
}

/** `Content-Range: <start>-<end>` (inclusive; a `bytes ` prefix and `/total` are tolerated). */
function parseContentRange(header: string | undefined): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m || Number(m[2]) < Number(m[1])) {
    throw new OciError('BLOB_UPLOAD_INVALID', { status: 416, message: 'invalid Content-Range', detail: { contentRange: header } });
  }
  return { start: Number(m[1]), end: Number(m[2]) };
}
