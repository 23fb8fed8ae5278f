/**
 * Credentials per upstream (issue 10, item 3), seen from a client of the mirror: a
 * Basic-challenge upstream (ECR, GAR) and a Bearer one (Docker Hub, GHCR, Quay, ACR), with
 * a rotated password file, a docker credential helper (a sh script found through the PATH
 * handed to the client), and a helper that fails, hangs or floods. The mirror is the real
 * app over a real listener; the upstream is the in-process fake, whose log shows what
 * reached it and with which Authorization.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import type { UpstreamConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/log/logger.js';
import { createUpstreamClient } from '../../src/upstream/client.js';
import { createCredentialSource, type CredentialSourceOptions } from '../../src/upstream/credentials.js';
import { createFakeCredentialHelper, type FakeCredentialHelper } from '../helpers/credential-helper.js';
import { startFakeUpstream, type FakeUpstream, type FakeUpstreamOptions } from '../helpers/fake-upstream.js';
import { mirrorAppConfig, startMirrorAppWith, type MirrorApp } from '../helpers/mirror-app.js';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

interface Setup {
  up: FakeUpstream;
  mirror: MirrorApp;
  users: Record<string, string>;
  logs: string[];
  /** The credential source's clock (helper cache, refusal guard). */
  advance(ms: number): void;
  get(path: string): Promise<{ status: number; text: string; headers: Headers }>;
}

async function setup(
  upOptions: FakeUpstreamOptions & { users: Record<string, string> },
  credentials: UpstreamConfig['credentials'],
  sourceOptions: CredentialSourceOptions = {},
): Promise<Setup> {
  const up = await startFakeUpstream(upOptions);
  cleanups.push(() => up.close());
  // The access log on: a log assertion must have lines to look at.
  const config = mirrorAppConfig(up.url, { MIRROR_LOG_ACCESS: 'true' });
  const logs: string[] = [];
  const log = createLogger('debug', (line) => logs.push(line));
  let clock = 1_000_000;
  const upstreamConfig: UpstreamConfig = { ...config.upstream, ...(credentials ? { credentials } : {}) };
  const source = createCredentialSource(upstreamConfig, { ...sourceOptions, log, now: () => clock });
  const upstream = createUpstreamClient(upstreamConfig, { log, ...(source ? { credentials: source } : {}) });
  const mirror = await startMirrorAppWith(config, { upstream, log });
  cleanups.push(() => mirror.close());
  return {
    up, mirror, users: upOptions.users, logs,
    advance: (ms) => { clock += ms; },
    async get(path) {
      const res = await fetch(`${mirror.url}${path}`);
      return { status: res.status, text: await res.text(), headers: res.headers };
    },
  };
}

/** The logs say something, and none of `secrets`. */
function expectNoSecrets(logs: string[], ...secrets: string[]): void {
  expect(logs.length).toBeGreaterThan(0);
  const text = logs.join('\n');
  for (const secret of secrets) {
    expect(text).not.toContain(secret);
    expect(text).not.toContain(Buffer.from(secret).toString('base64'));
  }
}

function passwordFile(content: string): { file: string; rotate(next: string): void } {
  const dir = mkdtempSync(join(tmpdir(), 'pwfile-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'password');
  writeFileSync(file, content);
  return {
    file,
    // As Kubernetes secret volumes and vault agents rotate: write aside, rename over.
    rotate(next) {
      writeFileSync(join(dir, 'next'), next);
      renameSync(join(dir, 'next'), file);
    },
  };
}

function fakeHelper(): FakeCredentialHelper {
  const helper = createFakeCredentialHelper();
  cleanups.push(() => helper.close());
  return helper;
}

describe('Basic-challenge upstream (ECR, GAR)', () => {
  test('a rotated password file takes effect without a restart; the old password is never sent again', async () => {
    const pw = passwordFile('old-password\n');
    const s = await setup({ auth: 'basic', users: { bot: 'old-password' } }, { kind: 'password_file', username: 'bot', file: pw.file });
    const one = s.up.addImage('team/app', '1', { layers: [Buffer.from('layer one')] });
    s.up.addImage('team/app', '2', { layers: [Buffer.from('layer two')] });

    const r1 = await s.get('/v2/team/app/manifests/1');
    expect(r1.status).toBe(200);
    expect(r1.headers.get('docker-content-digest')).toBe(one.digest);
    expect((await s.get(`/v2/team/app/blobs/${one.layers[0]}`)).text).toBe('layer one');

    // The registry now accepts only the new password, and the file says it.
    s.users['bot'] = 'new-password';
    pw.rotate('new-password\n');
    s.up.reset();
    expect((await s.get('/v2/team/app/manifests/2')).status).toBe(200);
    expect(s.up.count({ kind: 'manifest' })).toBe(1);
    expect(s.up.requests.filter((r) => r.kind === 'manifest').map((r) => r.auth)).toEqual([basic('bot', 'new-password')]);
    expectNoSecrets(s.logs, 'old-password', 'new-password');
  });

  test('a credential helper answer is used for Basic, run once for many requests, and run again once the registry refuses it', async () => {
    const helper = fakeHelper();
    helper.answer('AWS', 'ecr-token-1');
    const s = await setup({ auth: 'basic', users: { AWS: 'ecr-token-1' } }, { kind: 'helper', helper: helper.name }, { env: helper.env });
    const images = ['1', '2', '3', '4'].map((tag) => s.up.addImage('team/app', tag, { layers: [Buffer.from(`layer ${tag}`)] }));

    for (const [i, img] of images.slice(0, 3).entries()) {
      expect((await s.get(`/v2/team/app/manifests/${i + 1}`)).status).toBe(200);
      expect((await s.get(`/v2/team/app/blobs/${img.layers[0]}`)).text).toBe(`layer ${i + 1}`);
    }
    expect(helper.runs()).toHaveLength(1);

    // The token expires upstream before our cache says so: the registry refuses it once,
    // the helper is asked again, the request is retried once with its fresh answer.
    s.users['AWS'] = 'ecr-token-2';
    helper.answer('AWS', 'ecr-token-2');
    s.advance(6_000);
    s.up.reset();
    expect((await s.get('/v2/team/app/manifests/4')).status).toBe(200);
    expect(helper.runs()).toHaveLength(2);
    expect(s.up.requests.filter((r) => r.kind === 'manifest').map((r) => r.auth)).toEqual([
      basic('AWS', 'ecr-token-1'),
      basic('AWS', 'ecr-token-2'),
    ]);
    expectNoSecrets(s.logs, 'ecr-token-1', 'ecr-token-2');
  });
});

describe('credentials the upstream keeps refusing', () => {
  test('cost one retry, never a loop, and do not make every request run the helper', async () => {
    const helper = fakeHelper();
    helper.answer('AWS', 'wrong-ecr-secret');
    const s = await setup({ auth: 'basic', users: { AWS: 'right' } }, { kind: 'helper', helper: helper.name }, { env: helper.env });
    s.up.addImage('team/app', '1', { layers: [Buffer.from('x')] });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await s.get('/v2/team/app/manifests/1')).status);
    expect(statuses.every((x) => x >= 400)).toBe(true);
    // First: anonymous, then the helper's answer; afterwards the answer straight away, once.
    expect(s.up.requests.filter((r) => r.kind === 'manifest').map((r) => r.auth)).toEqual([
      undefined, basic('AWS', 'wrong-ecr-secret'), basic('AWS', 'wrong-ecr-secret'), basic('AWS', 'wrong-ecr-secret'), basic('AWS', 'wrong-ecr-secret'),
    ]);
    expect(helper.runs()).toHaveLength(1);
    expectNoSecrets(s.logs, 'wrong-ecr-secret');
  });
});

describe('Bearer-challenge upstream (Docker Hub, GHCR, Quay, ACR)', () => {
  test('the helper answer is Basic on the token request; a token service refusing it after rotation gets the fresh one', async () => {
    const helper = fakeHelper();
    helper.answer('robot', 'pat-1');
    const s = await setup({ auth: 'token', anonymous: false, users: { robot: 'pat-1' } }, { kind: 'helper', helper: helper.name }, { env: helper.env });
    s.up.addImage('org/app', '1', { layers: [Buffer.from('bearer layer')] });
    s.up.addImage('org/app', '2', { layers: [Buffer.from('bearer layer 2')] });

    expect((await s.get('/v2/org/app/manifests/1')).status).toBe(200);
    const tokenAuth = s.up.requests.filter((r) => r.kind === 'token').map((r) => r.auth);
    expect(tokenAuth).toEqual([basic('robot', 'pat-1')]);

    s.users['robot'] = 'pat-2';
    helper.answer('robot', 'pat-2');
    s.up.revokeTokens();
    s.advance(6_000);
    s.up.reset();
    expect((await s.get('/v2/org/app/manifests/2')).status).toBe(200);
    expect(s.up.requests.filter((r) => r.kind === 'token').map((r) => r.auth)).toEqual([basic('robot', 'pat-1'), basic('robot', 'pat-2')]);
    expect(helper.runs()).toHaveLength(2);
  });

  test('an identity token (helper Username "<token>") is exchanged at the token service as an OAuth2 refresh token', async () => {
    const helper = fakeHelper();
    helper.answer('<token>', 'refresh-abc');
    const s = await setup({ auth: 'token', anonymous: false, users: {}, refreshTokens: ['refresh-abc'] }, { kind: 'helper', helper: helper.name }, { env: helper.env });
    const img = s.up.addImage('org/app', '1', { layers: [Buffer.from('oauth layer')] });
    const r = await s.get('/v2/org/app/manifests/1');
    expect(r.status).toBe(200);
    expect(r.headers.get('docker-content-digest')).toBe(img.digest);
    expect(s.up.requests.filter((x) => x.kind === 'token').map((x) => x.method)).toEqual(['POST']);
  });

  test('a static token goes as Bearer from the first request', async () => {
    const s = await setup({ auth: 'token', anonymous: false, users: {} }, { kind: 'token', token: 'not-issued-here' });
    s.up.addImage('org/app', '1', { layers: [Buffer.from('x')] });
    await s.get('/v2/org/app/manifests/1');
    expect(s.up.requests.find((r) => r.kind === 'manifest')?.auth).toBe('Bearer not-issued-here');
  });
});

describe('a broken credential helper', () => {
  for (const mode of ['fail', 'hang', 'huge'] as const) {
    test(`${mode}: the client gets a clean 502 naming no helper output, and the upstream is not asked`, async () => {
      const helper = fakeHelper();
      helper.mode(mode);
      const s = await setup({ auth: 'basic', users: { AWS: 'x' } }, { kind: 'helper', helper: helper.name }, {
        env: helper.env, helperRun: { timeoutMs: 300 },
      });
      s.up.addImage('team/app', '1', { layers: [Buffer.from('never')] });
      const r = await s.get('/v2/team/app/manifests/1');
      expect(r.status).toBe(502);
      expect(JSON.parse(r.text).errors[0].code).toBe('UPSTREAM_UNAVAILABLE');
      expect(r.text).toContain('credentials unavailable');
      expect(r.text).not.toContain(helper.stderrMarker);
      expect(r.text).not.toContain('hunter2');
      expect(r.text).not.toContain('docker-credential');
      expect(s.up.count({ kind: 'manifest' })).toBe(0);
      // Failures are remembered for a few seconds: a burst of pulls runs the helper once.
      await s.get('/v2/team/app/manifests/1');
      expect(helper.runs()).toHaveLength(1);
    }, 10_000);
  }
});
