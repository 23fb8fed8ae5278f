/**
 * Console actions (issue 12, part C): deleting a local tag or manifest and evicting a
 * cached image. Each GET is a confirmation that changes nothing; each POST does it through
 * the same code as the registry API, behind the CSRF step, with the rights checked again.
 * Plain HTTP with session cookies from POST /ui/sign-in, against an in-process mirror and
 * the fake upstream.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { startFakeUpstream, type FakeImage, type FakeUpstream } from '../helpers/fake-upstream.js';
import { makeHtpasswd } from '../helpers/htpasswd.js';
import { startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';
import { basicAuth, createOciClient, MT, type OciClient, type PushedImage } from '../helpers/oci-client.js';
import { signIn, visitor, type Session } from './housekeeping-helpers.js';

const RULES = [
  { repository: 'team/*', pull: ['*'], push: ['admin', 'dev'], delete: ['admin', 'dev'] },
  { repository: 'team-b/*', pull: ['*'], push: ['admin'], delete: ['admin'] },
];
const ALPINE = 'docker.io/library/alpine';

let up: FakeUpstream;
let mirror: MirrorApp;
let users: ReturnType<typeof makeHtpasswd>;
let api: OciClient;
let alpine: FakeImage;
let v1: PushedImage;
let teamB: PushedImage;

beforeEach(async () => {
  up = await startFakeUpstream();
  users = makeHtpasswd({ admin: 'admin-pw', dev: 'dev-pw', reader: 'reader-pw' });
  mirror = await startMirrorApp(up.url, {
    MIRROR_LOCAL_NAMESPACES: 'team/*,team-b/*', MIRROR_AUTH_HTPASSWD: users.file, MIRROR_AUTH_ADMINS: 'admin',
    MIRROR_AUTH_RULES: JSON.stringify(RULES),
  });
  api = createOciClient(mirror.url, basicAuth('admin', 'admin-pw'));
  v1 = await api.pushImage('team/app', 'v1');
  await api.pushManifest('team/app', 'v1-alias', v1.manifest, MT.manifest);
  await api.pushImage('team/app', 'v2');
  teamB = await api.pushImage('team-b/app', 'v1');
  alpine = up.addImage('library/alpine', '3.19', { layers: [randomBytes(3000), randomBytes(5000)] });
  await pull('library/alpine', '3.19', alpine);
});
afterEach(async () => {
  await mirror.close();
  await up.close();
  users.remove();
});

/** Pulls an image through the mirror as a client does (anonymous pulls of mirrored content are allowed). */
async function pull(repo: string, tag: string, img: FakeImage) {
  const anon = createOciClient(mirror.url);
  expect((await anon.call(`/v2/${repo}/manifests/${tag}`, { headers: { accept: MT.manifest } })).status).toBe(200);
  for (const d of [img.config, ...img.layers]) expect((await anon.call(`/v2/${repo}/blobs/${d}`)).status).toBe(200);
}

/** The manifest's status through the registry API, as a client with pull rights sees it. */
const manifestStatus = async (repo: string, ref: string) => (await api.call(`/v2/${repo}/manifests/${ref}`, { method: 'HEAD', headers: { accept: MT.manifest } })).status;
const cached = () => new Set(mirror.blobFiles().map((f) => `sha256:${f.split('/').pop()}`));
const q = (params: Record<string, string>) => new URLSearchParams(params).toString();
const deleteTagUrl = (repository: string, tag: string) => `/ui/actions/delete-tag?${q({ repository, tag })}`;
const deleteManifestUrl = (repository: string, digest: string) => `/ui/actions/delete-manifest?${q({ repository, digest })}`;
const evictUrl = (repository: string, reference: string) => `/ui/actions/evict?${q({ repository, reference })}`;

describe('delete a local tag', () => {
  test('GET confirms (the tag, its digest, the other tags on it) and changes nothing; POST deletes it as the API does', async () => {
    const dev = await signIn(mirror.url, 'dev', 'dev-pw');
    const page = await dev.get(deleteTagUrl('team/app', 'v1'));
    expect(page.status).toBe(200);
    expect(page.h1).toBe('Delete tag team/app:v1?');
    expect(page.body).toContain(`title="${v1.descriptor.digest}"`);
    expect(page.body).toContain('<code>v1-alias</code>');
    expect(page.body).toMatch(/<form method="post" action="\/ui\/actions\/delete-tag\?repository=team%2Fapp&amp;tag=v1"/);
    expect(page.body).toMatch(/<button type="submit"[^>]*>Delete<\/button>/);
    expect(page.body).toContain('>Cancel</a>');
    expect(await manifestStatus('team/app', 'v1')).toBe(200);

    const events: unknown[] = [];
    mirror.events.on('tag.deleted', (e) => events.push(e));
    const done = await dev.post(deleteTagUrl('team/app', 'v1'));
    expect(done.status).toBe(200);
    expect(done.notice).toBe(`Deleted tag v1 of team/app (it pointed at ${v1.descriptor.digest.slice(0, 19)}).`);
    expect(done.body).toContain('href="/ui/repositories/team/app"');
    expect(events).toEqual([expect.objectContaining({ repository: 'team/app', tag: 'v1', actor: 'dev' })]);
    expect(await manifestStatus('team/app', 'v1')).toBe(404);
    expect(await manifestStatus('team/app', 'v1-alias')).toBe(200);
    expect(await manifestStatus('team/app', v1.descriptor.digest)).toBe(200);
  });

  test('a tag that does not exist: 404, and POSTing it again after a delete: 404', async () => {
    const dev = await signIn(mirror.url, 'dev', 'dev-pw');
    expect((await dev.get(deleteTagUrl('team/app', 'nope'))).status).toBe(404);
    expect((await dev.post(deleteTagUrl('team/app', 'v2'))).status).toBe(200);
    expect((await dev.post(deleteTagUrl('team/app', 'v2'))).status).toBe(404);
  });
});

describe('delete a local manifest', () => {
  test('GET lists the tags that go with it and changes nothing; POST deletes it by digest as the API does', async () => {
    const dev = await signIn(mirror.url, 'dev', 'dev-pw');
    const digest = v1.descriptor.digest;
    const page = await dev.get(deleteManifestUrl('team/app', digest));
    expect(page.status).toBe(200);
    expect(page.h1).toBe(`Delete team/app@${digest}?`);
    expect(page.body).toContain('<code>v1</code>');
    expect(page.body).toContain('<code>v1-alias</code>');
    expect(page.body).not.toContain('<code>v2</code>');
    expect(await manifestStatus('team/app', digest)).toBe(200);

    const events: unknown[] = [];
    mirror.events.on('manifest.deleted', (e) => events.push(e));
    const done = await dev.post(deleteManifestUrl('team/app', digest));
    expect(done.status).toBe(200);
    expect(events).toEqual([expect.objectContaining({ repository: 'team/app', digest, actor: 'dev' })]);
    expect(done.notice).toContain('with 2 tags');
    expect(await manifestStatus('team/app', digest)).toBe(404);
    expect(await manifestStatus('team/app', 'v1')).toBe(404);
    expect(await manifestStatus('team/app', 'v1-alias')).toBe(404);
    expect(await manifestStatus('team/app', 'v2')).toBe(200);
  });
});

describe('evict a cached image', () => {
  test('GET lists the manifests and blobs that would go with their sizes, changing nothing; POST evicts; the next pull fetches it again', async () => {
    const admin = await signIn(mirror.url, 'admin', 'admin-pw');
    const page = await admin.get(evictUrl(ALPINE, '3.19'));
    expect(page.status).toBe(200);
    expect(page.h1).toBe(`Evict ${ALPINE}:3.19?`);
    expect(page.body).toContain(`title="${alpine.digest}"`);
    for (const d of [alpine.config, ...alpine.layers]) expect(page.body).toContain(`title="${d}"`);
    expect(page.body).toContain('title="3,000 bytes"');
    expect(page.body).toMatch(/<button type="submit"[^>]*>Evict<\/button>/);
    for (const d of [alpine.config, ...alpine.layers]) expect(cached().has(d)).toBe(true);

    const done = await admin.post(evictUrl(ALPINE, '3.19'));
    expect(done.status).toBe(200);
    expect(done.notice).toMatch(/^Evicted 1 manifest and 3 blobs, [\d.]+ KiB freed\.$/);
    for (const d of [alpine.config, ...alpine.layers]) expect(cached().has(d)).toBe(false);
    const before = up.count({ kind: 'manifest', method: 'GET' });
    await pull('library/alpine', '3.19', alpine);
    expect(up.count({ kind: 'manifest', method: 'GET' })).toBe(before + 1);
  });

  test('by digest; an image not in the cache is a 404', async () => {
    const admin = await signIn(mirror.url, 'admin', 'admin-pw');
    expect((await admin.get(evictUrl(ALPINE, `sha256:${'0'.repeat(64)}`))).status).toBe(404);
    expect((await admin.get(evictUrl(ALPINE, 'latest'))).status).toBe(404);
    expect((await admin.post(evictUrl(ALPINE, alpine.digest))).status).toBe(200);
    expect((await admin.get(evictUrl(ALPINE, alpine.digest))).status).toBe(404);
  });
});

describe('refusals change nothing', () => {
  const tagAndImageStay = async () => {
    expect(await manifestStatus('team/app', 'v1')).toBe(200);
    for (const d of [alpine.config, ...alpine.layers]) expect(cached().has(d)).toBe(true);
  };

  test('POST without a CSRF token, with a wrong one, with a foreign Origin: 403', async () => {
    const dev = await signIn(mirror.url, 'dev', 'dev-pw');
    const admin = await signIn(mirror.url, 'admin', 'admin-pw');
    expect((await dev.post(deleteTagUrl('team/app', 'v1'), { csrf: undefined })).status).toBe(403);
    expect((await dev.post(deleteTagUrl('team/app', 'v1'), { csrf: 'x'.repeat(43) })).status).toBe(403);
    // Another session's token does not fit this cookie.
    expect((await dev.post(deleteTagUrl('team/app', 'v1'), { csrf: admin.csrf })).status).toBe(403);
    expect((await dev.post(deleteTagUrl('team/app', 'v1'), {}, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await admin.post(evictUrl(ALPINE, '3.19'), { csrf: undefined })).status).toBe(403);
    expect((await admin.post(evictUrl(ALPINE, '3.19'), {}, { origin: 'http://127.0.0.1:1' })).status).toBe(403);
    await tagAndImageStay();
  });

  test('evicting is for admins only: a user with delete rights, a pull-only user, an anonymous visitor get 403', async () => {
    for (const who of [await signIn(mirror.url, 'dev', 'dev-pw'), await signIn(mirror.url, 'reader', 'reader-pw'), await visitor(mirror.url)]) {
      expect((await who.get(evictUrl(ALPINE, '3.19'))).status).toBe(403);
      const refused = await who.post(evictUrl(ALPINE, '3.19'));
      expect(refused.status).toBe(403);
      expect(refused.h1).toBe('Not allowed');
    }
    await tagAndImageStay();
  });

  test('delete rights on team/* do not reach team-b/*; a pull-only user and an anonymous visitor may not delete', async () => {
    const dev = await signIn(mirror.url, 'dev', 'dev-pw');
    expect((await dev.get(deleteTagUrl('team-b/app', 'v1'))).status).toBe(403);
    expect((await dev.post(deleteTagUrl('team-b/app', 'v1'))).status).toBe(403);
    expect((await dev.post(deleteManifestUrl('team-b/app', teamB.descriptor.digest))).status).toBe(403);
    expect(await manifestStatus('team-b/app', 'v1')).toBe(200);
    for (const who of [await signIn(mirror.url, 'reader', 'reader-pw'), await visitor(mirror.url)]) {
      expect((await who.get(deleteTagUrl('team/app', 'v1'))).status).toBe(403);
      expect((await who.post(deleteTagUrl('team/app', 'v1'))).status).toBe(403);
      expect((await who.post(deleteManifestUrl('team/app', v1.descriptor.digest))).status).toBe(403);
    }
    await tagAndImageStay();
  });

  test('hostile input: a 4xx page, nothing changed', async () => {
    const admin = await signIn(mirror.url, 'admin', 'admin-pw');
    const cases: Array<[string, number]> = [
      [deleteManifestUrl('team/app', 'sha256:nothex'), 400],
      [deleteManifestUrl('team/app', 'md5:abc'), 400],
      [deleteManifestUrl('team/nothing', v1.descriptor.digest), 404],
      [deleteTagUrl('team/nothing', 'v1'), 404],
      [deleteTagUrl('team/app', '-bad tag-'), 400],
      [deleteTagUrl(ALPINE, '3.19'), 400],
      [deleteManifestUrl(ALPINE, alpine.digest), 400],
      [evictUrl('team/app', 'v1'), 400],
      [evictUrl(ALPINE, 'sha256:short'), 400],
      [evictUrl(ALPINE, '../../etc'), 400],
      [evictUrl('ghcr.io/owner/app', 'v1'), 404],
      [deleteTagUrl('Team/App', 'v1'), 400],
      [deleteTagUrl('team/app', ''), 400],
      ['/ui/actions/delete-tag?tag=v1', 400],
      ['/ui/actions/evict', 400],
      [deleteTagUrl(`team/${'a'.repeat(5000)}`, 'v1'), 400],
      [evictUrl(ALPINE, 'x'.repeat(5000)), 400],
    ];
    for (const [url, status] of cases) {
      const get = await admin.get(url);
      expect(get.status, `GET ${url.slice(0, 120)}`).toBe(status);
      expect(get.body).toContain('<p class="notice error" role="alert">');
      expect((await admin.post(url)).status, `POST ${url.slice(0, 120)}`).toBe(status);
    }
    await tagAndImageStay();
    expect(await manifestStatus('team-b/app', 'v1')).toBe(200);
  });
});
