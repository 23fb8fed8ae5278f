/**
 * A small black-box client for the registry API of a local namespace, for tests: raw
 * requests that return status, headers and body, plus the push steps tests repeat
 * (blob: POST + PUT ?digest=; manifest: PUT with its media type) and manifest builders.
 * Every step asserts nothing itself except the helpers that say "or throw".
 */
import { createHash } from 'node:crypto';
import { request } from 'undici';

export const MT = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  empty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** The OCI empty descriptor's content ("{}") and its well-known digest. */
export const EMPTY_JSON = Buffer.from('{}');
export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export const basicAuth = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** An htpasswd file for these users (bcrypt via bcryptjs; see ./htpasswd.ts). */
export { makeHtpasswd } from './htpasswd.js';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** A header as one string ('' when absent). */
  header(name: string): string;
  json<T = Record<string, unknown>>(): T;
  /** Codes of the OCI error body, [] when there is none. */
  codes(): string[];
}

export interface CallOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Authorization header value; `null` sends none even when the client has one. */
  auth?: string | null;
}

export interface OciClient {
  readonly url: string;
  /** A path ("/v2/..."), an absolute URL, or a Location header value (maybe relative). */
  call(pathOrUrl: string, options?: CallOptions): Promise<Reply>;
  /** POST /uploads/ and return the absolute upload URL (throws unless 202 + Location). */
  startUpload(repo: string, auth?: string | null): Promise<string>;
  /** POST + monolithic PUT ?digest=; throws unless 201. */
  pushBlob(repo: string, bytes: Buffer | string, auth?: string | null): Promise<Descriptor>;
  /** PUT /v2/<repo>/manifests/<ref> with Content-Type; returns the reply (status unchecked). */
  putManifest(repo: string, ref: string, bytes: Buffer, mediaType: string, auth?: string | null): Promise<Reply>;
  /** PUT that must answer 201; returns the manifest's descriptor. */
  pushManifest(repo: string, ref: string | undefined, bytes: Buffer, mediaType: string): Promise<Descriptor>;
  /** Config + one layer per buffer + image manifest under `tag`. */
  pushImage(repo: string, tag: string | undefined, options?: ImageOptions): Promise<PushedImage>;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface ImageOptions {
  layers?: Buffer[];
  config?: Buffer;
  configMediaType?: string;
  artifactType?: string;
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface PushedImage {
  manifest: Buffer;
  descriptor: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
}

export function createOciClient(url: string, auth?: string): OciClient {
  const call = async (pathOrUrl: string, o: CallOptions = {}): Promise<Reply> => {
    const headers: Record<string, string> = { ...o.headers };
    const a = o.auth === undefined ? auth : o.auth;
    if (a) headers.authorization = a;
    const res = await request(new URL(pathOrUrl, url), {
      method: (o.method ?? 'GET') as 'GET',
      headers,
      ...(o.body !== undefined ? { body: o.body } : {}),
    });
    const body = Buffer.from(await res.body.arrayBuffer());
    return toReply(res.statusCode, res.headers, body);
  };

  const startUpload = async (repo: string, a?: string | null) => {
    const r = await call(`/v2/${repo}/blobs/uploads/`, { method: 'POST', auth: a });
    if (r.status !== 202 || !r.header('location')) throw new Error(`POST uploads to ${repo}: ${r.status} ${r.body.toString()}`);
    return new URL(r.header('location'), url).toString();
  };

  const pushBlob = async (repo: string, data: Buffer | string, a?: string | null): Promise<Descriptor> => {
    const bytes = Buffer.from(data);
    const digest = sha256(bytes);
    const loc = new URL(await startUpload(repo, a));
    loc.searchParams.set('digest', digest);
    const r = await call(loc.toString(), { method: 'PUT', auth: a, headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    if (r.status !== 201) throw new Error(`PUT blob ${digest} to ${repo}: ${r.status} ${r.body.toString()}`);
    return { mediaType: 'application/octet-stream', digest, size: bytes.length };
  };

  const putManifest = (repo: string, ref: string, bytes: Buffer, mediaType: string, a?: string | null) =>
    call(`/v2/${repo}/manifests/${ref}`, { method: 'PUT', auth: a, headers: { 'content-type': mediaType }, body: bytes });

  const pushManifest = async (repo: string, ref: string | undefined, bytes: Buffer, mediaType: string): Promise<Descriptor> => {
    const digest = sha256(bytes);
    const r = await putManifest(repo, ref ?? digest, bytes, mediaType);
    if (r.status !== 201) throw new Error(`PUT manifest ${repo}:${ref ?? digest}: ${r.status} ${r.body.toString()}`);
    return { mediaType, digest, size: bytes.length };
  };

  const pushImage = async (repo: string, tag: string | undefined, o: ImageOptions = {}): Promise<PushedImage> => {
    const configBytes = o.config ?? Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const config = { ...(await pushBlob(repo, configBytes)), mediaType: o.configMediaType ?? MT.config };
    const layers: Descriptor[] = [];
    for (const l of o.layers ?? [Buffer.from(`layer of ${repo}:${tag ?? '-'} ${Math.random()}`)]) {
      layers.push({ ...(await pushBlob(repo, l)), mediaType: MT.layer });
    }
    const manifest = imageManifest({ config, layers, artifactType: o.artifactType, subject: o.subject, annotations: o.annotations });
    const descriptor = await pushManifest(repo, tag, manifest, MT.manifest);
    return { manifest, descriptor, config, layers };
  };

  return { url, call, startUpload, pushBlob, putManifest, pushManifest, pushImage };
}

function toReply(status: number, headers: Record<string, string | string[] | undefined>, body: Buffer): Reply {
  const header = (name: string) => {
    const v = headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(', ') : (v ?? '');
  };
  const json = <T>() => JSON.parse(body.toString('utf8')) as T;
  const codes = () => {
    try {
      const errors = json<{ errors?: Array<{ code?: unknown }> }>().errors;
      return Array.isArray(errors) ? errors.map((e) => String(e.code)) : [];
    } catch {
      return [];
    }
  };
  return { status, headers, body, header, json, codes };
}

/**
 * An OCI image manifest. Serialized with 3-space indentation on purpose: a registry
 * that re-serializes instead of storing the bytes as received changes the digest.
 */
export function imageManifest(m: { config: Descriptor; layers: Descriptor[]; artifactType?: string | undefined; subject?: Descriptor | undefined; annotations?: Record<string, string> | undefined; mediaType?: string }): Buffer {
  const doc: Record<string, unknown> = { schemaVersion: 2, mediaType: m.mediaType ?? MT.manifest };
  if (m.artifactType) doc.artifactType = m.artifactType;
  doc.config = bare(m.config);
  doc.layers = m.layers.map(bare);
  if (m.subject) doc.subject = bare(m.subject);
  if (m.annotations) doc.annotations = m.annotations;
  return Buffer.from(JSON.stringify(doc, null, 3) + '\n');
}

/** An OCI image index (or a Docker manifest list with `mediaType`). */
export function imageIndex(m: { manifests: Descriptor[]; artifactType?: string; subject?: Descriptor; annotations?: Record<string, string>; mediaType?: string }): Buffer {
  const doc: Record<string, unknown> = { schemaVersion: 2, mediaType: m.mediaType ?? MT.index };
  if (m.artifactType) doc.artifactType = m.artifactType;
  doc.manifests = m.manifests.map(bare);
  if (m.subject) doc.subject = bare(m.subject);
  if (m.annotations) doc.annotations = m.annotations;
  return Buffer.from(JSON.stringify(doc, null, 3) + '\n');
}

const bare = (d: Descriptor) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size });

/** Polls `check` until it returns true or `ms` pass. */
export async function eventually(check: () => Promise<boolean> | boolean, ms = 5000, stepMs = 100): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
