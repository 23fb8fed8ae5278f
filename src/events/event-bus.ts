import type { Logger } from '../log/logger.js';
import { EVENT_TYPES, type EventFields, type EventType, type RegistryEvent } from './event-types.js';

export type EventListener = (event: RegistryEvent) => void;

/**
 * The event seam (Distribution's notifications): emitters say what happened, listeners
 * (metrics, later webhooks and stats history) subscribe by type. Dispatch is synchronous
 * and cheap: a type nobody listens to costs one lookup and builds no event; a hot path
 * checks `wants(type)` and `publish`es the one event object it builds (the field order of
 * `emit`'s, so every event keeps one shape).
 *
 * A listener that throws never breaks the request that emitted: the error is caught and
 * logged once per listener, and the other listeners still run.
 */
export class EventBus {
  readonly #listeners = new Map<EventType, EventListener[]>();
  readonly #failed = new WeakSet<EventListener>();
  readonly #log: Logger | undefined;
  /** The clock stamping events (the core's, so tests control it). */
  readonly now: () => number;

  constructor(options: { now?: () => number; log?: Logger } = {}) {
    this.now = options.now ?? Date.now;
    this.#log = options.log;
    for (const t of EVENT_TYPES) this.#listeners.set(t, []);
  }

  /** Subscribes to one type, several, or every type ('*'); returns the unsubscribe. */
  on(types: EventType | readonly EventType[] | '*', listener: EventListener): () => void {
    const list = types === '*' ? EVENT_TYPES : typeof types === 'string' ? [types] : types;
    for (const t of list) this.#listeners.set(t, [...this.#listeners.get(t)!, listener]);
    return () => {
      for (const t of list) this.#listeners.set(t, this.#listeners.get(t)!.filter((l) => l !== listener));
    };
  }

  /** Does anyone listen to this type? Emitters check it before building an event. */
  wants(type: EventType): boolean {
    return this.#listeners.get(type)!.length > 0;
  }

  /**
   * Builds the event (time from the clock, absent fields undefined) and hands it to each
   * listener of its type in subscription order. Returns nothing: listeners cannot fail
   * the emitter.
   */
  emit(type: EventType, fields: EventFields): void {
    if (this.#listeners.get(type)!.length === 0) return;
    this.publish({
      type,
      repository: fields.repository ?? '',
      digest: fields.digest,
      size: fields.size,
      mediaType: fields.mediaType,
      tag: fields.tag,
      actor: fields.actor,
      upstream: fields.upstream,
      cache: fields.cache,
      time: this.now(),
    });
  }

  /**
   * Hands a complete event (every field, `time` from `now`) to the listeners of its type:
   * for hot paths, which build the one object themselves after checking `wants`.
   */
  publish(event: RegistryEvent): void {
    // Copied on subscribe, so iterating while a listener unsubscribes is safe.
    const listeners = this.#listeners.get(event.type)!;
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (err) {
        if (this.#failed.has(listener)) continue;
        this.#failed.add(listener);
        this.#log?.error('event listener failed; its later failures are not logged', { event: event.type, error: err });
      }
    }
  }
}
