/**
 * The housekeeping page (issue 12, part C): retention settings, prune (a dry-run preview,
 * then the prune) and warm-up (confirmation, a background run, its progress page). Admins
 * only; every POST behind the CSRF step. Plain HTTP with session cookies, against an
 * in-process mirror and the fake upstream.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { createFsBlobStore } from '../../src/storage/fs-blob-store.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { startFakeUpstream, type FakeImage, type FakeUpstream } from '../helpers/fake-upstream.js';
import { makeHtpasswd } from '../helpers/htpasswd.js';
import { mirrorAppConfig, startMirrorAppWith, type MirrorApp } from '../helpers/mirror-app.js';
import { basicAuth, createOciClient, eventually, MT } from '../helpers/oci-client.js';
import { signIn, visitor, type Session } from './housekeeping-helpers.js';

const DAY = 86_400_000;

let up: FakeUpstream;
let mirror: MirrorApp;
let users: ReturnType<typeof makeHtpasswd>;
let alpine: FakeImage;
let busybox: FakeImage;
let admin: Session;
/** Set by a test to hold blob deletions until it resolves (the 409 test). */
let holdDeletes: Promise<void> | undefined;
let deleteStarted: () => void = () => {};

beforeEach(async () => {
  up = await startFakeUpstream();
  users = makeHtpasswd({ admin: 'admin-pw', dev: 'dev-pw' });
  const config = mirrorAppConfig(up.url, {
    MIRROR_LOCAL_NAMESPACES: 'team/*', MIRROR_AUTH_HTPASSWD: users.file, MIRROR_AUTH_ADMINS: 'admin',
    MIRROR_STORAGE_MAX_SIZE: '10GiB', MIRROR_STORAGE_MAX_AGE: '30d',
  });
  // The file store, with deletions a test can hold (a prune that is still running).
  const real = await createFsBlobStore(config.storage.path);
  const store = new Proxy(real, {
    get(target, key) {
      if (key === 'delete') {
        return async (digest: string) => {
          deleteStarted();
          await holdDeletes;
          return target.delete(digest);
        };
      }
      const v = Reflect.get(target, key) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as BlobStore;
  mirror = await startMirrorAppWith(config, { store });
  alpine = up.addImage('library/alpine', '3.19', { layers: [randomBytes(3000), randomBytes(5000)] });
  busybox = up.addImage('library/busybox', '1', { layers: [randomBytes(7000)] });
  await pull('library/alpine', '3.19', alpine);
  await createOciClient(mirror.url, basicAuth('admin', 'admin-pw')).pushImage('team/app', 'v1');
  admin = await signIn(mirror.url, 'admin', 'admin-pw');
});
afterEach(async () => {
  holdDeletes = undefined;
  await mirror.close();
  await up.close();
  users.remove();
});

async function pull(repo: string, tag: string, img: FakeImage) {
  const anon = createOciClient(mirror.url);
  expect((await anon.call(`/v2/${repo}/manifests/${tag}`, { headers: { accept: MT.manifest } })).status).toBe(200);
  for (const d of [img.config, ...img.layers]) expect((await anon.call(`/v2/${repo}/blobs/${d}`)).status).toBe(200);
}

const cached = () => new Set(mirror.blobFiles().map((f) => `sha256:${f.split('/').pop()}`));
const alpineBlobs = () => [alpine.config, ...alpine.layers];
const pruneUrl = (max_size: string, older_than: string) => `/ui/housekeeping/prune?${new URLSearchParams({ max_size, older_than })}`;
const warmUrl = (images: string, platforms = '') => `/ui/housekeeping/warm?${new URLSearchParams({ images, platforms })}`;

describe('the housekeeping page', () => {
  test('admins see the retention settings, the prune and warm-up forms, and the CLI equivalents', async () => {
    const page = await admin.get('/ui/housekeeping');
    expect(page.status).toBe(200);
    expect(page.h1).toBe('Housekeeping');
    expect(page.body).toContain('<span title="10,737,418,240 bytes">10.0\u00a0GiB</span>');
    expect(page.body).toMatch(/<dt>Maximum age \(storage.max_age\)<\/dt><dd>30d<\/dd>/);
    expect(page.body).toContain('none since the server started');
    expect(page.body).toMatch(/<label for="max_size">Keep at most<\/label><input id="max_size" name="max_size"[^>]*value="10GiB"/);
    expect(page.body).toMatch(/<label for="older_than">Evict what was not pulled for<\/label><input id="older_than" name="older_than"[^>]*value="30d"/);
    expect(page.body).toMatch(/<form method="get" action="\/ui\/housekeeping\/prune" class="card hk"[\s\S]*?<button type="submit">Preview<\/button>/);
    expect(page.body).toMatch(/<label for="images">Images<\/label><textarea id="images" name="images"/);
    expect(page.body).toContain('registry-mirror prune --max-size 10GiB --older-than 30d --dry-run');
    expect(page.body).toContain('href="/ui/housekeeping" aria-current="page"');
  });

  test('anyone else gets 403: a signed-in user without admin rights, an anonymous visitor', async () => {
    for (const who of [await signIn(mirror.url, 'dev', 'dev-pw'), await visitor(mirror.url)]) {
      for (const path of ['/ui/housekeeping', pruneUrl('1', ''), warmUrl('docker.io/library/busybox:1')]) {
        const page = await who.get(path);
        expect(page.status, path).toBe(403);
        expect(page.h1).toBe('Not allowed');
      }
    }
  });
});

describe('prune', () => {
  test('the preview lists the blobs that would go (with their repositories) and changes nothing; Prune evicts them', async () => {
    const page = await admin.get(pruneUrl('1', ''));
    expect(page.status).toBe(200);
    expect(page.h1).toBe('Prune the cache?');
    expect(text(page.body)).toMatch(/3 blobs \([\d.]+ KiB\) would be evicted/);
    for (const d of alpineBlobs()) expect(page.body).toMatch(new RegExp(`<td>docker.io/library/alpine</td><td><code class="digest" title="${d}"`));
    expect(page.body).toMatch(/<form method="post" action="\/ui\/housekeeping\/prune"[\s\S]*name="max_size" value="1"[\s\S]*>Prune<\/button>/);
    expect(page.body).toContain('registry-mirror prune --max-size 1 --dry-run');
    for (const d of alpineBlobs()) expect(cached().has(d)).toBe(true);

    const evicted: string[] = [];
    mirror.events.on('blob.evicted', (e) => evicted.push((e as { digest: string }).digest));
    const done = await admin.post('/ui/housekeeping/prune', { max_size: '1', older_than: '' });
    expect(done.status).toBe(200);
    expect(done.notice).toMatch(/^Evicted 3 blobs, [\d.]+ KiB freed; [\d.]+ (B|KiB) remain\.$/);
    for (const d of alpineBlobs()) expect(cached().has(d)).toBe(false);
    expect(evicted.sort()).toEqual(alpineBlobs().sort());
    // Pushed content is never a candidate.
    expect(cached().size).toBeGreaterThan(0);
  });

  test('by age: nothing while recently pulled (no Prune button); everything mirrored once idle long enough', async () => {
    const fresh = await admin.get(pruneUrl('', '30d'));
    expect(fresh.status).toBe(200);
    expect(fresh.notice).toBe('Nothing to evict.');
    expect(fresh.body).not.toContain('>Prune</button>');
    mirror.advance(31 * DAY);
    admin = await signIn(mirror.url, 'admin', 'admin-pw'); // the session has expired meanwhile
    const idle = await admin.get(pruneUrl('', '30d'));
    expect(text(idle.body)).toContain('what was not pulled for 30d: 3 blobs');
    expect((await admin.post('/ui/housekeeping/prune', { max_size: '', older_than: '30d' })).notice).toMatch(/^Evicted 3 blobs/);
  });

  test('a blob pulled a moment ago counts as pulled, though its access is not yet written: kept', async () => {
    mirror.advance(31 * DAY);
    // Pulled again now: the access is noted in memory, written by the next flush.
    await pull('library/alpine', '3.19', alpine);
    admin = await signIn(mirror.url, 'admin', 'admin-pw');
    const preview = await admin.get(pruneUrl('', '30d'));
    expect(preview.notice).toBe('Nothing to evict.');
    await admin.post('/ui/housekeeping/prune', { max_size: '', older_than: '30d' });
    for (const d of alpineBlobs()) expect(cached().has(d), d).toBe(true);
  });

  test('one prune at a time: while one runs, another (or a preview) gets 409', async () => {
    let release!: () => void;
    holdDeletes = new Promise((r) => { release = r; });
    const started = new Promise<void>((r) => { deleteStarted = r; });
    const first = admin.post('/ui/housekeeping/prune', { max_size: '1', older_than: '' });
    await started;
    const second = await admin.post('/ui/housekeeping/prune', { max_size: '1', older_than: '' });
    expect(second.status).toBe(409);
    expect(second.notice).toContain('a prune is running');
    expect((await admin.get(pruneUrl('1', ''))).status).toBe(409);
    release();
    expect((await first).status).toBe(200);
    expect((await admin.get(pruneUrl('1', ''))).status).toBe(200);
  });

  test('refused: without or with a wrong CSRF token, a foreign Origin, a non-admin; nothing evicted', async () => {
    const dev = await signIn(mirror.url, 'dev', 'dev-pw');
    const fields = { max_size: '1', older_than: '' };
    expect((await admin.post('/ui/housekeeping/prune', { ...fields, csrf: undefined })).status).toBe(403);
    expect((await admin.post('/ui/housekeeping/prune', { ...fields, csrf: dev.csrf })).status).toBe(403);
    expect((await admin.post('/ui/housekeeping/prune', fields, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await dev.post('/ui/housekeeping/prune', fields)).status).toBe(403);
    expect((await (await visitor(mirror.url)).post('/ui/housekeeping/prune', fields)).status).toBe(403);
    for (const d of alpineBlobs()) expect(cached().has(d)).toBe(true);
  });

  test('hostile values: a 400 page, nothing evicted', async () => {
    const cases: Array<[string, string]> = [
      ['', ''], ['0', '0'], ['abc', ''], ['', 'forever'], ['-1', ''], ['1e3', ''],
      [`${'9'.repeat(30)}GiB`, ''], ['9'.repeat(5000), ''], ['', `${'9'.repeat(20)}d`], ['1', 'x'.repeat(100)],
    ];
    for (const [max, older] of cases) {
      const page = await admin.get(pruneUrl(max, older));
      expect(page.status, `${max.slice(0, 40)} ${older.slice(0, 40)}`).toBe(400);
      expect(page.body).toContain('<p class="notice error" role="alert">');
      expect((await admin.post('/ui/housekeeping/prune', { max_size: max, older_than: older })).status).toBe(400);
    }
    for (const d of alpineBlobs()) expect(cached().has(d)).toBe(true);
  });
});

describe('warm-up', () => {
  const busyboxCached = () => [busybox.config, ...busybox.layers].every((d) => cached().has(d));

  test('the confirmation lists the images and starts nothing; Start warm-up runs it in the background, its page shows the summary', async () => {
    const page = await admin.get(warmUrl('docker.io/library/busybox:1\r\n\r\n  docker.io/library/alpine:3.19  '));
    expect(page.status).toBe(200);
    expect(page.h1).toBe('Warm up 2 images?');
    expect(page.body).toContain('<li><code>docker.io/library/busybox:1</code></li>');
    expect(page.body).toMatch(/<form method="post" action="\/ui\/housekeeping\/warm"[\s\S]*<button type="submit">Start warm-up<\/button>/);
    expect(up.count({ repo: 'library/busybox' })).toBe(0);

    up.faults.delayMs = 300;
    const started = await admin.post('/ui/housekeeping/warm', { images: 'docker.io/library/busybox:1\ndocker.io/library/alpine:3.19', platforms: '' });
    expect(started.status).toBe(303);
    expect(started.location).toMatch(/^\/ui\/housekeeping\/warm\/[0-9a-f]{16}$/);
    // Running: the progress fragment polls every 2 s; a second run is refused meanwhile.
    const running = await admin.get(`${started.location}/progress`);
    expect(running.status).toBe(200);
    expect(running.body).toMatch(/<div id="warm-progress" aria-live="polite" hx-get="\/ui\/housekeeping\/warm\/[0-9a-f]{16}\/progress" hx-trigger="every 2s" hx-swap="outerHTML">/);
    expect(running.body).not.toContain('<html');
    expect((await admin.post('/ui/housekeeping/warm', { images: 'docker.io/library/busybox:1' })).status).toBe(409);
    up.faults.delayMs = 0;

    expect(await eventually(async () => (await admin.get(started.location)).body.includes('Done: '), 10_000)).toBe(true);
    const done = await admin.get(started.location);
    expect(done.h1).toBe('Warm-up');
    expect(text(done.body)).toContain('Done: 2 of 2 images warmed, 0 failed');
    expect(done.notice).toMatch(/^Warmed 2 images of 2: 2 manifests read, 2 blobs fetched \([\d.]+ KiB\), 3 blobs already cached\.$/);
    expect(done.body).not.toContain('hx-trigger');
    expect(busyboxCached()).toBe(true);
    // The housekeeping page links the run.
    expect((await admin.get('/ui/housekeeping')).body).toContain(`href="${started.location}"`);
  });

  test('lines that are not images the mirror pulls are listed as errors: 400, nothing started', async () => {
    const bad = 'Not An Image\ndocker.io/library/alpine:bad!tag\nghcr.io/owner/app:1\ndocker.io/library/busybox:1';
    const page = await admin.get(warmUrl(bad));
    expect(page.status).toBe(400);
    expect(page.body).toContain('<li>&quot;Not An Image&quot; is not an image reference</li>');
    expect(page.body).toMatch(/<li>"?ghcr.io\/owner\/app:1"?: NAME_UNKNOWN: no upstream configured for ghcr.io<\/li>/);
    expect(page.body).toContain('invalid tag');
    expect(page.body).not.toContain('Start warm-up');
    expect((await admin.post('/ui/housekeeping/warm', { images: bad })).status).toBe(400);
    expect((await admin.get(warmUrl('docker.io/library/busybox:1', 'linux'))).status).toBe(400);
    expect(up.count({ repo: 'library/busybox' })).toBe(0);
  });

  test('hostile input: 1,000 references, an empty list, unknown run ids → 4xx, nothing started', async () => {
    const before = up.requests.length;
    const many = Array.from({ length: 1000 }, (_, i) => `a:${i}`).join('\n');
    const page = await admin.get(warmUrl(many));
    expect(page.status).toBe(400);
    expect(page.notice).toContain('at most 50 images at a time (the list has 1000)');
    expect((await admin.post('/ui/housekeeping/warm', { images: many })).status).toBe(400);
    expect((await admin.post('/ui/housekeeping/warm', { images: '\n \n' })).status).toBe(400);
    expect((await admin.post('/ui/housekeeping/warm', { images: 'x'.repeat(20_000) })).status).toBe(413);
    for (const id of ['0123456789abcdef', '../../etc/passwd', 'x'.repeat(300)]) {
      expect((await admin.get(`/ui/housekeeping/warm/${encodeURIComponent(id)}`)).status).toBe(404);
      expect((await admin.get(`/ui/housekeeping/warm/${encodeURIComponent(id)}/progress`)).status).toBe(404);
    }
    expect(up.requests.length).toBe(before);
  });

  test('refused: a non-admin, no CSRF token, a foreign Origin; nothing fetched', async () => {
    const dev = await signIn(mirror.url, 'dev', 'dev-pw');
    const fields = { images: 'docker.io/library/busybox:1' };
    expect((await dev.post('/ui/housekeeping/warm', fields)).status).toBe(403);
    expect((await (await visitor(mirror.url)).post('/ui/housekeeping/warm', fields)).status).toBe(403);
    expect((await admin.post('/ui/housekeeping/warm', { ...fields, csrf: undefined })).status).toBe(403);
    expect((await admin.post('/ui/housekeeping/warm', fields, { origin: 'https://evil.example' })).status).toBe(403);
    await new Promise((r) => setTimeout(r, 200));
    expect(up.count({ repo: 'library/busybox' })).toBe(0);
    expect(busyboxCached()).toBe(false);
  });
});

const text = (html: string) => html.replace(/<[^>]*>/g, '').replace(/\s+/g, ' ');
