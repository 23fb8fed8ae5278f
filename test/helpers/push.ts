/**
 * Low-level pushes into a registry through its HTTP API (no client binaries).
 * Auth follows the registry's challenge: GET /v2/ → 401 Bearer realm/service →
 * token with Basic credentials (the token server grants push only to its user).
 *
 * Blob uploads: a Buffer goes as POST + monolithic PUT ?digest=; a stream goes
 * as POST + one streamed PATCH (hashed on the way) + PUT ?digest=, so a large
 * layer is never held in memory. Higher-level seeding lives in seed.ts.
 */
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { request } from 'undici';
import { HashingPassThrough } from './layers.js';
import type { TokenServer } from './token-server.js';

/** Where to push: a Distribution from startDistribution() fits, or any `{ url }`. */
export interface RegistryTarget {
  readonly url: string;
  /** When set, push credentials default to its first user. */
  readonly tokenServer?: TokenServer | undefined;
  readonly credentials?: { username: string; password: string };
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export const MediaTypes = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

const tokens = new Map<string, { header: string; expires: number }>();

/** Authorization header value for pushing to `repo`, or undefined when none is needed. */
export async function pushAuthorization(
  registry: RegistryTarget,
  repo: string,
): Promise<string | undefined> {
  // Keyed by token server too: a registry restarted on the same port gets a new signing key.
  const key = `${registry.url} ${registry.tokenServer?.url ?? '-'} ${repo}`;
  const cached = tokens.get(key);
  if (cached && cached.expires > Date.now()) return cached.header;

  const ping = await request(`${registry.url}/v2/`);
  await ping.body.dump();
  if (ping.statusCode === 200) return undefined;
  const challenge = String(ping.headers['www-authenticate'] ?? '');
  const params = Object.fromEntries(
    [...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
  );
  if (ping.statusCode !== 401 || !/^Bearer /i.test(challenge) || !params.realm) {
    throw new Error(`unexpected ping answer ${ping.statusCode} (${challenge})`);
  }
  const user = registry.tokenServer ? Object.entries(registry.tokenServer.users)[0] : undefined;
  const creds = registry.credentials ?? (user && { username: user[0], password: user[1] });
  if (!creds) throw new Error(`${registry.url} needs a token: give credentials or tokenServer`);

  const url = new URL(params.realm);
  if (params.service) url.searchParams.set('service', params.service);
  url.searchParams.set('scope', `repository:${repo}:pull,push`);
  const basic = Buffer.from(`${creds.username}:${creds.password}`).toString('base64');
  const res = await request(url, { headers: { authorization: `Basic ${basic}` } });
  if (res.statusCode !== 200) throw new Error(`token request: ${res.statusCode} ${await res.body.text()}`);
  const body = (await res.body.json()) as { token?: string; access_token?: string; expires_in?: number };
  const header = `Bearer ${body.access_token ?? body.token}`;
  tokens.set(key, { header, expires: Date.now() + ((body.expires_in ?? 60) - 30) * 1000 });
  return header;
}

async function authHeaders(registry: RegistryTarget, repo: string): Promise<Record<string, string>> {
  const auth = await pushAuthorization(registry, repo);
  return auth ? { authorization: auth } : {};
}

/** A blob too large to hold in memory: produced on demand by `stream()`. */
export interface StreamSource {
  stream: () => Readable;
}

/**
 * Upload one blob; returns its digest and size. A Buffer already present in
 * the repository is not uploaded again.
 */
export async function pushBlob(
  registry: RegistryTarget,
  repo: string,
  data: Buffer | StreamSource,
): Promise<{ digest: string; size: number }> {
  const headers = await authHeaders(registry, repo);
  const base = `${registry.url}/v2/${repo}/blobs`;
  if (Buffer.isBuffer(data)) {
    const digest = sha256(data);
    const head = await request(`${base}/${digest}`, { method: 'HEAD', headers });
    await head.body.dump();
    if (head.statusCode === 200) return { digest, size: data.length };
  }

  const start = await request(`${base}/uploads/`, { method: 'POST', headers });
  await expectStatus(start, 202, 'start upload');
  let location = uploadLocation(registry, start.headers.location);

  let digest: string;
  let size: number;
  let body: Buffer | undefined;
  if (Buffer.isBuffer(data)) {
    ({ digest, size, body } = { digest: sha256(data), size: data.length, body: data });
  } else {
    // One PATCH without Content-Range is a "stream" upload: the body is the whole blob.
    const hasher = new HashingPassThrough();
    const patch = request(location, {
      method: 'PATCH',
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body: hasher,
    });
    await Promise.all([pipeline(data.stream(), hasher), patch]);
    const res = await patch;
    await expectStatus(res, 202, 'PATCH upload');
    ({ digest, size } = { digest: hasher.digest(), size: hasher.bytes });
    if (res.headers.range !== `0-${size - 1}`) {
      throw new Error(`PATCH upload: Range ${String(res.headers.range)}, sent ${size} bytes`);
    }
    location = uploadLocation(registry, res.headers.location);
  }
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  const put = await request(url, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/octet-stream' },
    body: body ?? '',
  });
  await expectStatus(put, 201, `PUT blob ${digest}`);
  return { digest, size };
}

/** PUT a manifest (or index) under a tag or its digest; returns its digest. */
export async function pushManifest(
  registry: RegistryTarget,
  repo: string,
  reference: string | undefined,
  bytes: Buffer,
  mediaType: string,
): Promise<string> {
  const digest = sha256(bytes);
  const res = await request(`${registry.url}/v2/${repo}/manifests/${reference ?? digest}`, {
    method: 'PUT',
    headers: { ...(await authHeaders(registry, repo)), 'content-type': mediaType },
    body: bytes,
  });
  await expectStatus(res, 201, `PUT manifest ${repo}:${reference ?? digest}`);
  const answered = res.headers['docker-content-digest'];
  if (answered !== undefined && answered !== digest) {
    throw new Error(`registry computed ${String(answered)} for manifest ${digest}`);
  }
  return digest;
}

function uploadLocation(registry: RegistryTarget, location: string | string[] | undefined): string {
  if (typeof location !== 'string') throw new Error('upload response without Location');
  return new URL(location, registry.url).toString();
}

type UndiciResponse = Awaited<ReturnType<typeof request>>;

async function expectStatus(res: UndiciResponse, status: number, what: string): Promise<void> {
  if (res.statusCode === status) {
    await res.body.dump();
    return;
  }
  throw new Error(`${what}: HTTP ${res.statusCode} (expected ${status}): ${await res.body.text()}`);
}
