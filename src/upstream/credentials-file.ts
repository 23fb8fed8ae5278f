import { readFile, stat } from 'node:fs/promises';
import type { OciError } from '../oci/errors.js';
import type { CredentialSource, UpstreamSecret } from './credentials.js';

/**
 * A password read from a file (a mounted Kubernetes secret, a vault agent's output),
 * checked on every use by a stat (inode, size, mtime) and re-read when it changed: a
 * rotated secret takes effect without a restart and without a watcher. One trailing
 * newline is not part of the password (`echo secret > file`). A file that cannot be read
 * is `unavailable(cause)`: the error a client sees, which names no path.
 */
export function createPasswordFileSource(username: string, file: string, unavailable: (cause: unknown) => OciError): CredentialSource {
  let seen: { key: string; secret: UpstreamSecret } | undefined;

  return {
    async get() {
      try {
        const st = await stat(file);
        const key = `${st.ino}:${st.size}:${st.mtimeMs}`;
        if (seen?.key === key) return seen.secret;
        const password = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
        // An empty file is a secret being written, not an empty password.
        if (password === '') throw new Error('password file is empty');
        const secret: UpstreamSecret = { kind: 'password', username, password };
        seen = { key, secret };
        return secret;
      } catch (err) {
        seen = undefined;
        throw unavailable(err);
      }
    },
    invalidate() {
      // Re-read on the next use even if the change kept size and mtime (same-second
      // rewrite of a same-length password on a coarse-mtime filesystem).
      seen = undefined;
    },
  };
}
