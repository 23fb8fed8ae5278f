import { renameSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { createFakeCredentialHelper, type FakeCredentialHelper } from '../../test/helpers/credential-helper.js';
import { ociRejection } from '../../test/helpers/oci-error.js';
import type { UpstreamConfig } from '../config/schema.js';
import { createCredentialSource, helperServerUrl, secretExpiry, type CredentialSource } from './credentials.js';
import { isValidHelperName, parseHelperAnswer, runCredentialHelper } from './credentials-helper.js';

const BASE = { name: 'registry.example', url: 'https://registry.example' } as UpstreamConfig;

let helper: FakeCredentialHelper;
let dir: string;
beforeEach(() => {
  helper = createFakeCredentialHelper();
  dir = mkdtempSync(join(tmpdir(), 'cred-test-'));
});
afterEach(() => {
  helper.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('runCredentialHelper: the docker credential helper protocol, bounded', () => {
  test('sends the host on stdin and reads Username and Secret from the JSON answer', async () => {
    helper.answer('AWS', 'ecr-token');
    const got = await runCredentialHelper(helper.name, '123.dkr.ecr.eu-west-1.amazonaws.com', { env: helper.env });
    expect(got).toEqual({ username: 'AWS', secret: 'ecr-token' });
    expect(helper.runs()).toEqual(['123.dkr.ecr.eu-west-1.amazonaws.com']);
  });

  test('a non-zero exit is an error naming the exit status and a truncated stderr (for the log)', async () => {
    helper.mode('fail');
    await expect(runCredentialHelper(helper.name, 'h', { env: helper.env })).rejects.toThrow(/exited with 3: helper-stderr/);
  });

  test('a hanging helper (and what it started) is killed at the time limit', async () => {
    helper.mode('hang');
    await expect(runCredentialHelper(helper.name, 'h', { env: helper.env, timeoutMs: 300 })).rejects.toThrow(/timed out/);
  }, 5_000);

  test('output over the cap is refused', async () => {
    helper.mode('huge');
    await expect(runCredentialHelper(helper.name, 'h', { env: helper.env })).rejects.toThrow(/too large/);
  });

  test('a helper not on PATH, or a name that could be a path or an option, is an error, not a spawn', async () => {
    await expect(runCredentialHelper('absent', 'h', { env: helper.env })).rejects.toThrow(/could not run: ENOENT/);
    for (const bad of ['../fake', 'fake/x', '-x', 'Fake', '', 'a b']) {
      expect(isValidHelperName(bad), bad).toBe(false);
      await expect(runCredentialHelper(bad, 'h', { env: helper.env })).rejects.toThrow(/invalid credential helper name/);
    }
    expect(helper.runs()).toEqual([]);
  });

  test('answers without a Secret are unusable', () => {
    expect(parseHelperAnswer('not json')).toBeUndefined();
    expect(parseHelperAnswer('{"Username":"u"}')).toBeUndefined();
    expect(parseHelperAnswer('{"Username":"u","Secret":""}')).toBeUndefined();
    expect(parseHelperAnswer('{"Username":"<token>","Secret":"id"}')).toEqual({ username: '<token>', secret: 'id' });
  });
});

describe('helper credential source: cached, single flight, failures briefly', () => {
  function source(now: () => number, helperCacheMs = 60_000): CredentialSource {
    return createCredentialSource({ ...BASE, credentials: { kind: 'helper', helper: helper.name } }, {
      env: helper.env, now, helperCacheMs, helperFailureMs: 5_000,
    })!;
  }

  test('many concurrent gets run the helper once; it runs again only after the cache time', async () => {
    let clock = 1_000;
    const creds = source(() => clock);
    const got = await Promise.all(Array.from({ length: 20 }, () => creds.get('registry.example')));
    expect(new Set(got.map((g) => JSON.stringify(g)))).toEqual(new Set([JSON.stringify({ kind: 'password', username: 'helper-user', password: 'helper-secret' })]));
    await creds.get('registry.example');
    expect(helper.runs()).toHaveLength(1);
    helper.answer('helper-user', 'rotated');
    clock += 60_001;
    expect(await creds.get('registry.example')).toEqual({ kind: 'password', username: 'helper-user', password: 'rotated' });
    expect(helper.runs()).toHaveLength(2);
  });

  test('an answer whose secret states its expiry (a JWT exp, an ECR token envelope) is used only until shortly before it', async () => {
    let clock = 1_000_000;
    const creds = source(() => clock, 600_000);
    const b64url = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const jwt = `${b64url({ alg: 'none' })}.${b64url({ exp: (clock + 120_000) / 1000 })}.sig`;
    helper.answer('00000000-0000-0000-0000-000000000000', jwt);
    await creds.get('registry.example');
    clock += 59_000;
    await creds.get('registry.example');
    expect(helper.runs()).toHaveLength(1);
    clock += 2_000; // 61 s before the exp: too close to hand out
    await creds.get('registry.example');
    expect(helper.runs()).toHaveLength(2);
    // ECR: base64 of a JSON envelope with "expiration" in seconds.
    const ecr = Buffer.from(JSON.stringify({ payload: 'p', datakey: 'd', version: '2', type: 'DATA_KEY', expiration: 1_700_000_000 })).toString('base64');
    expect(secretExpiry(ecr)).toBe(1_700_000_000_000);
    expect(secretExpiry('hunter2')).toBeUndefined();
    expect(secretExpiry('a.b.c')).toBeUndefined();
  });

  test('Username "<token>" makes the Secret a token', async () => {
    helper.answer('<token>', 'identity');
    expect(await source(() => 0).get('registry.example')).toEqual({ kind: 'token', token: 'identity' });
  });

  test('a failure is UPSTREAM_UNAVAILABLE without stderr or secret, repeated for a few seconds, then retried', async () => {
    let clock = 1_000;
    const creds = source(() => clock);
    helper.mode('fail');
    const err = await ociRejection(creds.get('registry.example'));
    expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
    const seen = JSON.stringify(err.toJSON());
    expect(seen).toContain('credentials unavailable');
    expect(seen).not.toContain(helper.stderrMarker);
    expect(seen).not.toContain('hunter2');
    await ociRejection(creds.get('registry.example'));
    expect(helper.runs()).toHaveLength(1);
    helper.mode('answer');
    clock += 5_000;
    expect(await creds.get('registry.example')).toMatchObject({ password: 'helper-secret' });
    expect(helper.runs()).toHaveLength(2);
  });

  test('invalidate drops a refused answer (not one just fetched), so the next get asks the helper again', async () => {
    let clock = 1_000;
    const creds = source(() => clock);
    const first = await creds.get('registry.example');
    creds.invalidate('registry.example', first!);
    await creds.get('registry.example');
    expect(helper.runs()).toHaveLength(1);
    clock += 5_000;
    creds.invalidate('registry.example', first!);
    await creds.get('registry.example');
    expect(helper.runs()).toHaveLength(2);
  });

  test('Docker Hub is asked for under the server URL docker keeps its credentials by', async () => {
    expect(helperServerUrl('docker.io')).toBe('https://index.docker.io/v1/');
    expect(helperServerUrl('ghcr.io')).toBe('ghcr.io');
    await source(() => 0).get('docker.io');
    expect(helper.runs()).toEqual(['https://index.docker.io/v1/']);
  });
});

describe('password file credential source', () => {
  test('reads the file without its trailing newline and re-reads it when it is replaced', async () => {
    const file = join(dir, 'password');
    writeFileSync(file, 'first\n');
    const creds = createCredentialSource({ ...BASE, credentials: { kind: 'password_file', username: 'bot', file } })!;
    expect(await creds.get('registry.example')).toEqual({ kind: 'password', username: 'bot', password: 'first' });
    // Rotation as Kubernetes and vault agents do it: a new file renamed over the old one.
    writeFileSync(join(dir, 'password.new'), 'second-password\r\n');
    renameSync(join(dir, 'password.new'), file);
    expect(await creds.get('registry.example')).toEqual({ kind: 'password', username: 'bot', password: 'second-password' });
  });

  test('an unreadable or empty file is UPSTREAM_UNAVAILABLE naming no path', async () => {
    const file = join(dir, 'missing');
    const creds = createCredentialSource({ ...BASE, credentials: { kind: 'password_file', username: 'bot', file } })!;
    const err = await ociRejection(creds.get('registry.example'));
    expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(JSON.stringify(err.toJSON())).not.toContain(dir);
    writeFileSync(file, '\n');
    expect((await ociRejection(creds.get('registry.example'))).code).toBe('UPSTREAM_UNAVAILABLE');
    writeFileSync(file, 'now-there\n');
    expect(await creds.get('registry.example')).toMatchObject({ password: 'now-there' });
  });
});

describe('static credentials', () => {
  test('username/password without `credentials` keeps working; a token kind is a token; none is undefined', async () => {
    expect(await createCredentialSource({ ...BASE, username: 'u', password: 'p' })!.get('x')).toEqual({ kind: 'password', username: 'u', password: 'p' });
    expect(await createCredentialSource({ ...BASE, credentials: { kind: 'token', token: 't' } })!.get('x')).toEqual({ kind: 'token', token: 't' });
    expect(createCredentialSource(BASE)).toBeUndefined();
  });
});
