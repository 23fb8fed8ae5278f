/**
 * A mirror with a local namespace (`private/**`) and a pusher, for the fail-closed suites:
 * the htpasswd file is written with the project's own bcrypt library (no binary needed).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { startMirrorApp, type MirrorApp } from './mirror-app.js';
import { basicAuth, createOciClient, type OciClient } from './oci-client.js';

export interface PrivateMirror {
  mirror: MirrorApp;
  /** Pushes as a user with push rights on private/**. */
  pusher: OciClient;
  /** Sends no credentials. */
  anon: OciClient;
  /** The index key of a mirrored name, e.g. "docker.io/library/alpine". */
  cacheRepo(upstreamName: string): string;
  close(): Promise<void>;
}

export async function startPrivateMirror(upstreamUrl: string, env: Record<string, string> = {}): Promise<PrivateMirror> {
  const dir = mkdtempSync(join(tmpdir(), 'htpasswd-'));
  const file = join(dir, 'htpasswd');
  writeFileSync(file, `alice:${bcrypt.hashSync('secret', 4)}\n`);
  const mirror = await startMirrorApp(upstreamUrl, { MIRROR_LOCAL_NAMESPACES: 'private/**', MIRROR_AUTH_HTPASSWD: file, ...env });
  return {
    mirror,
    pusher: createOciClient(mirror.url, basicAuth('alice', 'secret')),
    anon: createOciClient(mirror.url),
    cacheRepo: (name) => `${mirror.config.upstream.name}/${name}`,
    async close() {
      await mirror.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
