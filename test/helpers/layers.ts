/**
 * Deterministic layer content for seeding registries.
 *
 * - `deterministicStream(size, seed)`: pseudo-random bytes (AES-256-CTR over
 *   zeros, keyed by sha256(seed)): fast, the same on every run, never held in memory.
 * - `tarGzStream(...)` / `tarGzLayer(...)`: the same content wrapped as a real
 *   tar.gz layer (one file), so clients that unpack layers (podman, dockerd,
 *   containerd) accept it and the config's `diff_ids` are the true sha256 of
 *   the uncompressed tar.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { constants, createGzip, gzipSync } from 'node:zlib';

const CHUNK = 1024 * 1024;

/** `size` pseudo-random bytes derived from `seed`, streamed in 1 MiB chunks. */
export function deterministicStream(size: number, seed: string | number): Readable {
  const key = createHash('sha256').update(`layer-seed:${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(CHUNK);
  let left = size;
  return new Readable({
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, CHUNK);
      left -= n;
      this.push(cipher.update(n === CHUNK ? zeros : zeros.subarray(0, n)));
    },
  });
}

/** The same bytes as `deterministicStream`, in one Buffer (for small sizes). */
export function deterministicBytes(size: number, seed: string | number): Buffer {
  const key = createHash('sha256').update(`layer-seed:${seed}`).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

/** A 512-byte ustar header for a regular file (mode 0644, uid/gid 0, mtime 0). */
export function tarHeader(name: string, size: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar name too long: ${name}`);
  const h = Buffer.alloc(512);
  const put = (offset: number, length: number, value: string): void => {
    h.write(value, offset, length, 'ascii');
  };
  const octal = (offset: number, length: number, value: number): void =>
    put(offset, length, value.toString(8).padStart(length - 1, '0') + '\0');
  h.write(name, 0, 100, 'utf8');
  octal(100, 8, 0o644); // mode
  octal(108, 8, 0); // uid
  octal(116, 8, 0); // gid
  octal(124, 12, size);
  octal(136, 12, 0); // mtime
  put(148, 8, '        '); // checksum counts as spaces while summing
  put(156, 1, '0'); // regular file
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  let sum = 0;
  for (const byte of h) sum += byte;
  put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/** Zero padding after `size` bytes of file content, up to the next 512-byte block. */
function padding(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}

/** Two zero blocks end a tar archive. */
const TAR_END = Buffer.alloc(1024);

/** Hashes what flows through, without changing it. */
export class HashingPassThrough extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
  /** `sha256:<hex>`; call once, after the stream ended. */
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

export interface TarGzStream {
  /** The gzip-compressed tar, to upload. */
  stream: Readable;
  /** Resolves after `stream` ended: the sha256 of the uncompressed tar (the diff_id). */
  diffId: Promise<string>;
}

/**
 * A tar.gz layer with one file `name` holding `size` deterministic bytes, made
 * on the fly. gzip level 0 (stored blocks): valid gzip, no CPU spent on
 * incompressible data, output only slightly larger than `size`.
 */
export function tarGzStream(size: number, seed: string | number, name = 'data.bin'): TarGzStream {
  const tarHash = new HashingPassThrough();
  const gzip = createGzip({ level: constants.Z_NO_COMPRESSION });
  async function* tar(): AsyncGenerator<Buffer> {
    yield tarHeader(name, size);
    for await (const chunk of deterministicStream(size, seed)) yield chunk as Buffer;
    yield Buffer.concat([padding(size), TAR_END]);
  }
  const diffId = new Promise<string>((resolve, reject) => {
    tarHash.once('end', () => resolve(tarHash.digest()));
    tarHash.once('error', reject);
  });
  Readable.from(tar()).pipe(tarHash).pipe(gzip);
  return { stream: gzip, diffId };
}

/** A small tar.gz layer in memory from `{ path: content }`; returns the blob and its diff_id. */
export function tarGzLayer(files: Record<string, string | Buffer>): { blob: Buffer; diffId: string } {
  const parts: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const data = typeof content === 'string' ? Buffer.from(content) : content;
    parts.push(tarHeader(name, data.length), data, padding(data.length));
  }
  parts.push(TAR_END);
  const tar = Buffer.concat(parts);
  return { blob: gzipSync(tar), diffId: `sha256:${createHash('sha256').update(tar).digest('hex')}` };
}
