/**
 * Issue 12, part A: the overview (/ui/) over HTTP, black-box — its figures after pulls
 * through the mirror, the charts' series JSON, the live sections (fills in progress,
 * upstreams, recent errors) and who may see them.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sessionCookie } from '../helpers/console.js';
import { startFakeUpstream, type FakeImage, type FakeUpstream } from '../helpers/fake-upstream.js';
import { makeHtpasswd } from '../helpers/htpasswd.js';
import { startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';
import { eventually } from '../helpers/oci-client.js';

interface Page { status: number; body: string; type: string }

async function get(base: string, path: string, cookie?: string): Promise<Page> {
  const res = await request(`${base}${path}`, { headers: cookie ? { cookie } : {} });
  return { status: res.statusCode, body: await res.body.text(), type: String(res.headers['content-type'] ?? '') };
}

/** The figure labelled `label`: its dd's inner HTML. */
function figure(html: string, label: string): string {
  const m = new RegExp(`<dt>${label}</dt><dd>(.*?)</dd>`).exec(html);
  if (!m) throw new Error(`no figure ${label}`);
  return m[1]!;
}
/** The byte count a <Bytes> carries in its title ("1,234 bytes"). */
const titleBytes = (html: string) => Number(/title="([\d,]+) bytes"/.exec(html)![1]!.replace(/,/g, ''));


describe('the overview for an admin (loopback, no users)', () => {
  let up: FakeUpstream;
  let mirror: MirrorApp;
  let image: FakeImage;
  const layers = [randomBytes(1500), randomBytes(2500)];
  let blobBytes = 0;

  beforeAll(async () => {
    up = await startFakeUpstream();
    image = up.addImage('library/app', 'latest', { layers });
    // No eager prefetch: every byte fetched below is the test's own pull, so the figures are exact.
    mirror = await startMirrorApp(up.url, { MIRROR_UPSTREAM_PREFETCH: '0', MIRROR_UPSTREAM_TIMEOUT: '2s', MIRROR_STORAGE_MAX_SIZE: '1MiB' });
  });
  afterAll(async () => {
    await mirror?.close();
    await up?.close();
  });

  async function pull(): Promise<void> {
    const m = await request(`${mirror.url}/v2/library/app/manifests/latest`, { headers: { accept: image.mediaType } });
    expect(m.statusCode).toBe(200);
    await m.body.arrayBuffer();
    for (const d of [image.config, ...image.layers]) {
      const b = await request(`${mirror.url}/v2/library/app/blobs/${d}`);
      expect(b.statusCode).toBe(200);
      await b.body.arrayBuffer();
    }
  }

  test('the figures change after pulls: disk used is the blob bytes pulled, hit ratio, bandwidth saved, pulls', async () => {
    const before = await get(mirror.url, '/ui/');
    expect(before.status).toBe(200);
    expect(before.body).toMatch(/<dl class="figures"><div class="figure"><dt>Disk used<\/dt>/);
    expect(titleBytes(figure(before.body, 'Disk used'))).toBe(0);
    expect(figure(before.body, 'Hit ratio')).toContain('–');

    await pull();
    await pull();
    const cfg = (await request(`${mirror.url}/v2/library/app/blobs/${image.config}`));
    blobBytes = layers[0]!.length + layers[1]!.length + Buffer.from(await cfg.body.arrayBuffer()).length;

    const after = await get(mirror.url, '/ui/');
    const disk = figure(after.body, 'Disk used');
    expect(titleBytes(disk)).toBe(blobBytes);
    expect(disk).toMatch(/<meter [^>]*max="1048576"[^>]*value="\d+"/);
    // Pulled twice, plus the config once more: 1 manifest + 3 blobs missed, 1 + 3 + 1 hit.
    expect(figure(after.body, 'Hit ratio')).toContain('55.6\u00a0%');
    expect(titleBytes(figure(after.body, 'Bandwidth saved'))).toBe(blobBytes + (blobBytes - layers[0]!.length - layers[1]!.length));
    expect(figure(after.body, 'Pulls')).toContain('<span>9</span>');
    expect(figure(after.body, 'Repositories')).toBe('1');
    expect(figure(after.body, 'Blobs')).toMatch(/^3<small>/);
    // The charts: figures with captions and the totals as text; uPlot and charts.js are loaded here.
    expect(after.body).toMatch(/<figure><figcaption>Pulls by cache result, last hour \(per minute\)<\/figcaption>/);
    expect(after.body).toContain('Hits 5, revalidated 0, stale 0, misses 4.');
    expect(after.body).toMatch(/<script src="\/ui\/assets\/charts\.[0-9a-f]{12}\.js" defer=""><\/script>/);
    expect(after.body).toMatch(/aria-label="Pulls by cache result, last hour: Hits 5/);
    for (const title of ['Fills in progress', 'Upstreams', 'Recent errors']) {
      expect(after.body).toMatch(new RegExp(`<section id="\\w+" aria-labelledby="(\\w+)-h" hx-get="/ui/overview/\\1" hx-trigger="every 2s" hx-swap="outerHTML"><h2 id="\\1-h">${title}</h2>`));
    }
  });

  test('the series JSON of each range: shape and totals match the pulls', async () => {
    const config = blobBytes - layers[0]!.length - layers[1]!.length;
    for (const [range, steps] of [['hour', undefined], ['day', 24], ['week', 168]] as const) {
      const res = await get(mirror.url, `/ui/overview/series?range=${range}`);
      expect(res.status).toBe(200);
      expect(res.type).toContain('application/json');
      const s = JSON.parse(res.body);
      expect(s.range).toBe(range);
      expect(s.stepSeconds).toBe(range === 'hour' ? 60 : 3600);
      if (steps !== undefined) expect(s.t).toHaveLength(steps);
      for (const col of [s.pulls.hit, s.pulls.miss, s.pulls.stale, s.pulls.revalidated, s.bytes.served, s.bytes.upstream]) expect(col).toHaveLength(s.t.length);
      expect(s.totals).toEqual({ pulls: { hit: 5, revalidated: 0, stale: 0, miss: 4 }, bytes: { served: 2 * blobBytes + config, upstream: blobBytes } });
      expect(s.pulls.hit.reduce((a: number, b: number) => a + b, 0)).toBe(5);
    }
    const page = await get(mirror.url, '/ui/?range=week');
    expect(page.status).toBe(200);
    expect(page.body).toContain('Pulls by cache result, last week (per hour)');
    expect(page.body).toContain('data-series="/ui/overview/series?range=week"');
  });

  test('hostile query parameters: an unknown or huge range is a 400 page, nothing else', async () => {
    for (const q of ['../../etc/passwd', '%00', 'HOUR', 'a'.repeat(8000), 'day%0d%0aX-Injected:%201']) {
      const s = await get(mirror.url, `/ui/overview/series?range=${q}`);
      expect(s.status).toBe(400);
      expect(s.type).toContain('text/html');
      expect(s.body).toContain('range must be hour, day or week');
      expect((await get(mirror.url, `/ui/?range=${q}`)).status).toBe(400);
    }
    // Repeated: the first counts.
    expect((await get(mirror.url, '/ui/overview/series?range=day&range=../')).status).toBe(200);
  });

  test('a 5xx shows in recent errors by route label, without paths, names or internal addresses', async () => {
    const none = await get(mirror.url, '/ui/overview/errors');
    expect(none.body).toContain('No errors since the mirror started.');
    up.addImage('library/secret-name', 'latest', { layers: [randomBytes(10)] });
    up.faults.status = 500;
    try {
      const res = await request(`${mirror.url}/v2/library/secret-name/manifests/latest`);
      await res.body.text();
      expect(res.statusCode).toBeGreaterThanOrEqual(500);
      const html = (await get(mirror.url, '/ui/overview/errors')).body;
      expect(html).toMatch(new RegExp(`<td>GET</td><td>manifests</td><td class="num">${res.statusCode}</td><td>[A-Z_]+</td>`));
      expect(html).not.toContain('secret-name');
      expect(html).not.toContain('127.0.0.1');
      expect(html).not.toContain(new URL(up.url).host);
    } finally {
      up.faults.status = undefined;
    }
    // An upstream failure the client never saw: the tag's TTL ran out, the upstream is down, the cached manifest is served stale.
    mirror.advance(61_000);
    up.faults.down = true;
    try {
      const stale = await request(`${mirror.url}/v2/library/app/manifests/latest`, { headers: { accept: image.mediaType } });
      await stale.body.text();
      expect(stale.statusCode).toBe(200);
      expect(stale.headers['x-cache']).toBe('STALE');
    } finally {
      up.faults.down = false;
    }
    const html = (await get(mirror.url, '/ui/overview/errors')).body;
    expect(html).toMatch(/<tbody><tr><td>.*?<\/td><td>–<\/td><td>upstream docker\.io<\/td><td class="num">–<\/td><td>UPSTREAM_ERROR<\/td><\/tr>/);
    expect(html).not.toContain('library/app');
    const up2 = await get(mirror.url, '/ui/overview/upstreams');
    expect(up2.status).toBe(200);
    expect(up2.body).toMatch(/<td>docker\.io<\/td><td>#1 closed<\/td>/);
    expect(up2.body).not.toContain('127.0.0.1');
  });
  test('a fill in progress shows in the fragment, with its bytes so far and bytes/s', async () => {
    const big = up.addImage('library/big', 'latest', { layers: [randomBytes(200_000)] });
    const layer = big.layers[0]!;
    up.faults.stallAfter.set(layer, 50_000);
    const empty = await get(mirror.url, '/ui/overview/fills');
    expect(empty.status).toBe(200);
    expect(empty.body).toContain('No fills in progress.');
    expect(empty.body).not.toContain('<html');
    const client = await request(`${mirror.url}/v2/library/big/blobs/${layer}`);
    expect(client.statusCode).toBe(200);
    try {
      let html = '';
      expect(await eventually(async () => (html = (await get(mirror.url, '/ui/overview/fills')).body).includes('data-received="50000"'))).toBe(true);
      expect(html).toMatch(/^<section id="fills" aria-labelledby="fills-h" hx-get="\/ui\/overview\/fills"/);
      expect(html).toContain('docker.io/library/big');
      expect(html).toContain(`title="${layer}"`);
      expect(html).toContain('title="50,000 bytes"');
      expect(html).toContain('title="200,000 bytes"');
      mirror.advance(2000);
      expect((await get(mirror.url, '/ui/overview/fills')).body).toContain('24.4\u00a0KiB/s');
      const page = await get(mirror.url, '/ui/');
      expect(figure(page.body, 'Fills in progress')).toBe('1');
      expect(page.body).toContain('data-received="50000"');
    } finally {
      client.body.destroy();
      up.faults.stallAfter.clear();
    }
    expect(await eventually(async () => (await get(mirror.url, '/ui/overview/fills')).body.includes('No fills in progress.'), 10_000)).toBe(true);
  });

  test('at most 50 fills are listed; the caption says how many there are in all', async () => {
    const digests = Array.from({ length: 51 }, (_, i) => up.addImage(`library/many${i}`, 'latest', { layers: [randomBytes(5000)] }).layers[0]!);
    for (const d of digests) up.faults.stallAfter.set(d, 100);
    const stop = new AbortController();
    const clients = digests.map((d, i) => request(`${mirror.url}/v2/library/many${i}/blobs/${d}`, { signal: stop.signal }).then((r) => r.body.text(), () => ''));
    try {
      let html = '';
      expect(await eventually(async () => (html = (await get(mirror.url, '/ui/overview/fills')).body).includes('<caption>50 of 51 fills</caption>'), 10_000)).toBe(true);
      expect(html.match(/<tr><td>/g)).toHaveLength(50);
    } finally {
      stop.abort();
      up.faults.stallAfter.clear();
      await Promise.allSettled(clients);
      // The fills outlive their clients until the upstream timeout cuts them: wait, so the next test starts quiet.
      expect(await eventually(async () => (await get(mirror.url, '/ui/overview/fills')).body.includes('No fills in progress.'), 10_000)).toBe(true);
    }
    // Cut by the upstream timeout, with no client left to see it: listed as upstream failures.
    expect((await get(mirror.url, '/ui/overview/errors')).body).toMatch(/<td>upstream docker\.io<\/td><td class="num">–<\/td><td>FILL_FAILED<\/td>/);
  });

});

describe('the overview for others (users configured, so loopback is not admin)', () => {
  let up: FakeUpstream;
  let mirror: MirrorApp;
  let htpasswd: ReturnType<typeof makeHtpasswd>;

  beforeAll(async () => {
    up = await startFakeUpstream();
    htpasswd = makeHtpasswd({ boss: 'boss-pw', dev: 'dev-pw' });
    mirror = await startMirrorApp(up.url, { MIRROR_AUTH_HTPASSWD: htpasswd.file, MIRROR_AUTH_ADMINS: 'boss', MIRROR_UPSTREAM_PREFETCH: '0' });
  });
  afterAll(async () => {
    await mirror?.close();
    await up?.close();
    htpasswd?.remove();
  });

  const signIn = (user: string, password: string) => sessionCookie(mirror.url, user, password);

  const FRAGMENTS = ['/ui/overview/fills', '/ui/overview/upstreams', '/ui/overview/errors', '/ui/overview/series?range=hour', '/ui/overview/series?range=../../'];

  test('anonymous and a signed-in non-admin see no figures and get 403 on the fragments and the series', async () => {
    const dev = await signIn('dev', 'dev-pw');
    for (const cookie of [undefined, dev]) {
      const page = await get(mirror.url, '/ui/', cookie);
      expect(page.status).toBe(200);
      expect(page.body).toContain('Cache figures are for admins.');
      expect(page.body).not.toContain('class="figures"');
      expect(page.body).not.toContain('Fills in progress');
      expect(page.body).not.toContain('uplot');
      for (const path of FRAGMENTS) {
        const res = await get(mirror.url, path, cookie);
        expect(res.status, path).toBe(403);
        expect(res.body).not.toContain('<section');
        expect(res.body).not.toContain('"totals"');
      }
    }
  });

  test('a live section polled after the session ended stops its polling: htmx’s 286, with the reason, no figures', async () => {
    for (const path of FRAGMENTS.slice(0, 3)) {
      const res = await request(`${mirror.url}${path}`, { headers: { 'hx-request': 'true' } });
      const body = await res.body.text();
      expect(res.statusCode, path).toBe(286);
      expect(body).toContain('Live updates stopped: only admins see the cache figures');
      expect(body).not.toContain('<section');
    }
  });

  test('an admin signed in sees the figures and the fragments', async () => {
    const boss = await signIn('boss', 'boss-pw');
    const page = await get(mirror.url, '/ui/', boss);
    expect(page.body).toContain('<dt>Disk used</dt>');
    expect(figure(page.body, 'Disk used')).toContain('no maximum size set');
    for (const path of FRAGMENTS.slice(0, 4)) expect((await get(mirror.url, path, boss)).status, path).toBe(200);
  });
});
