import { describe, expect, it } from 'vitest';
import type { AccessRule, Config } from '../config/schema.js';
import { createAccessRules } from './access-rules.js';

function rules(list: AccessRule[], mirrorPull: Config['auth']['mirrorPull'] = 'anonymous') {
  return createAccessRules({ rules: list, mirrorPull });
}

const rule = (repository: string, r: Partial<Omit<AccessRule, 'repository'>>): AccessRule => ({
  repository,
  pull: r.pull ?? [],
  push: r.push ?? [],
  delete: r.delete ?? [],
});

describe('access rules for local repositories', () => {
  it('lets any authenticated user pull, push and delete where no rule matches, and no anonymous caller', () => {
    const r = rules([rule('other/*', { pull: ['anonymous'] })]);
    for (const action of ['pull', 'push', 'delete'] as const) {
      expect(r.allowed('alice', 'team/app', 'local', action)).toBe(true);
      expect(r.allowed(undefined, 'team/app', 'local', action)).toBe(false);
    }
  });

  it('lets the named users do what the rule lists, and nobody else', () => {
    const r = rules([rule('team/*', { pull: ['alice', 'bob'], push: ['alice'], delete: [] })]);
    expect(r.allowed('alice', 'team/app', 'local', 'pull')).toBe(true);
    expect(r.allowed('alice', 'team/app', 'local', 'push')).toBe(true);
    expect(r.allowed('alice', 'team/app', 'local', 'delete')).toBe(false);
    expect(r.allowed('bob', 'team/app', 'local', 'pull')).toBe(true);
    expect(r.allowed('bob', 'team/app', 'local', 'push')).toBe(false);
    expect(r.allowed('carol', 'team/app', 'local', 'pull')).toBe(false);
    expect(r.allowed(undefined, 'team/app', 'local', 'pull')).toBe(false);
  });

  it('reads "*" as any authenticated user, but not an anonymous caller', () => {
    const r = rules([rule('team/*', { pull: ['*'] })]);
    expect(r.allowed('carol', 'team/app', 'local', 'pull')).toBe(true);
    expect(r.allowed(undefined, 'team/app', 'local', 'pull')).toBe(false);
  });

  it('reads "anonymous" as anyone, logged in or not', () => {
    const r = rules([rule('public/**', { pull: ['anonymous'], push: ['alice'] })]);
    expect(r.allowed(undefined, 'public/tools/jq', 'local', 'pull')).toBe(true);
    expect(r.allowed('carol', 'public/tools/jq', 'local', 'pull')).toBe(true);
    expect(r.allowed(undefined, 'public/tools/jq', 'local', 'push')).toBe(false);
  });

  it('lets the first matching rule decide, even when a later one would allow more', () => {
    const r = rules([rule('team/secret', { pull: ['alice'] }), rule('team/*', { pull: ['*'], push: ['*'] })]);
    expect(r.allowed('bob', 'team/secret', 'local', 'pull')).toBe(false);
    expect(r.allowed('alice', 'team/secret', 'local', 'push')).toBe(false);
    expect(r.allowed('bob', 'team/app', 'local', 'pull')).toBe(true);
  });

  it('matches patterns by segment ("*" one, "**" one or more)', () => {
    const r = rules([rule('team/*', { pull: ['alice'] })]);
    // team/a/b is not matched by team/*: no rule, so the default (any user) applies.
    expect(r.allowed('bob', 'team/a/b', 'local', 'pull')).toBe(true);
    expect(r.allowed('bob', 'team/a', 'local', 'pull')).toBe(false);
  });
});

describe('access rules for mirrored repositories', () => {
  it('lets anyone pull by default (mirrorPull: anonymous)', () => {
    const r = rules([]);
    expect(r.allowed(undefined, 'library/alpine', 'mirror', 'pull')).toBe(true);
    expect(r.allowed('alice', 'library/alpine', 'mirror', 'pull')).toBe(true);
  });

  it('asks for a login to pull with mirrorPull: authenticated', () => {
    const r = rules([], 'authenticated');
    expect(r.allowed(undefined, 'library/alpine', 'mirror', 'pull')).toBe(false);
    expect(r.allowed('alice', 'library/alpine', 'mirror', 'pull')).toBe(true);
  });

  it('never allows push or delete, not even when a rule lists the user', () => {
    const r = rules([rule('library/*', { pull: ['alice'], push: ['anonymous', 'alice'], delete: ['*'] })]);
    for (const user of ['alice', undefined]) {
      expect(r.allowed(user, 'library/alpine', 'mirror', 'push')).toBe(false);
      expect(r.allowed(user, 'library/alpine', 'mirror', 'delete')).toBe(false);
    }
    // ...and the same rule does not narrow pulls of mirrored content either.
    expect(r.allowed('bob', 'library/alpine', 'mirror', 'pull')).toBe(true);
  });
});
