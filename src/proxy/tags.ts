import type { Metrics } from '../admin/metrics.js';
import type { Logger } from '../log/logger.js';
import { OciError } from '../oci/errors.js';
import type { TagIndex } from '../storage/ports.js';
import type { MirrorTarget } from '../routing/resolve-repository.js';
import { toUpstreamError } from '../upstream/errors.js';
import { isTransientUpstreamFailure, upstreamStatusError } from './upstream-status.js';

export interface TagPage {
  tags: string[];
  /** The `last` value for the next page, when there is one. */
  next?: string;
  stale: boolean;
}

/**
 * The most of an upstream tag list we read. An upstream that ignores `n` may send a
 * million tags (~20 MB of JSON, ~200 MB parsed) per request; past this we stop reading,
 * keep the complete tags before the cut and answer a page with a Link to the rest.
 */
export const MAX_TAGS_BODY = 4 * 1024 * 1024;

/**
 * Tags of a mirrored repository: asked of the upstream (with the client's n/last), and
 * when the upstream fails, answered from the tags this mirror has cached.
 */
export function createTagsProxy(deps: { tags: TagIndex; metrics: Metrics; log: Logger }) {
  const { tags: tagIndex, metrics, log } = deps;

  async function fromUpstream(t: MirrorTarget, n: number | undefined, last: string | undefined): Promise<TagPage> {
    metrics.upstreamRequests.tags++;
    const res = await t.upstream.tags(t.upstreamRepo, { n, last });
    if (res.status !== 200) {
      res.body.destroy();
      throw upstreamStatusError(res, 'NAME_UNKNOWN', t.upstream.config.name);
    }
    let read: { bytes: Buffer; cut: boolean };
    try {
      read = await readUpTo(res.body, MAX_TAGS_BODY);
    } catch (err) {
      // A cut, stalled or too slow body: the upstream failing, never a 500 of ours.
      throw toUpstreamError(err, t.upstream.config.name);
    }
    const { bytes, cut } = read;
    let tags: string[];
    try {
      tags = cut ? tagsBeforeCut(bytes.toString('utf8')) : parseTagList(bytes.toString('utf8'));
    } catch (err) {
      throw new OciError('UPSTREAM_UNAVAILABLE', { message: 'upstream sent an invalid tag list', cause: err });
    }
    // The upstream's Link names its own host and repository; we only keep whether there is
    // more. An upstream that sent more than asked (or more than we read) is cut to the
    // page, and the page ends in a Link to the rest, as if it had paginated.
    let more = cut || /rel="?next"?/.test(res.headers['link'] ?? '');
    if (n !== undefined && tags.length > n) {
      tags = tags.slice(0, n);
      more = true;
    }
    return { tags, next: more && tags.length > 0 ? tags[tags.length - 1] : undefined, stale: false };
  }

  async function fromCache(t: MirrorTarget, n: number | undefined, last: string | undefined): Promise<TagPage> {
    const limit = n ?? 10_000;
    const tags = await tagIndex.listTags(t.cacheRepo, limit + 1, last);
    const more = tags.length > limit;
    if (more) tags.pop();
    return { tags, next: more ? tags[tags.length - 1] : undefined, stale: true };
  }

  return {
    async list(t: MirrorTarget, n: number | undefined, last: string | undefined): Promise<TagPage> {
      try {
        return await fromUpstream(t, n, last);
      } catch (err) {
        if (!isTransientUpstreamFailure(err)) throw err;
        const page = await fromCache(t, n, last);
        if (page.tags.length === 0 && !last) throw err;
        metrics.upstreamErrors++;
        log.warn('upstream failed; serving cached tag list', { repo: t.cacheRepo, error: err });
        return page;
      }
    },
  };
}

export type TagsProxy = ReturnType<typeof createTagsProxy>;

/** Reads at most `limit` bytes of a body; `cut` says there was more (the rest is dropped). */
async function readUpTo(body: NodeJS.ReadableStream & { destroy(): void }, limit: number): Promise<{ bytes: Buffer; cut: boolean }> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (total + chunk.length > limit) {
      chunks.push(chunk.subarray(0, limit - total));
      body.destroy();
      return { bytes: Buffer.concat(chunks, limit), cut: true };
    }
    chunks.push(chunk);
    total += chunk.length;
  }
  return { bytes: Buffer.concat(chunks, total), cut: false };
}

/** The `tags` of a complete tag list document (strings only). */
function parseTagList(text: string): string[] {
  const doc = JSON.parse(text) as { tags?: unknown } | null;
  const tags = doc && typeof doc === 'object' ? doc.tags : undefined;
  return Array.isArray(tags) ? tags.filter((x): x is string => typeof x === 'string') : [];
}

/**
 * The complete tags of a tag list document cut short: every whole JSON string of the
 * `"tags": [` array before the cut. Throws when the document has no tags array in reach.
 */
function tagsBeforeCut(text: string): string[] {
  const start = /"tags"\s*:\s*\[/.exec(text);
  if (!start) throw new Error('tag list cut before its tags');
  const item = /\s*("(?:[^"\\]|\\.)*")\s*([,\]])/y;
  item.lastIndex = start.index + start[0].length;
  const tags: string[] = [];
  for (let m = item.exec(text); m; m = item.exec(text)) {
    const tag = JSON.parse(m[1]!) as unknown;
    if (typeof tag === 'string') tags.push(tag);
    if (m[2] === ']') break;
  }
  return tags;
}
