import pg from 'pg';
import type { TagChange } from './ports.js';

/**
 * Tag freshness across replicas (issue 13): every replica on one PostgreSQL index keeps a
 * memo of tags (src/proxy/manifest-memo.ts). A writer NOTIFYs this channel in the same
 * transaction as the tag change (NOTIFY is delivered at COMMIT, and never on ROLLBACK),
 * and every replica LISTENs on a dedicated connection and forgets what it memoized.
 */
export const TAG_CHANNEL = 'registry_mirror_tags';

/**
 * The SQL expression that notifies a change of `repo` (and `tag`; NULL: any tag of it),
 * given the placeholders of the repository and the tag. Used inside the writer's statement
 * or transaction so that the notification commits with it.
 */
export function notifySql(repoParam: string, tagParam: string | null): string {
  return `pg_notify('${TAG_CHANNEL}', json_build_object('r', ${repoParam}::text, 't', ${tagParam ?? 'NULL'}::text)::text)`;
}

/** How long a lost LISTEN connection waits before connecting again (doubling up to the max). */
const RECONNECT_MIN_MS = 200;
const RECONNECT_MAX_MS = 5_000;

/** The listening side: one client outside the pool, reconnected when lost. */
export interface TagChangeListener {
  /** Adds a listener: told of every tag change any replica commits, and `{ all: true, listening }` when changes may have been missed. */
  onTagChanged(listener: (change: TagChange) => void): void;
  /** Settles when the first connection listens or fails (never rejects): start-up waits for it, so a new replica memoizes at once. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * LISTENs on TAG_CHANNEL. While the connection is lost nobody is told what changed, so the
 * listeners hear `{ all: true, listening: false }` when it is lost (and until the first
 * connection listens: emitted at once) and `{ all: true, listening: true }` once it
 * listens anew (what changed in between is unknown): a replica never serves from memory
 * what it cannot vouch for.
 */
export function listenTagChanges(url: string): TagChangeListener {
  const listeners: ((change: TagChange) => void)[] = [];
  const emit = (change: TagChange) => { for (const l of listeners) l(change); };
  let client: pg.Client | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let delay = RECONNECT_MIN_MS;
  let listening = false;
  let settle!: () => void;
  const ready = new Promise<void>((resolve) => { settle = resolve; });

  const lost = (c: pg.Client) => {
    if (client !== c) return;
    client = undefined;
    listening = false;
    c.end().catch(() => {});
    emit({ all: true, listening: false });
    settle();
    if (closed) return;
    timer = setTimeout(connect, delay);
    timer.unref();
    delay = Math.min(delay * 2, RECONNECT_MAX_MS);
  };

  function connect(): void {
    if (closed) return;
    const c = new pg.Client({ connectionString: url, application_name: 'registry-mirror-listen', connectionTimeoutMillis: 10_000 });
    client = c;
    c.on('error', () => lost(c));
    c.on('end', () => lost(c));
    c.on('notification', (n) => {
      if (n.channel !== TAG_CHANNEL) return;
      const change = parse(n.payload);
      emit(change);
    });
    c.connect()
      .then(() => c.query(`LISTEN ${TAG_CHANNEL}`))
      .then(() => {
        if (client !== c) return;
        delay = RECONNECT_MIN_MS;
        listening = true;
        // Whatever changed before this connection listened was not heard.
        emit({ all: true, listening: true });
        settle();
      })
      .catch(() => lost(c));
  }
  connect();

  return {
    ready,
    onTagChanged: (listener) => {
      listeners.push(listener);
      if (!listening) listener({ all: true, listening: false });
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}

/** A payload of notifySql; anything else (unknown shape) is treated as "everything may have changed". */
function parse(payload: string | undefined): TagChange {
  try {
    const v = JSON.parse(payload ?? '') as { r?: unknown; t?: unknown };
    if (typeof v.r !== 'string') return { all: true, listening: true };
    return typeof v.t === 'string' ? { repo: v.r, tag: v.t } : { repo: v.r };
  } catch {
    return { all: true, listening: true };
  }
}
