/** How a pull was answered: from the cache, from the upstream, after a revalidation, or stale. */
export type CacheStatus = 'HIT' | 'MISS' | 'STALE' | 'REVALIDATED';

/**
 * What happened to a repository's content. One event per thing, named `<object>.<verb>`:
 * - manifest.pulled   a manifest GET/HEAD answered (cache says how: HIT, MISS, ...)
 * - manifest.pushed   a manifest stored by a push
 * - manifest.deleted  a manifest unlinked (DELETE by digest, or gc)
 * - tag.moved         a tag now points at `digest` (push by tag)
 * - tag.deleted       a tag removed (DELETE by tag)
 * - blob.pulled       a blob GET answered (cache: HIT, or MISS when it streams from a fill)
 * - blob.checked      a blob HEAD answered (a stat: nothing sent)
 * - blob.filled       a blob fetched from an upstream and committed for a repository
 * - blob.pushed       a blob made visible by a finished upload or a mount
 * - blob.evicted      a mirrored blob removed by prune
 * - blob.deleted      a blob removed by DELETE or gc
 * - upload.started    an upload session opened
 * - upload.finished   an upload session committed (a blob.pushed follows)
 */
export type EventType =
  | 'manifest.pulled' | 'manifest.pushed' | 'manifest.deleted'
  | 'tag.moved' | 'tag.deleted'
  | 'blob.pulled' | 'blob.checked' | 'blob.filled' | 'blob.pushed' | 'blob.evicted' | 'blob.deleted'
  | 'upload.started' | 'upload.finished';

export const EVENT_TYPES: readonly EventType[] = [
  'manifest.pulled', 'manifest.pushed', 'manifest.deleted',
  'tag.moved', 'tag.deleted',
  'blob.pulled', 'blob.checked', 'blob.filled', 'blob.pushed', 'blob.evicted', 'blob.deleted',
  'upload.started', 'upload.finished',
];

/**
 * One event. Every field is always present (undefined when it does not apply), so that
 * every event object has one shape: emitting stays a monomorphic object literal.
 * Listeners must not mutate it; they may keep it.
 */
export interface RegistryEvent {
  type: EventType;
  /**
   * The repository as the index keys it: the name itself for a local repository, the
   * upstream host and name for a mirrored one ("docker.io/library/alpine"); empty for
   * gc and prune, which remove content no longer tied to one repository.
   */
  repository: string;
  /** The content digest; undefined for upload.started and tag.deleted. */
  digest: string | undefined;
  /** Bytes, when known. */
  size: number | undefined;
  mediaType: string | undefined;
  /** The tag of tag.moved / tag.deleted, or of a manifest pulled or pushed by tag. */
  tag: string | undefined;
  /** The authenticated user; undefined when anonymous or not known at the emitter. */
  actor: string | undefined;
  /** The upstream's name for mirrored content ("docker.io"); undefined for local. */
  upstream: string | undefined;
  /** How a pull was answered. */
  cache: CacheStatus | undefined;
  /** Epoch milliseconds, from the core's clock. */
  time: number;
}

/** An event's fields apart from type and time, all optional for emitters. */
export type EventFields = Partial<Omit<RegistryEvent, 'type' | 'time'>>;
