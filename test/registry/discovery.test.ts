/**
 * Content discovery in local namespaces (OCI distribution-spec v1.1, "Content Discovery"
 * workflow: end-8a/8b tags, end-12a/12b referrers) and the catalog (/v2/_catalog), with
 * lexical order, n/last pagination and Link headers.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLocalRegistry, upstreamRequestsFor, type LocalRegistry } from '../helpers/local-registry.js';
import { EMPTY_JSON, EMPTY_JSON_DIGEST, imageIndex, imageManifest, MT, sha256, type Descriptor, type OciClient } from '../helpers/oci-client.js';

let reg: LocalRegistry;
let c: OciClient;

beforeAll(async () => {
  reg = await startLocalRegistry();
  c = reg.alice;
});
afterAll(async () => {
  await reg?.close();
});

interface TagList { name: string; tags: string[] }
interface Index { schemaVersion: number; mediaType: string; manifests: Descriptor[] }

/** rel="next" target of a Link header, or undefined. */
const nextLink = (link: string) => /^<([^>]+)>;\s*rel="next"$/.exec(link.trim())?.[1];

describe('tags list (end-8a, end-8b)', () => {
  const name = 'team/tagged';
  // Pushed out of order; lexical order puts v10 before v2.
  const pushed = ['v2', 'latest', 'beta', 'v10', 'alpha'];
  const sorted = ['alpha', 'beta', 'latest', 'v10', 'v2'];

  beforeAll(async () => {
    const img = await c.pushImage(name, undefined);
    for (const t of pushed) await c.pushManifest(name, t, img.manifest, MT.manifest);
  });

  test('GET tags/list: 200 {"name", "tags"} in lexical order, no Link when everything fits', async () => {
    const r = await c.call(`/v2/${name}/tags/list`);
    expect(r.status).toBe(200);
    expect(r.header('content-type')).toMatch(/^application\/json/);
    expect(r.json<TagList>()).toEqual({ name, tags: sorted });
    expect(r.header('link')).toBe('');
  });

  test('?n=2: the first 2 tags and Link: </v2/<name>/tags/list?n=2&last=<last>>; rel="next"', async () => {
    const r = await c.call(`/v2/${name}/tags/list?n=2`);
    expect(r.status).toBe(200);
    expect(r.json<TagList>().tags).toEqual(['alpha', 'beta']);
    const next = nextLink(r.header('link'));
    expect(next).toBeDefined();
    const u = new URL(next!, c.url);
    expect(u.pathname).toBe(`/v2/${name}/tags/list`);
    expect(u.searchParams.get('n')).toBe('2');
    expect(u.searchParams.get('last')).toBe('beta');
  });

  test('following Link pages walks every tag once, and the last page has no Link', async () => {
    const seen: string[] = [];
    let path: string | undefined = `/v2/${name}/tags/list?n=2`;
    let pages = 0;
    while (path && pages < 10) {
      const r = await c.call(path);
      expect(r.status).toBe(200);
      const page = r.json<TagList>().tags;
      expect(page.length).toBeLessThanOrEqual(2);
      seen.push(...page);
      path = nextLink(r.header('link'));
      pages++;
    }
    expect(seen).toEqual(sorted);
    expect(pages).toBe(3);
  });

  test('?n=2&last=b: the tags after "b"; ?last= past every tag: an empty list', async () => {
    const after = await c.call(`/v2/${name}/tags/list?n=2&last=b`);
    expect(after.json<TagList>().tags).toEqual(['beta', 'latest']);
    const lastOnly = await c.call(`/v2/${name}/tags/list?last=latest`);
    expect(lastOnly.json<TagList>().tags).toEqual(['v10', 'v2']);
    const none = await c.call(`/v2/${name}/tags/list?last=zzz`);
    expect(none.status).toBe(200);
    expect(none.json<TagList>().tags ?? []).toEqual([]);
    expect(none.header('link')).toBe('');
  });

  test('a deleted tag disappears from the list', async () => {
    const other = 'team/tag-delete';
    const img = await c.pushImage(other, 'keep');
    await c.pushManifest(other, 'drop', img.manifest, MT.manifest);
    expect((await c.call(`/v2/${other}/manifests/drop`, { method: 'DELETE' })).status).toBe(202);
    expect((await c.call(`/v2/${other}/tags/list`)).json<TagList>().tags).toEqual(['keep']);
  });

  test('an unknown local repository: 404 NAME_UNKNOWN, never asked of the upstream', async () => {
    const r = await c.call('/v2/team/never-pushed/tags/list');
    expect(r.status).toBe(404);
    expect(r.codes()).toContain('NAME_UNKNOWN');
    expect(upstreamRequestsFor(reg.up, 'team/never-pushed')).toEqual([]);
  });
});

describe('referrers (end-12a, end-12b)', () => {
  const name = 'team/refs';
  const SBOM = 'application/vnd.example.sbom.v1';
  const SIG = 'application/vnd.example.signature.v1';
  let subject: Descriptor;
  let expected: Descriptor[];
  let orphan: Descriptor;

  /** Pushes `bytes` by digest; returns the descriptor the referrers index must list. */
  async function refer(bytes: Buffer, mediaType: string, artifactType: string, annotations: Record<string, string>): Promise<Descriptor> {
    const d = await c.pushManifest(name, undefined, bytes, mediaType);
    return { ...d, artifactType, annotations };
  }

  beforeAll(async () => {
    subject = (await c.pushImage(name, 'app')).descriptor;
    const empty = { ...(await c.pushBlob(name, EMPTY_JSON)), mediaType: MT.empty };
    expect(empty.digest).toBe(EMPTY_JSON_DIGEST);
    const sbomLayer = { ...(await c.pushBlob(name, Buffer.from('{"sbom":"spdx"}'))), mediaType: 'application/spdx+json' };
    const sigConfig = { ...(await c.pushBlob(name, Buffer.from('{"sig":"cosign"}'))), mediaType: SIG };
    // 1. artifactType set, empty config; 2. no artifactType: the config media type stands in;
    // 3. an index with artifactType and subject.
    const a1 = { 'org.example.ref': 'sbom-manifest' };
    const a2 = { 'org.example.ref': 'signature' };
    const a3 = { 'org.example.ref': 'sbom-index' };
    expected = [
      await refer(imageManifest({ config: empty, layers: [sbomLayer], artifactType: SBOM, subject, annotations: a1 }), MT.manifest, SBOM, a1),
      await refer(imageManifest({ config: sigConfig, layers: [empty], subject, annotations: a2 }), MT.manifest, SIG, a2),
      await refer(imageIndex({ manifests: [], artifactType: SBOM, subject, annotations: a3 }), MT.index, SBOM, a3),
    ];
    // A referrer of a subject that was never pushed.
    const missing = { mediaType: MT.manifest, digest: sha256('never pushed subject'), size: 20 };
    const bytes = imageManifest({ config: empty, layers: [empty], artifactType: SIG, subject: missing, annotations: a2 });
    const put = await c.putManifest(name, sha256(bytes), bytes, MT.manifest);
    expect(put.header('oci-subject')).toBe(missing.digest);
    orphan = missing;
    // A referrer of the same subject in another repository must not be listed here.
    const elsewhere = 'team/refs-elsewhere';
    const cfg = { ...(await c.pushBlob(elsewhere, EMPTY_JSON)), mediaType: MT.empty };
    await c.pushManifest(elsewhere, undefined, imageManifest({ config: cfg, layers: [cfg], artifactType: SBOM, subject }), MT.manifest);
  });

  const byDigest = (list: Descriptor[]) => [...list].sort((a, b) => a.digest.localeCompare(b.digest));

  test('GET referrers/<subject>: 200 image index of this repository\'s referrers, with artifactType and annotations', async () => {
    const r = await c.call(`/v2/${name}/referrers/${subject.digest}`);
    expect(r.status).toBe(200);
    expect(r.header('content-type')).toBe(MT.index);
    expect(r.header('oci-filters-applied')).toBe('');
    const index = r.json<Index>();
    expect(index.schemaVersion).toBe(2);
    expect(index.mediaType).toBe(MT.index);
    expect(byDigest(index.manifests)).toEqual(byDigest(expected));
  });

  test('?artifactType= filters, and says so with OCI-Filters-Applied: artifactType', async () => {
    const sbom = await c.call(`/v2/${name}/referrers/${subject.digest}?artifactType=${encodeURIComponent(SBOM)}`);
    expect(sbom.status).toBe(200);
    expect(sbom.header('oci-filters-applied')).toBe('artifactType');
    expect(byDigest(sbom.json<Index>().manifests)).toEqual(byDigest(expected.filter((d) => d.artifactType === SBOM)));
    const sig = await c.call(`/v2/${name}/referrers/${subject.digest}?artifactType=${encodeURIComponent(SIG)}`);
    expect(sig.json<Index>().manifests).toEqual(expected.filter((d) => d.artifactType === SIG));
    const none = await c.call(`/v2/${name}/referrers/${subject.digest}?artifactType=application%2Fnothing`);
    expect(none.json<Index>().manifests).toEqual([]);
  });

  test('a digest nothing refers to: 200 with an empty index, never 404', async () => {
    const r = await c.call(`/v2/${name}/referrers/${sha256('nothing refers to me')}`);
    expect(r.status).toBe(200);
    expect(r.header('content-type')).toBe(MT.index);
    expect(r.json<Index>()).toMatchObject({ schemaVersion: 2, mediaType: MT.index, manifests: [] });
  });

  test('a subject that was never pushed still lists the manifest that refers to it', async () => {
    const r = await c.call(`/v2/${name}/referrers/${orphan.digest}`);
    expect(r.status).toBe(200);
    const list = r.json<Index>().manifests;
    expect(list).toHaveLength(1);
    expect(list[0]!.artifactType).toBe(SIG);
  });

  test('a deleted referrer leaves the list', async () => {
    const target = (await c.pushImage('team/refs-delete', 'base')).descriptor;
    const cfg = { ...(await c.pushBlob('team/refs-delete', EMPTY_JSON)), mediaType: MT.empty };
    const ref = await c.pushManifest('team/refs-delete', undefined, imageManifest({ config: cfg, layers: [cfg], artifactType: SIG, subject: target }), MT.manifest);
    const list = async () => (await c.call(`/v2/team/refs-delete/referrers/${target.digest}`)).json<Index>().manifests.map((d) => d.digest);
    expect(await list()).toEqual([ref.digest]);
    expect((await c.call(`/v2/team/refs-delete/manifests/${ref.digest}`, { method: 'DELETE' })).status).toBe(202);
    expect(await list()).toEqual([]);
  });

  test('a malformed digest: 400', async () => {
    const r = await c.call(`/v2/${name}/referrers/sha256:nope`);
    expect(r.status).toBe(400);
    expect(r.codes()).toContain('DIGEST_INVALID');
  });

  test('referrers of local names never reach the upstream', () => {
    expect(upstreamRequestsFor(reg.up, name)).toEqual([]);
  });
});

describe('catalog (/v2/_catalog)', () => {
  let cat: LocalRegistry;
  const local = ['private/a/deep', 'private/b', 'team/app', 'team/web', 'team/zeta'];

  beforeAll(async () => {
    cat = await startLocalRegistry();
    for (const name of [...local].reverse()) await cat.alice.pushImage(name, 'v1');
    // Pull a mirrored image through: it is cached, but it is no local repository.
    cat.up.addImage('library/alpine', '3.20', { layers: [Buffer.from('alpine layer')] });
    expect((await cat.anon.call('/v2/library/alpine/manifests/3.20')).status).toBe(200);
  });
  afterAll(async () => {
    await cat?.close();
  });

  test('lists the local repositories in lexical order, not the mirrored ones', async () => {
    const r = await cat.alice.call('/v2/_catalog');
    expect(r.status).toBe(200);
    expect(r.json<{ repositories: string[] }>().repositories).toEqual(local);
    expect(r.header('link')).toBe('');
  });

  test('?n=2 pages with Link rel="next" carrying n and last; ?last= starts after it', async () => {
    const first = await cat.alice.call('/v2/_catalog?n=2');
    expect(first.json<{ repositories: string[] }>().repositories).toEqual(local.slice(0, 2));
    const next = new URL(nextLink(first.header('link')) ?? '/missing-link', cat.mirror.url);
    expect(next.pathname).toBe('/v2/_catalog');
    expect(next.searchParams.get('n')).toBe('2');
    expect(next.searchParams.get('last')).toBe('private/b');
    const second = await cat.alice.call(`${next.pathname}${next.search}`);
    expect(second.json<{ repositories: string[] }>().repositories).toEqual(local.slice(2, 4));
    const last = await cat.alice.call('/v2/_catalog?n=2&last=team/web');
    expect(last.json<{ repositories: string[] }>().repositories).toEqual(['team/zeta']);
    expect(last.header('link')).toBe('');
  });
});
