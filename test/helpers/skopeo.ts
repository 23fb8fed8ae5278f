/**
 * Run skopeo against registries on 127.0.0.1, isolated from this machine's
 * config: HOME is a temp dir (no stored credentials), registries.conf is empty
 * unless given, the trust policy accepts anything, and HTTP(S)_PROXY points at
 * a dead port so nothing can leave the machine.
 *
 * Digests: `skopeoCopy` returns the digest skopeo wrote with `--digestfile`
 * (for `--all` copies, the digest of the top-level index). `readDirImage` and
 * `readOciLayout` read what landed on disk.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { OFFLINE_ENV } from './distribution.js';

export const SKOPEO_BIN = 'skopeo';

export interface SkopeoOptions {
  /** Verify TLS of the source registry (default false: plain HTTP on 127.0.0.1). */
  srcTls?: boolean;
  destTls?: boolean;
  /** Copy every image of an index (`--all`). */
  all?: boolean;
  /** `--multi-arch system|all|index-only` (overrides `all`). */
  multiArch?: 'system' | 'all' | 'index-only';
  /** `--preserve-digests`: fail instead of converting manifests. */
  preserveDigests?: boolean;
  /** Contents of registries.conf (e.g. a `[[registry.mirror]]` section); default empty. */
  registriesConf?: string;
  /** More flags for the subcommand, e.g. ['--src-creds', 'user:pass']. */
  extraArgs?: string[];
  /** Kill skopeo after this long (default 120 s). */
  timeoutMs?: number;
}

export interface SkopeoResult {
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** `skopeo copy SRC DEST`; resolves with the digest skopeo reports for what it copied. */
export async function skopeoCopy(
  src: string,
  dest: string,
  options: SkopeoOptions = {},
): Promise<SkopeoResult & { digest: string }> {
  return withSandbox(options, async (sandbox, run) => {
    const digestFile = join(sandbox, 'digest');
    const args = ['copy', '--digestfile', digestFile, `--src-tls-verify=${options.srcTls ?? false}`];
    if (/^docker:/.test(dest)) args.push(`--dest-tls-verify=${options.destTls ?? false}`);
    if (options.multiArch) args.push('--multi-arch', options.multiArch);
    else if (options.all) args.push('--all');
    if (options.preserveDigests) args.push('--preserve-digests');
    const result = await run([...args, ...(options.extraArgs ?? []), src, dest]);
    const { stdoutBytes: _bytes, ...rest } = result;
    return { ...rest, digest: readFileSync(digestFile, 'utf8').trim() };
  });
}

/** `skopeo inspect --raw`: the exact manifest bytes the registry serves for `ref`. */
export async function skopeoInspectRaw(ref: string, options: SkopeoOptions = {}): Promise<Buffer> {
  return withSandbox(options, async (_sandbox, run) => {
    const args = ['inspect', '--raw', `--tls-verify=${options.srcTls ?? false}`];
    const { stdoutBytes } = await run([...args, ...(options.extraArgs ?? []), ref]);
    return stdoutBytes;
  });
}

/** The digest of the manifest `ref` resolves to (sha256 of the raw bytes). */
export async function skopeoInspectDigest(ref: string, options: SkopeoOptions = {}): Promise<string> {
  return sha256(await skopeoInspectRaw(ref, options));
}

export interface DirImage {
  /** Bytes of the top-level manifest.json (an index when copied with --all). */
  manifest: Buffer;
  digest: string;
  /** A blob file: dir: names blobs by the hex part of their digest. */
  blobPath(digest: string): string;
  /** A child manifest of an index copied with --all: `<hex>.manifest.json`. */
  manifestPath(digest: string): string;
}

/** What `skopeo copy ... dir:PATH` wrote. */
export function readDirImage(dir: string): DirImage {
  const manifest = readFileSync(join(dir, 'manifest.json'));
  const hex = (d: string): string => d.replace(/^sha256:/, '');
  return {
    manifest,
    digest: sha256(manifest),
    blobPath: (d) => join(dir, hex(d)),
    manifestPath: (d) => join(dir, `${hex(d)}.manifest.json`),
  };
}

/** The descriptor tagged `ref` in an OCI layout's index.json, with the manifest bytes it points to. */
export function readOciLayout(dir: string, ref: string): { digest: string; mediaType: string; manifest: Buffer } {
  type Desc = { digest: string; mediaType: string; annotations?: Record<string, string> };
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Desc[] };
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref);
  if (!desc) throw new Error(`no "${ref}" in ${dir}/index.json`);
  return { ...desc, manifest: readFileSync(ociBlobPath(dir, desc.digest)) };
}

/** Path of a blob in an OCI layout. */
export function ociBlobPath(dir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return join(dir, 'blobs', algorithm ?? 'sha256', hex ?? '');
}

/** sha256 of a file, streamed. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return `sha256:${hash.digest('hex')}`;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

type Run = (args: string[]) => Promise<SkopeoResult & { stdoutBytes: Buffer }>;

/** A temp HOME + registries.conf for one skopeo invocation, removed afterwards. */
async function withSandbox<T>(
  options: SkopeoOptions,
  body: (sandbox: string, run: Run) => Promise<T>,
): Promise<T> {
  const sandbox = mkdtempSync(join(tmpdir(), 'skopeo-'));
  const registriesConf = join(sandbox, 'registries.conf');
  writeFileSync(registriesConf, options.registriesConf ?? '');
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: sandbox,
    XDG_RUNTIME_DIR: sandbox,
    ...OFFLINE_ENV,
  };
  const run: Run = (args) => {
    const full = ['--insecure-policy', '--registries-conf', registriesConf, ...args];
    const started = Date.now();
    return new Promise((resolve, reject) => {
      execFile(
        SKOPEO_BIN, full,
        {
          env, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024,
          timeout: options.timeoutMs ?? 120_000, killSignal: 'SIGKILL',
        },
        (err, stdout, stderr) => {
          if (err) {
            const reason = err.message.split('\n')[0];
            reject(new Error(`skopeo ${full.join(' ')} failed (${reason}):\n${stderr.toString()}`));
          } else {
            resolve({
              stdout: stdout.toString(), stderr: stderr.toString(), stdoutBytes: stdout,
              durationMs: Date.now() - started,
            });
          }
        },
      );
    });
  };
  try {
    return await body(sandbox, run);
  } finally {
    rmSync(sandbox, { recursive: true, force: true });
  }
}
