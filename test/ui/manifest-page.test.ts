/**
 * Part B of the console (issue 12): a tag's or digest's manifest page — layers, platforms,
 * referrers, the pull lines, the raw JSON escaped — resolved only within its repository
 * and only from what the index holds (the console never dials an upstream).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { urls } from '../../src/ui/urls.js';
import { createOciClient, basicAuth } from '../helpers/oci-client.js';
import { linkTexts, rows, startBrowseFixture, USERS, XSS, type BrowseFixture } from './repositories-fixture.js';

let f: BrowseFixture;
beforeAll(async () => { f = await startBrowseFixture(); }, 60_000);
afterAll(async () => { await f?.close(); });

const ALPINE = 'docker.io/library/alpine';
const MULTI = 'docker.io/library/multi';
const host = () => new URL(f.mirror.url).host;
const inputValue = (html: string, id: string) => new RegExp(`<input id="${id}" readonly="" value="([^"]*)"/>`).exec(html)?.[1];

describe('an image manifest', () => {
  it('shows media type, digest, config and layers with sizes and the total', async () => {
    const { status, html } = await f.page(urls.manifest('team-a/app', 'v1'), 'bob');
    expect(status).toBe(200);
    expect(html).toContain('<h1>team-a/app:v1</h1>');
    expect(html).toContain(`<code>${f.app.descriptor.digest}</code>`);
    expect(html).toContain('application/vnd.oci.image.manifest.v1+json');
    const layers = rows(html.split('id="layers"')[1]!.split('</table>')[0]!);
    expect(layers.map((r) => r[0])).toEqual(['config', 'layer 1']);
    expect(layers[1]!.slice(1, 3)).toEqual([f.app.layers[0]!.digest.slice(0, 19), 'application/vnd.oci.image.layer.v1.tar+gzip']);
    expect(html).toContain('title="2,048 bytes"');
    const total = 2048 + f.app.config.size;
    expect(html).toMatch(new RegExp(`Total</th><td class="hide-narrow"></td><td class="num"><span title="${total.toLocaleString('en-US')} bytes"`));
  });

  it('pull lines for docker and crane (--insecure over http) with copy buttons; by digest with @', async () => {
    const { html } = await f.page(urls.manifest('team-a/app', 'v1'), 'bob');
    expect(inputValue(html, 'pull-docker')).toBe(`docker pull ${host()}/team-a/app:v1`);
    expect(inputValue(html, 'pull-crane')).toBe(`crane pull --insecure ${host()}/team-a/app:v1 app.tar`);
    expect(html).toContain('<button type="button" data-copy="pull-docker">Copy</button>');
    expect(html).toContain('<button type="button" data-copy="pull-crane">Copy</button>');
    const byDigest = await f.page(urls.manifest('team-a/app', f.app.descriptor.digest), 'bob');
    expect(byDigest.html).toContain(`<h1>team-a/app@${f.app.descriptor.digest}</h1>`);
    expect(inputValue(byDigest.html, 'pull-docker')).toBe(`docker pull ${host()}/team-a/app@${f.app.descriptor.digest}`);
    const mirrored = await f.page(urls.manifest(ALPINE, '3.20'));
    expect(inputValue(mirrored.html, 'pull-docker')).toBe(`docker pull ${host()}/library/alpine:3.20`);
    // Another upstream's repository (its name has a port): its host stays in the path, as the mirror routes it.
    const other = await f.page(urls.manifest(`${f.up.host}/library/alpine`, '3.20'));
    expect(other.status).toBe(200);
    expect(other.html).toContain(`<h1>${f.up.host}/library/alpine:3.20</h1>`);
    expect(inputValue(other.html, 'pull-docker')).toBe(`docker pull ${host()}/${f.up.host}/library/alpine:3.20`);
  });

  it('the pull line works: docker pull’s reference, asked of /v2/, answers the same digest', async () => {
    const { html } = await f.page(urls.manifest(ALPINE, '3.20'));
    const ref = inputValue(html, 'pull-docker')!.replace(`docker pull ${host()}/`, '');
    const [name, tag] = ref.split(':');
    const r = await createOciClient(f.mirror.url).call(`/v2/${name}/manifests/${tag}`, { method: 'HEAD', headers: { accept: f.alpine.mediaType } });
    expect(r.header('docker-content-digest')).toBe(f.alpine.digest);
  });

  it('annotations and raw JSON are escaped: a pushed <script> shows as text', async () => {
    const { html } = await f.page(urls.manifest('team-a/app', 'v1'), 'bob');
    expect(html).not.toContain(XSS);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    const raw = /<pre class="raw" tabindex="0">([\s\S]*?)<\/pre>/.exec(html)![1]!;
    const unescaped = raw.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
    expect(JSON.parse(unescaped)).toEqual(JSON.parse(f.app.manifest.toString()));
    expect(unescaped).toContain('\n  "schemaVersion": 2');
  });

  it('lists referrers (a signature pushed with subject) with artifact type and a link', async () => {
    const bob = createOciClient(f.mirror.url, basicAuth('bob', USERS.bob));
    const sig = await bob.pushImage('team-a/app', undefined, { artifactType: 'application/vnd.example.signature', subject: f.app.descriptor, layers: [Buffer.from('sig')] });
    const { html } = await f.page(urls.manifest('team-a/app', 'v1'), 'bob');
    const referrers = html.split('id="referrers"')[1]!;
    expect(rows(referrers)[0]![0]).toBe('application/vnd.example.signature');
    expect(linkTexts(referrers, urls.manifest('team-a/app', sig.descriptor.digest))).toHaveLength(1);
    const sigPage = await f.page(urls.manifest('team-a/app', sig.descriptor.digest), 'bob');
    expect(linkTexts(sigPage.html, urls.manifest('team-a/app', f.app.descriptor.digest))).toHaveLength(1);
  });
});

describe('an index', () => {
  it('lists its platforms, linking those cached, and says which are', async () => {
    const before = f.up.requests.length;
    const { status, html } = await f.page(urls.manifest(MULTI, 'latest'));
    expect(status).toBe(200);
    const platforms = rows(html.split('id="platforms"')[1]!.split('</table>')[0]!);
    expect(platforms.map((r) => [r[0], r[4]])).toEqual([['linux/amd64', 'yes'], ['linux/arm64', 'no']]);
    expect(linkTexts(html, urls.manifest(MULTI, f.multi.cached.digest))).toHaveLength(1);
    expect(linkTexts(html, urls.manifest(MULTI, f.multi.uncached.digest))).toHaveLength(0);
    // The platform manifest not cached is a 404, and nothing asked the upstream.
    expect((await f.page(urls.manifest(MULTI, f.multi.uncached.digest))).status).toBe(404);
    expect(f.up.requests.length).toBe(before);
  });
});

describe('resolution and visibility', () => {
  it('a digest linked only to another repository is a 404 here', async () => {
    expect((await f.page(urls.manifest('team-a/app', f.alpine.digest), 'alice')).status).toBe(404);
    expect((await f.page(urls.manifest(ALPINE, f.app.descriptor.digest), 'alice')).status).toBe(404);
    expect((await f.page(urls.manifest('team-a/app', f.secret.descriptor.digest), 'alice')).status).toBe(404);
  });

  it('a mirrored tag the index does not hold is a 404, and the upstream is never dialed', async () => {
    f.up.addImage('library/alpine', '3.21', { layers: [Buffer.from('new')] });
    const before = f.up.requests.length;
    const r = await f.page(urls.manifest(ALPINE, '3.21'), 'alice');
    expect(r.status).toBe(404);
    expect(f.up.requests.length).toBe(before);
  });

  it('a manifest of a repository the viewer may not pull is the same 404 as a nonexistent one, by tag and by digest', async () => {
    const byTag = await f.page(urls.manifest('team-b/secret', 'v1'), 'bob');
    const byDigest = await f.page(urls.manifest('team-b/secret', f.secret.descriptor.digest), 'bob');
    const missing = await f.page(urls.manifest('team-b/nothing', 'v1'), 'bob');
    expect([byTag.status, byDigest.status]).toEqual([404, 404]);
    expect(byTag.html).toBe(missing.html);
    expect(byDigest.html).toBe(missing.html);
    expect(byDigest.html).not.toContain(f.secret.descriptor.digest.slice(7, 20));
    expect((await f.page(urls.manifest('team-b/secret', 'v1'), 'alice')).status).toBe(200);
  });

  it('action links by right: evict for admins on mirrored images, delete tag/manifest for local delete rights', async () => {
    const admin = await f.page(urls.manifest(ALPINE, '3.20'), 'alice');
    expect(linkTexts(admin.html, urls.evict(ALPINE, '3.20'))).toEqual(['Evict this image']);
    const bob = await f.page(urls.manifest('team-a/app', 'v1'), 'bob');
    expect(linkTexts(bob.html, urls.deleteTag('team-a/app', 'v1'))).toEqual(['Delete tag']);
    expect(linkTexts(bob.html, urls.deleteManifest('team-a/app', f.app.descriptor.digest))).toEqual(['Delete this manifest']);
    for (const [path, user] of [[urls.manifest(ALPINE, '3.20'), 'bob'], [urls.manifest('team-a/app', 'v1'), 'carol'], [urls.manifest(ALPINE, '3.20'), undefined]] as const) {
      expect((await f.page(path, user)).html).not.toContain('/ui/actions/');
    }
  });

  it('hostile references get a 4xx page, never a 500', async () => {
    for (const ref of [
      'sha256:xyz', 'sha256:' + 'a'.repeat(63), 'md5:' + 'a'.repeat(32), '%00', '..', '-bad', 'a'.repeat(129), '%zz', 'x'.repeat(300), 'v1%2F..%2F..',
    ]) {
      const r = await f.page(`/ui/repositories/team-a/app/-/manifests/${ref}`, 'bob');
      expect([ref, r.status >= 400 && r.status < 500]).toEqual([ref, true]);
      expect(r.type).toMatch(/^text\/html/);
    }
  });
});
