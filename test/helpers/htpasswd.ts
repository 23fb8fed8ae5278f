/**
 * htpasswd lines and files for tests, hashed with the project's own bcryptjs, so that no
 * test needs Apache's `htpasswd` binary (apache2-utils) on the machine. The lines have the
 * shape `htpasswd -nbB` prints: `user:$2y$05$...` ($2y$ is Apache's name for $2b$, the same
 * algorithm; cost 5 is htpasswd's default).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';

/** One line as `htpasswd -nbB user password` prints it (without the newline). */
export function htpasswdLine(user: string, password: string, cost = 5): string {
  return `${user}:${bcrypt.hashSync(password, cost).replace(/^\$2b\$/, '$2y$')}`;
}

/** The file's text for these users, one line each. */
export function htpasswdText(users: Record<string, string>): string {
  return Object.entries(users).map(([u, p]) => htpasswdLine(u, p)).join('\n') + '\n';
}

/** An htpasswd file in a fresh temp dir; `remove()` deletes the dir. */
export function makeHtpasswd(users: Record<string, string>): { file: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'htpasswd-'));
  const file = join(dir, 'htpasswd');
  writeFileSync(file, htpasswdText(users));
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
