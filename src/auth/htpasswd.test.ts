import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { htpasswdLine } from '../../test/helpers/htpasswd.js';
import { createHtpasswd, parseHtpasswd } from './htpasswd.js';


let dir: string;
let alice: string;
let bob: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mirror-htpasswd-'));
  alice = htpasswdLine('alice', 'secret');
  bob = htpasswdLine('bob', 'hunter2:with:colons');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

let fileCount = 0;
function htpasswdFile(text: string): string {
  const path = join(dir, `htpasswd-${++fileCount}`);
  writeFileSync(path, text);
  return path;
}

/** Rewrites the file with an mtime clearly different from before (some file systems have 1 s mtimes). */
function rewrite(path: string, text: string, mtimeSeconds: number): void {
  writeFileSync(path, text);
  utimesSync(path, mtimeSeconds, mtimeSeconds);
}

describe('htpasswd verify', () => {
  it('accepts the password htpasswd -B hashed ($2y$), and a password containing colons', async () => {
    expect(alice).toMatch(/^alice:\$2y\$/);
    const users = createHtpasswd({ path: htpasswdFile(`${alice}\n${bob}\n`) });
    expect(await users.verify('alice', 'secret')).toBe(true);
    expect(await users.verify('bob', 'hunter2:with:colons')).toBe(true);
  });

  it('refuses a wrong password, another user\'s password and an unknown user', async () => {
    const users = createHtpasswd({ path: htpasswdFile(`${alice}\n${bob}\n`) });
    expect(await users.verify('alice', 'Secret')).toBe(false);
    expect(await users.verify('alice', '')).toBe(false);
    expect(await users.verify('alice', 'hunter2:with:colons')).toBe(false);
    expect(await users.verify('carol', 'secret')).toBe(false);
  });

  it('ignores blank lines, comments and CRLF line ends', async () => {
    const users = createHtpasswd({ path: htpasswdFile(`# team users\r\n\r\n${alice}\r\n  # bob left\r\n`) });
    expect(await users.verify('alice', 'secret')).toBe(true);
  });

  it('still runs a bcrypt compare for an unknown user, so timing does not reveal who exists', async () => {
    const users = createHtpasswd({ path: htpasswdFile(`${alice}\n`) });
    const compare = vi.spyOn(bcrypt, 'compare');
    expect(await users.verify('mallory', 'secret')).toBe(false);
    expect(compare).toHaveBeenCalledTimes(1);
  });

  it('remembers a successful verification, but never a failed one', async () => {
    const users = createHtpasswd({ path: htpasswdFile(`${alice}\n`) });
    const compare = vi.spyOn(bcrypt, 'compare');
    expect(await users.verify('alice', 'secret')).toBe(true);
    expect(await users.verify('alice', 'secret')).toBe(true);
    expect(compare).toHaveBeenCalledTimes(1);
    expect(await users.verify('alice', 'wrong')).toBe(false);
    expect(await users.verify('alice', 'wrong')).toBe(false);
    expect(compare).toHaveBeenCalledTimes(3);
  });
});

describe('htpasswd reload', () => {
  it('picks up an added user after the check interval, without a restart', async () => {
    let clock = 1_000_000;
    const path = htpasswdFile(`${alice}\n`);
    utimesSync(path, 1_000, 1_000);
    const users = createHtpasswd({ path, now: () => clock, reloadCheckMs: 3_000 });
    expect(await users.verify('bob', 'hunter2:with:colons')).toBe(false);

    rewrite(path, `${alice}\n${bob}\n`, 2_000);
    clock += 1_000;
    expect(await users.verify('bob', 'hunter2:with:colons')).toBe(false); // not looked at yet
    clock += 3_000;
    expect(await users.verify('bob', 'hunter2:with:colons')).toBe(true);
  });

  it('forgets a removed user even though their login was cached', async () => {
    let clock = 1_000_000;
    const path = htpasswdFile(`${alice}\n${bob}\n`);
    utimesSync(path, 1_000, 1_000);
    const users = createHtpasswd({ path, now: () => clock, reloadCheckMs: 3_000 });
    expect(await users.verify('alice', 'secret')).toBe(true);

    rewrite(path, `${bob}\n`, 2_000);
    clock += 5_000;
    expect(await users.verify('alice', 'secret')).toBe(false);
  });

  it('forgets the old password when it is changed, though it was cached', async () => {
    let clock = 1_000_000;
    const path = htpasswdFile(`${alice}\n`);
    utimesSync(path, 1_000, 1_000);
    const users = createHtpasswd({ path, now: () => clock, reloadCheckMs: 3_000 });
    expect(await users.verify('alice', 'secret')).toBe(true);

    rewrite(path, `${htpasswdLine('alice', 'new-secret')}\n`, 2_000);
    clock += 5_000;
    expect(await users.verify('alice', 'secret')).toBe(false);
    expect(await users.verify('alice', 'new-secret')).toBe(true);
  });

  it('keeps the previous users when the changed file is invalid, and says why', async () => {
    let clock = 1_000_000;
    const path = htpasswdFile(`${alice}\n`);
    utimesSync(path, 1_000, 1_000);
    const errors: Error[] = [];
    const users = createHtpasswd({ path, now: () => clock, reloadCheckMs: 3_000, onReloadError: (e) => errors.push(e) });

    rewrite(path, `${alice}\nbob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n`, 2_000);
    clock += 5_000;
    expect(await users.verify('alice', 'secret')).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/:2: user "bob" has a SHA-1 hash/);
    expect(errors[0]!.message).not.toContain('5en6G6');
  });
});

describe('parseHtpasswd', () => {
  it.each([
    ['{SHA}', 'bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=', /SHA-1/],
    ['$apr1$', 'bob:$apr1$Ja9ZAgWr$3kzKqvK8lUOe1vAzHXBKM/', /MD5/],
    ['crypt', 'bob:rqXexS6ZhobKA', /non-bcrypt/],
    ['a truncated bcrypt hash', 'bob:$2y$05$abc', /malformed bcrypt/],
  ])('refuses %s with the line number and only bcrypt accepted', (_kind, line, kind) => {
    const text = `# users\n${alice}\n${line}\n`;
    expect(() => parseHtpasswd(text, '/etc/mirror/htpasswd')).toThrow(/^\/etc\/mirror\/htpasswd:3: user "bob" has a /);
    expect(() => parseHtpasswd(text, 'f')).toThrow(kind);
    expect(() => parseHtpasswd(text, 'f')).toThrow(/only bcrypt hashes are accepted \(create them with "htpasswd -B"\)/);
  });

  it('refuses a line without a user, and a user defined twice', () => {
    expect(() => parseHtpasswd(`${alice}\njust-a-name\n`, 'f')).toThrow('f:2: expected "user:hash"');
    expect(() => parseHtpasswd(`${alice}\n\n${alice}\n`, 'f')).toThrow('f:3: user "alice" is already defined on line 1');
  });

  it('refuses a bad file at load time, so a wrong config fails at startup', () => {
    expect(() => createHtpasswd({ path: htpasswdFile('bob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n') })).toThrow(/:1: user "bob"/);
    expect(() => createHtpasswd({ path: join(dir, 'missing') })).toThrow(/ENOENT/);
  });

  it('maps users to their hashes', () => {
    const users = parseHtpasswd(`${alice}\n${bob}`, 'f');
    expect([...users.keys()]).toEqual(['alice', 'bob']);
    expect(users.get('alice')).toBe(alice.slice('alice:'.length));
  });
});
