import type { Config } from '../config/schema.js';
import { compileNamePattern } from '../oci/name-pattern.js';

export type Action = 'pull' | 'push' | 'delete';
export const ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];

/** Said by the caller (routing decides), never guessed here. */
export type RepositoryKind = 'local' | 'mirror';

/** Principals in a rule: a user name, "*" (any authenticated user) or "anonymous" (anyone). */
export const ANY_USER = '*';
export const ANYONE = 'anonymous';

export interface AccessRules {
  /** May `user` (undefined: anonymous) do `action` on repository `repo`? */
  allowed(user: string | undefined, repo: string, kind: RepositoryKind, action: Action): boolean;
}

/**
 * Who may do what:
 * - Local repositories: the first rule whose pattern matches the name decides each action;
 *   with no matching rule, any authenticated user may pull, push and delete.
 * - Mirrored repositories: pull per `mirrorPull` ('anonymous': anyone, 'authenticated':
 *   any user); push and delete never, whatever the rules say (a mirror's content belongs
 *   to its upstream). Rules are not consulted for mirrored names.
 */
export function createAccessRules(auth: Pick<Config['auth'], 'rules' | 'mirrorPull'>): AccessRules {
  const rules = auth.rules.map((rule) => ({ pattern: compileNamePattern(rule.repository), rule }));

  const admits = (principals: readonly string[], user: string | undefined): boolean =>
    principals.includes(ANYONE) || (user !== undefined && (principals.includes(ANY_USER) || principals.includes(user)));

  return {
    allowed(user, repo, kind, action) {
      if (kind === 'mirror') return action === 'pull' && (auth.mirrorPull === 'anonymous' || user !== undefined);
      const match = rules.find((r) => r.pattern.matches(repo));
      if (!match) return user !== undefined;
      return admits(match.rule[action], user);
    },
  };
}
