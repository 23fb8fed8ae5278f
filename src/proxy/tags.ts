import type { Metrics } from '../admin/metrics.js';
import type { Logger } from '../log/logger.js';
import { OciError } from '../oci/errors.js';
import type { RegistryIndex } from '../storage/registry-index.js';
import type { MirrorTarget } from '../routing/resolve-repository.js';
import { isTransientUpstreamFailure, readLimited, upstreamStatusError } from './upstream-status.js';

export interface TagPage {
  tags: string[];
  /** The `last` value for the next page, when there is one. */
  next?: string;
  stale: boolean;
}

/** Tag lists are small; anything bigger than this from an upstream is refused. */
const MAX_TAGS_BODY = 16 * 1024 * 1024;

/**
 * Tags of a mirrored repository: asked of the upstream (with the client's n/last), and
 * when the upstream fails, answered from the tags this mirror has cached.
 */
export function createTagsProxy(deps: { index: RegistryIndex; metrics: Metrics; log: Logger }) {
  const { index, metrics, log } = deps;

  async function fromUpstream(t: MirrorTarget, n: number | undefined, last: string | undefined): Promise<TagPage> {
    metrics.upstreamRequests.tags++;
    const res = await t.upstream.tags(t.upstreamRepo, { n, last });
    if (res.status !== 200) {
      res.body.destroy();
      throw upstreamStatusError(res, 'NAME_UNKNOWN', t.upstream.config.name);
    }
    let doc: { tags?: unknown };
    try {
      doc = JSON.parse((await readLimited(res.body, MAX_TAGS_BODY)).toString('utf8'));
    } catch (err) {
      throw new OciError('UPSTREAM_UNAVAILABLE', { message: 'upstream sent an invalid tag list', cause: err });
    }
    const tags = Array.isArray(doc.tags) ? doc.tags.filter((x): x is string => typeof x === 'string') : [];
    // The upstream's Link names its own host and repository; we only keep whether there is more.
    const hasNext = /rel="?next"?/.test(res.headers['link'] ?? '');
    return { tags, next: hasNext && tags.length > 0 ? tags[tags.length - 1] : undefined, stale: false };
  }

  function fromCache(t: MirrorTarget, n: number | undefined, last: string | undefined): TagPage {
    const limit = n ?? 10_000;
    const tags = index.listTags(t.cacheRepo, limit + 1, last);
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
        const page = fromCache(t, n, last);
        if (page.tags.length === 0 && !last) throw err;
        metrics.upstreamErrors++;
        log.warn('upstream failed; serving cached tag list', { repo: t.cacheRepo, error: err });
        return page;
      }
    },
  };
}

export type TagsProxy = ReturnType<typeof createTagsProxy>;
