/**
 * The mirror the part-B console suites browse: a fake upstream with an image and a
 * two-platform index pulled through, two local namespaces with rules (team-a/* readable by
 * every user, team-b/* by alice alone), pushes into both, and console sessions per user.
 */
import { request } from 'undici';
import { sessionCookie } from '../helpers/console.js';
import { startFakeUpstream, type FakeImage, type FakeIndex, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startMirrorApp, type MirrorApp } from '../helpers/mirror-app.js';
import { basicAuth, createOciClient, makeHtpasswd, type PushedImage } from '../helpers/oci-client.js';

export const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' } as const;
export type User = keyof typeof USERS;

const RULES = [
  { repository: 'team-a/*', pull: ['*'], push: ['alice', 'bob'], delete: ['bob'] },
  { repository: 'team-b/*', pull: ['alice'], push: ['alice'], delete: ['alice'] },
];

export const XSS = '<script>alert(1)</script>';

export interface BrowseFixture {
  up: FakeUpstream;
  mirror: MirrorApp;
  alpine: FakeImage;
  multi: { index: FakeIndex; cached: FakeImage; uncached: FakeImage };
  app: PushedImage;
  secret: PushedImage;
  /** An untagged manifest in team-a/app. */
  loose: PushedImage;
  /** GET a console page as a user (undefined: anonymous). */
  page(path: string, user?: User): Promise<{ status: number; type: string; html: string }>;
  close(): Promise<void>;
}

/** The console session cookie of a user, signed in through the sign-in form. */
const signIn = (base: string, user: User) => sessionCookie(base, user, USERS[user]);

export async function startBrowseFixture(): Promise<BrowseFixture> {
  const up = await startFakeUpstream({ auth: 'none' });
  const htpasswd = makeHtpasswd(USERS);
  const mirror = await startMirrorApp(up.url, {
    MIRROR_LOCAL_NAMESPACES: 'team-a/*,team-b/*',
    MIRROR_AUTH_HTPASSWD: htpasswd.file,
    MIRROR_AUTH_RULES: JSON.stringify(RULES),
    MIRROR_AUTH_ADMINS: 'alice',
    // A second upstream, named by a host with a port (the same fake registry behind it).
    MIRROR_UPSTREAMS: JSON.stringify([{ name: up.host, url: up.url }]),
  });
  const anon = createOciClient(mirror.url);
  const alice = createOciClient(mirror.url, basicAuth('alice', USERS.alice));
  const bob = createOciClient(mirror.url, basicAuth('bob', USERS.bob));

  // Mirrored: an image pulled whole, and an index of which one platform was pulled.
  const alpine = up.addImage('library/alpine', '3.20', { layers: [Buffer.alloc(3000, 1), Buffer.alloc(1234, 2)] });
  for (const path of ['manifests/3.20', `blobs/${alpine.config}`, ...alpine.layers.map((l) => `blobs/${l}`)]) {
    const r = await anon.call(`/v2/library/alpine/${path}`);
    if (r.status !== 200) throw new Error(`pull ${path}: ${r.status}`);
  }
  const other = await anon.call(`/v2/${up.host}/library/alpine/manifests/3.20`, { headers: { accept: alpine.mediaType } });
  if (other.status !== 200) throw new Error(`pull through the second upstream: ${other.status}`);
  const cached = up.addImage('library/multi', undefined, { layers: [Buffer.alloc(500, 3)] });
  const uncached = up.addImage('library/multi', undefined, { layers: [Buffer.alloc(700, 4)] });
  const index = up.addIndex('library/multi', 'latest', [cached.digest, uncached.digest]);
  for (const ref of ['latest', cached.digest]) {
    const r = await anon.call(`/v2/library/multi/manifests/${ref}`, { headers: { accept: index.mediaType + ',' + cached.mediaType } });
    if (r.status !== 200) throw new Error(`pull multi ${ref}: ${r.status}`);
  }

  // Local: bob's app (annotations a page must escape), a loose manifest, alice's secret.
  const app = await bob.pushImage('team-a/app', 'v1', { layers: [Buffer.alloc(2048, 5)], annotations: { 'org.example.note': XSS } });
  const loose = await bob.pushImage('team-a/app', undefined, { layers: [Buffer.alloc(10, 6)] });
  const secret = await alice.pushImage('team-b/secret', 'v1', { layers: [Buffer.alloc(100, 7)] });

  const sessions = new Map<User, string>();
  const cookieOf = async (user: User) => {
    if (!sessions.has(user)) sessions.set(user, await signIn(mirror.url, user));
    return sessions.get(user)!;
  };
  return {
    up, mirror, alpine, multi: { index, cached, uncached }, app, secret, loose,
    async page(path, user) {
      const headers: Record<string, string> = user ? { cookie: await cookieOf(user) } : {};
      const res = await request(`${mirror.url}${path}`, { headers });
      return { status: res.statusCode, type: String(res.headers['content-type'] ?? ''), html: await res.body.text() };
    },
    async close() {
      await mirror.close();
      await up.close();
      htpasswd.remove();
    },
  };
}

/** The text of every <a> linking to `href` (attribute-escaped as Hono writes it). */
export function linkTexts(html: string, href: string): string[] {
  const escaped = href.replace(/&/g, '&amp;');
  return [...html.matchAll(/<a href="([^"]*)"[^>]*>(.*?)<\/a>/gs)].filter((m) => m[1] === escaped).map((m) => m[2]!.replace(/<[^>]+>/g, ''));
}

/** Table body rows as arrays of cell texts (tags stripped). */
export function rows(html: string): string[][] {
  const body = html.split('<tbody>').slice(1).map((b) => b.split('</tbody>')[0]!);
  return body.flatMap((b) => [...b.matchAll(/<tr>(.*?)<\/tr>/gs)].map((r) =>
    [...r[1]!.matchAll(/<td[^>]*>(.*?)<\/td>/gs)].map((c) => c[1]!.replace(/<[^>]+>/g, '').trim())));
}
