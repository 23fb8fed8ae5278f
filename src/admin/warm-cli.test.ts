import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatBytes, ImageListError, readImageList, warmReporter } from './warm-cli.js';
import { gcCheckReporter } from './gc-check-report.js';

describe('readImageList', () => {
  it('takes references and files (comments, blank lines, duplicates dropped), naming file and line on errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warm-list-'));
    try {
      const file = join(dir, 'images');
      writeFileSync(file, '# base\nalpine:3.20  # pinned\n\nbusybox\nalpine:3.20\n');
      expect(readImageList([file, 'nginx:1']).map((r) => r.text)).toEqual(['alpine:3.20', 'busybox', 'nginx:1']);
      writeFileSync(file, 'alpine\nalpine:\n');
      expect(() => readImageList([file, 'x y'])).toThrow(ImageListError);
      expect(() => readImageList([file])).toThrow(`${file}:2: `);
      writeFileSync(file, '# nothing\n');
      expect(() => readImageList([file])).toThrow(/no images to warm/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('progress output', () => {
  const ok = { image: 'alpine:3.20', ok: true, digest: 'sha256:d', manifests: 1, blobs: 2, fetched: 1, bytesFetched: 1536 };
  const failed = { image: 'x:1', ok: false, manifests: 0, blobs: 0, fetched: 0, bytesFetched: 0, error: 'MANIFEST_UNKNOWN: manifest unknown' };

  it('warm: numbered lines on a terminal, key=value lines in a pipe', () => {
    const tty: string[] = [];
    const r = warmReporter(2, (l) => tty.push(l), true);
    r.image(ok);
    r.image(failed);
    expect(tty).toEqual([
      '[1/2] ok     alpine:3.20  1 manifest(s), 2 blob(s), 1 fetched (1.5 KiB)\n',
      '[2/2] FAILED x:1  MANIFEST_UNKNOWN: manifest unknown\n',
    ]);
    const pipe: string[] = [];
    const p = warmReporter(2, (l) => pipe.push(l), false);
    p.image(ok);
    p.image(failed);
    expect(pipe).toEqual([
      'warmed image=alpine:3.20 digest=sha256:d manifests=1 blobs=2 fetched=1 bytes=1536\n',
      'failed image=x:1 error="MANIFEST_UNKNOWN: manifest unknown"\n',
    ]);
    expect(formatBytes(512)).toBe('512 B');
  });

  it('gc --check: a progress line rewritten on a terminal and cleared before findings; none in a pipe', () => {
    const out: string[] = [];
    const r = gcCheckReporter((t) => out.push(t), true);
    r.progress({ rows: 10, files: 0 });
    r.finding({ kind: 'stray', digest: 'sha256:s', size: 3, action: 'kept' });
    expect(out).toEqual(['\r\x1b[Kchecked 10 index rows, 0 files', '\r\x1b[K', 'stray digest=sha256:s size=3 action=kept\n']);
    const pipe: string[] = [];
    const p = gcCheckReporter((t) => pipe.push(t), false);
    p.progress({ rows: 10, files: 0 });
    p.finding({ kind: 'missing', digest: 'sha256:m', size: 3, action: 'reported', origin: 'push' });
    expect(pipe).toEqual(['missing digest=sha256:m size=3 origin=push action=reported\n']);
  });
});
