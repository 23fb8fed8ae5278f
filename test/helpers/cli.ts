/** The built CLI (dist/main.js) run as a user runs it, and where the file store keeps a blob. */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { MIRROR_MAIN } from './mirror.js';

export const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The file store's path of a blob under a data dir. */
export const blobFile = (dir: string, digest: string) => join(dir, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));

/** `registry-mirror ARGS` with only PATH and `env`: its exit code and output. */
export function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MIRROR_MAIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
