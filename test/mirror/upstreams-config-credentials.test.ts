/**
 * Issue 10, config to wire: an `upstreams` entry given as operators give it (MIRROR_UPSTREAMS
 * JSON) with `username` + `password_file` reaches a Basic-challenge registry (as ECR and GAR
 * are) with that password, and a rotated file takes effect without a restart.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';

const HOST = 'registry.lab.example';
let hub: FakeUpstream;
let lab: FakeUpstream;
let mirror: MirrorApp;
let dir: string;
/** The lab registry's users: mutated to rotate the password. */
const users: Record<string, string> = { ci: 'first-secret' };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'upstream-creds-'));
  writeFileSync(join(dir, 'lab-password'), 'first-secret\n');
  [hub, lab] = await Promise.all([startFakeUpstream(), startFakeUpstream({ auth: 'basic', users })]);
  mirror = await startMirrorApp(hub.url, {
    MIRROR_UPSTREAMS: JSON.stringify([{ name: HOST, url: lab.url, username: 'ci', password_file: join(dir, 'lab-password') }]),
  });
});
afterAll(async () => {
  await mirror?.close();
  await Promise.all([hub?.close(), lab?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const pull = async (tag: string) => {
  const res = await request(`${mirror.url}/v2/${HOST}/team/app/manifests/${tag}`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
  });
  await res.body.dump();
  return { status: res.statusCode, digest: res.headers['docker-content-digest'] };
};

test('the password file of an upstreams entry is sent as Basic; a rotated file is used without a restart', async () => {
  const one = lab.addImage('team/app', '1', { layers: [randomBytes(512)] });
  expect(await pull('1')).toEqual({ status: 200, digest: one.digest });

  // The registry rotates the secret; the operator's secret store rewrites the file.
  users.ci = 'second-secret';
  writeFileSync(join(dir, 'lab-password'), 'second-secret\n');
  const two = lab.addImage('team/app', '2', { layers: [randomBytes(512)] });
  expect(await pull('2')).toEqual({ status: 200, digest: two.digest });
  // Nothing reached the default upstream: the host prefix picked the lab registry.
  expect(hub.count({ kind: 'manifest' })).toBe(0);
});

test('a wrong password in the file is a clean upstream error, not a crash, and names no file', async () => {
  writeFileSync(join(dir, 'lab-password'), 'wrong\n');
  lab.addImage('team/app', '3', { layers: [randomBytes(512)] });
  const res = await request(`${mirror.url}/v2/${HOST}/team/app/manifests/3`);
  const body = await res.body.text();
  expect(res.statusCode).toBeGreaterThanOrEqual(400);
  expect(body).not.toContain(dir);
  expect(body).not.toContain('wrong');
  expect(JSON.parse(body)).toHaveProperty('errors');
});
