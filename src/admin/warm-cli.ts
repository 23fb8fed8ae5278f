import { readFileSync, statSync } from 'node:fs';
import { parseImageRef, type ImageRef } from '../oci/image-ref.js';
import type { WarmImageResult, WarmSummary } from './warm.js';

/** A list the user gave that cannot be used (a bad reference, an unreadable file): exit 2. */
export class ImageListError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageListError';
  }
}

/**
 * The images `warm` is given: each argument is a file (one reference a line, `#`
 * comments and blank lines ignored) when a file of that name exists, else a reference.
 * Duplicates are dropped. Every problem is reported at once, naming the file and line.
 */
export function readImageList(sources: readonly string[]): ImageRef[] {
  const out = new Map<string, ImageRef>();
  const problems: string[] = [];
  const add = (text: string, where: string) => {
    try {
      const ref = parseImageRef(text);
      if (!out.has(ref.text)) out.set(ref.text, ref);
    } catch (err) {
      problems.push(`${where}${(err as Error).message}`);
    }
  };
  for (const source of sources) {
    if (!isFile(source)) {
      add(source, '');
      continue;
    }
    let text: string;
    try {
      text = readFileSync(source, 'utf8');
    } catch (err) {
      problems.push(`${source}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      continue;
    }
    text.split('\n').forEach((line, i) => {
      const ref = line.replace(/#.*/, '').trim();
      if (ref) add(ref, `${source}:${i + 1}: `);
    });
  }
  if (problems.length > 0) throw new ImageListError(problems.join('\n'));
  if (out.size === 0) throw new ImageListError('no images to warm');
  return [...out.values()];
}

const isFile = (path: string): boolean => {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
};

/**
 * Progress lines for `warm`, on stderr: one per image as it finishes, numbered on a
 * terminal ("[3/10] ok alpine:3.20 …"), plain `key=value` lines in a pipe (for logs and
 * grep), then a summary line.
 */
export function warmReporter(total: number, write: (line: string) => void, tty: boolean) {
  let done = 0;
  return {
    image(r: WarmImageResult): void {
      done++;
      if (tty) {
        const what = r.ok
          ? `ok     ${r.image}  ${r.manifests} manifest(s), ${r.blobs} blob(s), ${r.fetched} fetched (${formatBytes(r.bytesFetched)})`
          : `FAILED ${r.image}  ${r.error}`;
        write(`[${done}/${total}] ${what}\n`);
      } else if (r.ok) {
        write(`warmed image=${r.image} digest=${r.digest} manifests=${r.manifests} blobs=${r.blobs} fetched=${r.fetched} bytes=${r.bytesFetched}\n`);
      } else {
        write(`failed image=${r.image} error=${JSON.stringify(r.error)}\n`);
      }
    },
    summary(s: WarmSummary): void {
      write(`warm: ${s.images} image(s), ${s.failed} failed; ${s.blobsFetched} blob(s) fetched (${formatBytes(s.bytesFetched)}), ${s.alreadyCached} already cached\n`);
    },
  };
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}
