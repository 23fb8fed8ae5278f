import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, statSync, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import { LRUCache } from 'lru-cache';
import { isOciError } from '../oci/errors.js';

/**
 * Users from an Apache htpasswd file, bcrypt hashes only (as `htpasswd -B` writes them:
 * `alice:$2y$05$...`). Other hash kinds ({SHA}, $apr1$, crypt) are refused when the file
 * is loaded: they are fast to brute-force, or not hashes at all.
 * https://httpd.apache.org/docs/2.4/misc/password_encryptions.html
 */
export interface Htpasswd {
  /**
   * True when `user` is in the file and `password` matches. Re-reads the file first when
   * it changed (checked at most every `reloadCheckMs`). Never throws for bad input.
   */
  verify(user: string, password: string): Promise<boolean>;
}

export interface HtpasswdOptions {
  path: string;
  /** Clock for the reload check, in ms. */
  now?: () => number;
  /** How often, at most, the file's mtime is looked at. Default 3 s. */
  reloadCheckMs?: number;
  /** How long a successful verification is remembered. Default 5 min. */
  cacheTtlMs?: number;
  /**
   * Compares a password with a bcrypt hash. Default: bcryptjs on this thread; the server
   * passes a worker pool (bcrypt-pool.ts) so that guesses never stall other requests.
   * May throw an OciError (a full queue), which verify() passes on.
   */
  compare?: (password: string, hash: string) => Promise<boolean>;
  /**
   * A changed file that cannot be read or parsed: the last good user table stays in use
   * (a half-written file must not lock everyone out) and this is told why. The message
   * names the file and line, never a hash or password.
   */
  onReloadError?: (err: Error) => void;
}

/** $2a$, $2b$ and $2y$ (Apache's name for $2b$), two-digit cost, 22 salt + 31 hash chars. */
const BCRYPT_RE = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

/** Compared against when the file has no users, so that a miss still costs a bcrypt. */
const FALLBACK_DUMMY_HASH = '$2y$05$9czLp5VxUCWqhnixXVy/POUQ.snTb49eRQqgNR5w/aPF.cP2El6ku';

/** Parses htpasswd text into user → bcrypt hash. Throws an Error naming `source:line`. */
export function parseHtpasswd(text: string, source: string): Map<string, string> {
  const users = new Map<string, string>();
  const firstLine = new Map<string, number>();
  text.split('\n').forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`${source}:${lineNo}: expected "user:hash"`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (!BCRYPT_RE.test(hash)) {
      throw new Error(
        `${source}:${lineNo}: user "${user}" has a ${describeHash(hash)}; only bcrypt hashes are accepted (create them with "htpasswd -B")`,
      );
    }
    const seen = firstLine.get(user);
    if (seen !== undefined) throw new Error(`${source}:${lineNo}: user "${user}" is already defined on line ${seen}`);
    firstLine.set(user, lineNo);
    users.set(user, hash);
  });
  return users;
}

/** Names the kind of a refused hash without echoing it. */
function describeHash(hash: string): string {
  if (hash.startsWith('{SHA}')) return 'SHA-1 hash ({SHA})';
  if (hash.startsWith('$apr1$')) return 'MD5 hash ($apr1$)';
  if (hash.startsWith('$1$') || hash.startsWith('$5$') || hash.startsWith('$6$')) return 'crypt(3) hash';
  if (hash.startsWith('$2')) return 'malformed bcrypt hash';
  return 'non-bcrypt hash (crypt or plain text)';
}

/** Identity of a file version: a rewrite changes mtime or size, an atomic replace the inode. */
function signature(st: Stats): string {
  return `${st.mtimeMs}:${st.size}:${st.ino}`;
}

/**
 * Loads the file now (throws on a missing or invalid file, so a bad config fails at
 * startup) and reloads it when it changes, so adding a user needs no restart.
 */
export function createHtpasswd(options: HtpasswdOptions): Htpasswd {
  const { path } = options;
  const now = options.now ?? Date.now;
  const reloadCheckMs = options.reloadCheckMs ?? 3_000;
  const compareWith = options.compare ?? ((password: string, hash: string) => bcrypt.compare(password, hash));
  // A malformed hash or a dead worker is a failed check; a full queue (OciError) is the caller's answer.
  const compare = (password: string, hash: string) =>
    compareWith(password, hash).catch((err: unknown) => {
      if (isOciError(err)) throw err;
      return false;
    });

  let sig = signature(statSync(path));
  let users = parseHtpasswd(readFileSync(path, 'utf8'), path);
  let lastCheck = now();
  let checking: Promise<void> | undefined;

  // bcrypt is slow by design; remember successes under a keyed hash of
  // (user, password, hash) so that the password itself is never kept, and a changed
  // hash (new password) misses the cache by construction.
  const cacheKey = randomBytes(32);
  const verified = new LRUCache<string, true>({ max: 1_000, ttl: options.cacheTtlMs ?? 5 * 60_000 });
  const keyOf = (user: string, password: string, hash: string) =>
    createHmac('sha256', cacheKey).update(JSON.stringify([user, password, hash])).digest('base64');

  async function reloadIfChanged(): Promise<void> {
    try {
      const st = await stat(path);
      const next = signature(st);
      if (next === sig) return;
      sig = next; // also for a failed parse: report it once, retry when the file changes again
      users = parseHtpasswd(await readFile(path, 'utf8'), path);
    } catch (err) {
      options.onReloadError?.(err instanceof Error ? err : new Error(String(err)));
    }
  }

  async function maybeReload(): Promise<void> {
    if (checking) return checking;
    if (now() - lastCheck < reloadCheckMs) return;
    lastCheck = now();
    checking = reloadIfChanged().finally(() => {
      checking = undefined;
    });
    return checking;
  }

  return {
    async verify(user, password) {
      await maybeReload();
      const hash = users.get(user);
      if (hash === undefined) {
        // Same work as for a known user, so response time does not tell who exists.
        const dummy = users.values().next().value ?? FALLBACK_DUMMY_HASH;
        await compare(password, dummy);
        return false;
      }
      const key = keyOf(user, password, hash);
      if (verified.get(key)) return true;
      const ok = await compare(password, hash);
      if (ok) verified.set(key, true);
      return ok;
    },
  };
}
