/**
 * Part B of the console (issue 12): the repositories list (search, filters, keyset pages,
 * only what the viewer may pull) and a repository's page (tags with sizes and platforms,
 * manifests without a tag, action links by right), black-box over HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { urls } from '../../src/ui/urls.js';
import { linkTexts, rows, startBrowseFixture, type BrowseFixture } from './repositories-fixture.js';

let f: BrowseFixture;
beforeAll(async () => { f = await startBrowseFixture(); }, 60_000);
afterAll(async () => { await f?.close(); });

const ALPINE = 'docker.io/library/alpine';
const MULTI = 'docker.io/library/multi';
/** The names the listing links to, in order. */
const listed = (html: string) => [...html.matchAll(/<a href="\/ui\/repositories\/([^"?]+)">/g)].map((m) => decodeURIComponent(m[1]!));

describe('GET /ui/repositories', () => {
  it('lists mirrored and local repositories with kind, size, tags and pulls, each linking to its page', async () => {
    const { status, html } = await f.page('/ui/repositories', 'alice');
    expect(status).toBe(200);
    expect(html).toMatch(/<label for="q">Search<\/label><input id="q" name="q"/);
    expect(html).toMatch(/<button type="submit">Search<\/button>/);
    expect(listed(html)).toEqual([`${f.up.host}/library/alpine`, ALPINE, MULTI, 'team-a/app', 'team-b/secret']);
    expect(linkTexts(html, urls.repository(ALPINE))).toEqual([ALPINE]);
    const alpine = rows(html).find((r) => r[0] === ALPINE)!;
    const blobBytes = 3000 + 1234 + JSON.parse(f.alpine.manifest.toString()).config.size;
    expect(alpine.slice(1, 4)).toEqual(['mirror · docker.io', expect.stringMatching(/KiB$/), '1']);
    expect(html).toContain(`title="${blobBytes.toLocaleString('en-US')} bytes"`);
    expect(alpine[5]).toBe('1');
    expect(rows(html).find((r) => r[0] === 'team-a/app')!.slice(1, 4)).toEqual(['local', expect.any(String), '1']);
  });

  it('searches a substring of the name and filters by kind and upstream', async () => {
    expect(listed((await f.page('/ui/repositories?q=alp', 'alice')).html)).toEqual([`${f.up.host}/library/alpine`, ALPINE]);
    expect(listed((await f.page('/ui/repositories?q=multi', 'alice')).html)).toEqual([MULTI]);
    expect(listed((await f.page('/ui/repositories?q=%25', 'alice')).html)).toEqual([]);
    expect(listed((await f.page('/ui/repositories?kind=local', 'alice')).html)).toEqual(['team-a/app', 'team-b/secret']);
    expect(listed((await f.page('/ui/repositories?kind=mirror&upstream=docker.io', 'alice')).html)).toEqual([ALPINE, MULTI]);
    expect(listed((await f.page(`/ui/repositories?upstream=${f.up.host}`, 'alice')).html)).toEqual([`${f.up.host}/library/alpine`]);
    const { html } = await f.page('/ui/repositories?q=team&kind=local', 'alice');
    expect(html).toMatch(/<option value="local" selected="">Local<\/option>/);
    expect(html).toContain('value="team"');
  });

  it('shows only repositories the viewer may pull: bob not team-b/*, anonymous only mirrored ones', async () => {
    expect(listed((await f.page('/ui/repositories', 'bob')).html)).toEqual([`${f.up.host}/library/alpine`, ALPINE, MULTI, 'team-a/app']);
    expect(listed((await f.page('/ui/repositories?q=secret', 'bob')).html)).toEqual([]);
    expect(listed((await f.page('/ui/repositories')).html)).toEqual([`${f.up.host}/library/alpine`, ALPINE, MULTI]);
    expect(listed((await f.page('/ui/repositories?kind=local')).html)).toEqual([]);
  });

  it('pages by name, 50 a page, with "Next page" and "First page" links keeping the filters', async () => {
    for (let i = 0; i < 60; i++) await f.mirror.ports.repositories.ensureRepository(`team-a/bulk${String(i).padStart(2, '0')}`, 'local', null, 1);
    const first = await f.page('/ui/repositories?q=bulk', 'bob');
    expect(listed(first.html)).toHaveLength(50);
    expect(listed(first.html)[49]).toBe('team-a/bulk49');
    const next = /<a href="([^"]+)" rel="next">Next page<\/a>/.exec(first.html)![1]!.replace(/&amp;/g, '&');
    expect(next).toBe('/ui/repositories?q=bulk&after=team-a%2Fbulk49');
    const second = await f.page(next, 'bob');
    expect(listed(second.html)).toEqual(Array.from({ length: 10 }, (_, i) => `team-a/bulk${50 + i}`));
    expect(second.html).not.toContain('Next page');
    expect(linkTexts(second.html, '/ui/repositories?q=bulk')).toEqual(['First page']);
  });

  it('stops after 2,000 rows the viewer may not see, says more may match, and the next page goes on from there', async () => {
    for (let i = 0; i < 2_100; i++) await f.mirror.ports.repositories.ensureRepository(`team-b/hidden${String(i).padStart(4, '0')}`, 'local', null, 1);
    await f.mirror.ports.repositories.ensureRepository('team-b/zzz-later', 'local', null, 1);
    await f.mirror.ports.repositories.ensureRepository('team-a/zzz-visible', 'local', null, 1);
    const first = await f.page('/ui/repositories?q=zzz', 'bob');
    expect(listed(first.html)).toEqual(['team-a/zzz-visible']);
    expect(first.html).not.toContain('refine the search');
    const capped = await f.page('/ui/repositories?q=team-b', 'bob');
    expect(listed(capped.html)).toEqual([]);
    expect(capped.html).toContain('more may match: refine the search');
    const next = /<a href="([^"]+)" rel="next">Next page<\/a>/.exec(capped.html)![1]!.replace(/&amp;/g, '&');
    expect(next).toBe('/ui/repositories?q=team-b&after=team-b%2Fhidden1999');
    const rest = await f.page(next, 'bob');
    expect(listed(rest.html)).toEqual([]);
    expect(rest.html).not.toContain('refine the search');
    // An admin sees them all, a page at a time.
    expect(listed((await f.page('/ui/repositories?q=team-b', 'alice')).html)).toHaveLength(50);
  });

  it('/ui/repositories/ (a trailing slash) redirects to the list', async () => {
    const r = await f.page('/ui/repositories/', 'bob');
    expect(r.status).toBe(301);
  });

  it('hostile parameters get a 400 page, never a 500', async () => {
    for (const query of [
      `q=${'a'.repeat(201)}`, 'q=a%00b', 'kind=all', 'upstream=evil.example', `after=${'z'.repeat(513)}`, 'after=%0d%0a',
    ]) {
      const r = await f.page(`/ui/repositories?${query}`, 'alice');
      expect([query, r.status]).toEqual([query, 400]);
      expect(r.type).toMatch(/^text\/html/);
    }
    for (const query of ['after=%ff%fe', 'q=%zz', 'after=..%2F..%2F', 'q=%5C', 'q=_']) {
      const r = await f.page(`/ui/repositories?${query}`, 'alice');
      expect([query, r.status]).toEqual([query, 200]);
    }
  });
});

describe('GET /ui/repositories/<name>', () => {
  it('lists a mirrored image tag: link to its manifest page, digest, size of config and layers, no platforms', async () => {
    const { status, html } = await f.page(urls.repository(ALPINE), 'alice');
    expect(status).toBe(200);
    expect(html).toContain(`<h1>${ALPINE}</h1>`);
    const headers = [...html.split('<thead>')[1]!.split('</thead>')[0]!.matchAll(/<th[^>]*>([^<]*)<\/th>/g)].map((m) => m[1]);
    expect(headers).toEqual(['Tag', 'Digest', 'Size', 'Platforms', 'Last pull', 'Fetched', 'Actions']);
    expect(linkTexts(html, urls.manifest(ALPINE, '3.20'))).toEqual(['3.20']);
    const size = 3000 + 1234 + JSON.parse(f.alpine.manifest.toString()).config.size;
    const row = rows(html)[0]!;
    expect(row[1]).toBe(f.alpine.digest.slice(0, 19));
    expect(row[3]).toBe('–');
    expect(html).toContain(`title="${size.toLocaleString('en-US')} bytes"`);
  });

  it('an index tag: its platforms, and the size of the platform manifests cached (1 of 2)', async () => {
    const { html } = await f.page(urls.repository(MULTI), 'alice');
    const row = rows(html)[0]!;
    expect(row[0]).toBe('latest');
    expect(row[3]).toBe('linux/amd64, linux/arm64');
    expect(row[2]).toContain('(1 of 2 cached)');
    const cachedSize = 500 + JSON.parse(f.multi.cached.manifest.toString()).config.size;
    expect(html).toContain(`title="${cachedSize.toLocaleString('en-US')} bytes"`);
  });

  it('action links by right: admins evict mirrored tags; a user with delete deletes local ones; others get none', async () => {
    const admin = await f.page(urls.repository(ALPINE), 'alice');
    expect(linkTexts(admin.html, urls.evict(ALPINE, '3.20'))).toEqual(['Evict']);
    expect((await f.page(urls.repository(ALPINE), 'bob')).html).not.toContain('/ui/actions/');
    expect((await f.page(urls.repository(ALPINE))).html).not.toContain('/ui/actions/');
    const bob = await f.page(urls.repository('team-a/app'), 'bob');
    expect(bob.html).toContain('<th scope="col">Pushed</th>');
    expect(linkTexts(bob.html, urls.deleteTag('team-a/app', 'v1'))).toEqual(['Delete']);
    expect((await f.page(urls.repository('team-a/app'), 'carol')).html).not.toContain('/ui/actions/');
  });

  it('pages tags 50 at a time', async () => {
    for (let i = 0; i < 55; i++) await f.mirror.ports.tags.putTag('team-a/app', `t${String(i).padStart(2, '0')}`, f.app.descriptor.digest, 1);
    const first = await f.page(urls.repository('team-a/app'), 'bob');
    const tags = (html: string) => rows(html.split('id="tags"')[1]!.split('</table>')[0]!).map((r) => r[0]);
    expect(tags(first.html)).toHaveLength(50);
    expect(tags(first.html)[49]).toBe('t49');
    const next = /<a href="([^"]+)" rel="next">Next page<\/a>/.exec(first.html)![1]!;
    expect(next).toBe(`${urls.repository('team-a/app')}?after=t49`);
    expect(tags((await f.page(next, 'bob')).html)).toEqual(['t50', 't51', 't52', 't53', 't54', 'v1']);
    for (let i = 0; i < 55; i++) await f.mirror.ports.tags.deleteTag('team-a/app', `t${String(i).padStart(2, '0')}`);
  });

  it('a local repository lists its manifests without a tag', async () => {
    const { html } = await f.page(urls.repository('team-a/app'), 'bob');
    const untagged = html.split('Manifests without a tag')[1]!;
    expect(linkTexts(untagged, urls.manifest('team-a/app', f.loose.descriptor.digest))).toHaveLength(1);
    expect(untagged).not.toContain(f.app.descriptor.digest);
    expect(linkTexts(untagged, urls.deleteManifest('team-a/app', f.loose.descriptor.digest))).toEqual(['Delete']);
  });

  it('a repository the viewer may not pull is the same 404 page as one that does not exist', async () => {
    const hidden = await f.page(urls.repository('team-b/secret'), 'bob');
    const missing = await f.page(urls.repository('team-b/nothing'), 'bob');
    expect(hidden.status).toBe(404);
    expect(hidden.html).toBe(missing.html);
    expect(hidden.html).not.toContain('secret');
    expect((await f.page(urls.repository('team-b/secret'), 'alice')).status).toBe(200);
    const anon = await f.page(urls.repository('team-a/app'));
    expect(anon.status).toBe(404);
    expect(anon.html).toBe((await f.page(urls.repository('team-a/nothing'))).html.replace(/nothing/g, 'app'));
  });

  it('hostile paths and parameters get a 4xx page, never a 500', async () => {
    for (const path of [
      '/ui/repositories/..%2F..%2Fetc', '/ui/repositories/team-a/app%00', '/ui/repositories/%zz', `/ui/repositories/${'a'.repeat(600)}`,
      '/ui/repositories/team-a/APP', '/ui/repositories/team-a/app?after=%00', '/ui/repositories/team-a/app?untagged_after=sha256:xyz',
      '/ui/repositories/team-a/app/-/nothing', '/ui/repositories/team-a/app/-/manifests/', '/ui/repositories/team-a/app/-/manifests/a/b',
      '/ui/repositories/team-a/../team-b/secret',
    ]) {
      const r = await f.page(path, 'bob');
      expect([path, r.status >= 400 && r.status < 500]).toEqual([path, true]);
      expect(r.type).toMatch(/^text\/html/);
      expect(r.html).not.toContain(f.secret.descriptor.digest);
    }
  });
});
