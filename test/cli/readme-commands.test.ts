/**
 * Every `registry-mirror …` / `npx registry-mirror …` line in a README code block is run
 * exactly as written, from the clone's root (as a user who ran `npm install` there), and
 * must exit 0 — or the code a trailing `# exit N` comment documents. So a README command
 * that does not work fails CI, and a command added to the README later is checked too.
 *
 * They run beside a running mirror (for `healthcheck`) on one temp data dir
 * (MIRROR_STORAGE_PATH; gc, prune, stats are safe beside a server) whose docker.io
 * upstream is a fake registry holding library/alpine:3.20 and library/nginx:1.27, pulled
 * once through the mirror so the cache is not empty. `serve` lines get their own data
 * dir and port, must print their URL, and stop gracefully on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { freePort } from '../helpers/free-port.js';
import { startMirror, type MirrorProcess } from '../helpers/mirror.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface ReadmeCommand { line: string; exit: number }

/** The command lines of the README's fenced code blocks (`$ ` prompts dropped). */
export function readmeCommands(markdown: string): ReadmeCommand[] {
  const commands: ReadmeCommand[] = [];
  let fence: string | undefined;
  for (const raw of markdown.split('\n')) {
    const marker = /^\s*(```+|~~~+)/.exec(raw)?.[1];
    if (marker && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined;
      continue;
    }
    if (fence === undefined) continue;
    const line = raw.trim().replace(/^\$\s+/, '');
    if (!/^(npx )?registry-mirror(\s|$)/.test(line)) continue;
    const exit = /\s#.*\bexit (\d+)\b/.exec(line)?.[1];
    commands.push({ line, exit: exit === undefined ? 0 : Number(exit) });
  }
  return commands;
}

interface Ran { code: number | null; signal: NodeJS.Signals | null; output: string }
/**
 * `sh -c LINE` in its own process group; once the output matches `until`, the group gets
 * SIGTERM, as a terminal's Ctrl-C or a service manager signals every process of a job
 * (npm exec does not pass a signal on to the command it runs). Resolves when every
 * process holding the output has exited.
 */
function sh(line: string, env: Record<string, string>, until?: RegExp): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `exec ${line}`], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const group = (signal: NodeJS.Signals) => { try { process.kill(-child.pid!, signal); } catch { /* gone */ } };
    let output = '';
    let signalled = false;
    const timer = setTimeout(() => group('SIGKILL'), 50_000);
    const take = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (until && !signalled && until.test(output)) {
        signalled = true;
        group('SIGTERM');
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', reject);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, output }); });
  });
}

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const COMMANDS = readmeCommands(README);

describe('README commands', () => {
  let upstream: FakeUpstream;
  let mirror: MirrorProcess;
  let env: Record<string, string>;
  const dirs: string[] = [];

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    upstream.addImage('library/alpine', '3.20', { layers: [Buffer.from('alpine layer')] });
    upstream.addImage('library/nginx', '1.27', { layers: [Buffer.from('nginx layer'), Buffer.from('shared layer')] });
    mirror = await startMirror({ upstreamUrl: upstream.url });
    for (const [repo, tag] of [['library/alpine', '3.20'], ['library/nginx', '1.27']] as const) {
      const res = await fetch(`${mirror.url}/v2/${repo}/manifests/${tag}`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
      expect(res.status).toBe(200);
      const manifest = (await res.json()) as { layers: Array<{ digest: string }> };
      for (const layer of manifest.layers) expect((await fetch(`${mirror.url}/v2/${repo}/blobs/${layer.digest}`)).status).toBe(200);
    }
    env = { MIRROR_HTTP_ADDR: mirror.host, MIRROR_STORAGE_PATH: mirror.dataDir, MIRROR_UPSTREAM_URL: upstream.url, MIRROR_LOG_LEVEL: 'warn' };
  });
  afterAll(async () => {
    await mirror?.destroy();
    await upstream?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    // Where the README's backup example writes.
    rmSync('/tmp/registry-mirror-backup', { recursive: true, force: true });
  });

  it('finds the commands the README shows (the extraction itself works)', () => {
    expect(readmeCommands('```sh\n$ npx registry-mirror gc  # exit 2\nnpm test\n```\n`registry-mirror stats`\n'))
      .toEqual([{ line: 'npx registry-mirror gc  # exit 2', exit: 2 }]);
    expect(COMMANDS.map((c) => c.line)).toEqual(expect.arrayContaining([expect.stringMatching(/^npx registry-mirror prune /)]));
    expect(COMMANDS.length).toBeGreaterThanOrEqual(4);
  });

  it('uses no bare `registry-mirror COMMAND` in prose: without `npm link` it is "command not found"', () => {
    const bare = [...README.matchAll(/`(registry-mirror [a-z][^`]*)`/g)].map((m) => m[1]);
    expect(bare).toEqual([]);
  });

  for (const { line, exit } of COMMANDS) {
    it(`runs: ${line}`, async () => {
      if (/^(npx )?registry-mirror (serve\b|--config|-c\b)|^(npx )?registry-mirror\s*(#|$)/.test(line)) {
        const dir = mkdtempSync(join(tmpdir(), 'mirror-readme-'));
        dirs.push(dir);
        const own = { ...env, MIRROR_STORAGE_PATH: dir, MIRROR_HTTP_ADDR: `127.0.0.1:${await freePort()}`, MIRROR_LOG_LEVEL: 'info' };
        const ran = await sh(line, own, /"msg":"serving"/);
        expect(ran.output).toMatch(/"msg":"serving","url":"http:\/\/127\.0\.0\.1:\d+"/);
        // The server's own graceful stop ran; npx itself dies of the signal.
        expect(ran.output).toMatch(/"msg":"shutting down","signal":"SIGTERM"/);
        expect(ran.output).not.toMatch(/"level":"error"/);
        expect(ran.signal === 'SIGTERM' || ran.code === exit, ran.output).toBe(true);
        return;
      }
      const ran = await sh(line, env);
      expect(ran.code, ran.output).toBe(exit);
    });
  }
});
