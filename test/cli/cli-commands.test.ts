/**
 * The CLI as a user runs it from the clone (dist/ built by global-setup): --version,
 * help, the healthcheck the container image uses, and what `serve` says when it starts.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIRROR_MAIN, startMirror, type MirrorProcess } from '../helpers/mirror.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const NO_UPSTREAM = 'http://127.0.0.1:9';

interface Run { code: number; stdout: string; stderr: string }
/** Runs `node dist/main.js ARGS` (or another program) with only the given environment. */
function run(args: string[], env: Record<string, string> = {}, program = process.execPath): Promise<Run> {
  const argv = program === process.execPath ? [MIRROR_MAIN, ...args] : args;
  return new Promise((resolve) => {
    execFile(program, argv, { cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env } },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

describe('--version and help', () => {
  it('prints package.json version, from node and from the npx bin', async () => {
    expect(await run(['--version'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    const npx = await run(['registry-mirror', '--version'], {}, 'npx');
    expect(npx.stdout).toBe(`${VERSION}\n`);
    expect(npx.code).toBe(0);
  });

  it('prints help and a command help even when the config is broken', async () => {
    const broken = { MIRROR_HTTP_ADDR: 'nonsense' };
    const all = await run(['help'], broken);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^usage: registry-mirror/);
    expect(all.stdout).toMatch(/^ {2}healthcheck +GET \/healthz/m);
    const prune = await run(['prune', '--help'], broken);
    expect(prune.code).toBe(0);
    expect(prune.stdout).toContain('--max-size SIZE');
    expect(prune.stdout).toContain('example:\n  npx registry-mirror prune --max-size 200GiB --dry-run');
    expect(await run(['help', 'vacuum'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^registry-mirror: unknown command "vacuum"/) });
  });
});

describe('healthcheck and the start message', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mirror-cli-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-subj', '/CN=mirror.internal', '-addext', 'subjectAltName=DNS:mirror.internal,IP:127.0.0.1'], { stdio: 'ignore' });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 while the configured port answers, 1 once it is down; serve printed the URL and daemon.json line', async () => {
    let mirror: MirrorProcess | undefined = await startMirror({ upstreamUrl: NO_UPSTREAM, env: { MIRROR_LOG_LEVEL: 'info' } });
    try {
      const env = { MIRROR_HTTP_ADDR: `0.0.0.0:${mirror.port}`, MIRROR_STORAGE_PATH: mirror.dataDir };
      expect(await run(['healthcheck', '--config', '/dev/null'], env))
        .toEqual({ code: 0, stdout: `http://127.0.0.1:${mirror.port}/healthz: ok\n`, stderr: '' });
      const serving = mirror.process.output().split('\n').map((l) => { try { return JSON.parse(l) as Record<string, string>; } catch { return {}; } })
        .find((l) => l.msg === 'serving');
      expect(serving).toMatchObject({
        level: 'info',
        url: `http://127.0.0.1:${mirror.port}`,
        daemon_json: `/etc/docker/daemon.json: {"registry-mirrors":["http://127.0.0.1:${mirror.port}"],"insecure-registries":["127.0.0.1:${mirror.port}"]}`,
      });
      await mirror.destroy();
      mirror = undefined;
      const down = await run(['healthcheck', '--config', '/dev/null'], env);
      expect(down).toEqual({ code: 1, stdout: '', stderr: `http://127.0.0.1:${env.MIRROR_HTTP_ADDR.split(':')[1]}/healthz: ECONNREFUSED\n` });
    } finally {
      await mirror?.destroy();
    }
  });

  it('speaks https to a TLS listener (a self-signed certificate is fine); plain http there fails', async () => {
    const tls = { MIRROR_HTTP_TLS_CERTIFICATE: join(dir, 'cert.pem'), MIRROR_HTTP_TLS_KEY: join(dir, 'key.pem') };
    const mirror = await startMirror({ upstreamUrl: NO_UPSTREAM, env: tls, scheme: 'https', caFile: join(dir, 'cert.pem') });
    try {
      const addr = { MIRROR_HTTP_ADDR: `127.0.0.1:${mirror.port}`, MIRROR_STORAGE_PATH: mirror.dataDir };
      expect(await run(['healthcheck', '--config', '/dev/null'], { ...addr, ...tls }))
        .toMatchObject({ code: 0, stdout: `https://127.0.0.1:${mirror.port}/healthz: ok\n` });
      const plain = await run(['healthcheck', '--config', '/dev/null'], addr);
      expect(plain.code).toBe(1);
      expect(plain.stderr).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${mirror.port}/healthz: `));
    } finally {
      await mirror.destroy();
    }
  });
});
