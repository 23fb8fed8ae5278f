/**
 * The setup the private-registry suites share: a fake upstream (the mirrored side, whose
 * request log proves local names never reach it), an htpasswd file (bcrypt via
 * bcryptjs), and the mirror in-process with local namespaces `team/*` and `private/**`.
 */
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';
import { startMirrorApp, type MirrorApp } from './mirror-app.js';
import { basicAuth, createOciClient, makeHtpasswd, type OciClient } from './oci-client.js';

export const USERS = { alice: 'secret', bob: 'hunter2' } as const;
export const ALICE = basicAuth('alice', USERS.alice);
export const BOB = basicAuth('bob', USERS.bob);

export interface LocalRegistry {
  up: FakeUpstream;
  mirror: MirrorApp;
  /** Sends alice's Basic credentials on every request unless told otherwise. */
  alice: OciClient;
  bob: OciClient;
  /** Sends no credentials. */
  anon: OciClient;
  close(): Promise<void>;
}

export async function startLocalRegistry(env: Record<string, string> = {}): Promise<LocalRegistry> {
  const up = await startFakeUpstream();
  const htpasswd = makeHtpasswd(USERS);
  const mirror = await startMirrorApp(up.url, {
    MIRROR_LOCAL_NAMESPACES: 'team/*,private/**',
    MIRROR_AUTH_HTPASSWD: htpasswd.file,
    ...env,
  });
  return {
    up,
    mirror,
    alice: createOciClient(mirror.url, ALICE),
    bob: createOciClient(mirror.url, BOB),
    anon: createOciClient(mirror.url),
    async close() {
      await mirror.close();
      await up.close();
      htpasswd.remove();
    },
  };
}

/** Upstream requests that named `repo` (local names must never appear). */
export const upstreamRequestsFor = (up: FakeUpstream, repo: string) =>
  up.requests.filter((r) => r.repo === repo || r.path.includes(`/${repo}/`));
