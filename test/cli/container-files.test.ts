/**
 * The container files as a user deploys them (no Docker engine here, so what the image
 * would run is run from the clone): the Dockerfile leaves http.addr and storage.path to
 * the config file, its HEALTHCHECK and CMD read the same file, node is the entrypoint,
 * and docker-compose.yml's mounted config (TLS, htpasswd) serves and passes the healthcheck.
 */
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { htpasswdText } from '../helpers/htpasswd.js';
import { Agent } from 'undici';
import { startFakeUpstream } from '../helpers/fake-upstream.js';
import { freePort } from '../helpers/free-port.js';
import { MIRROR_MAIN } from '../helpers/mirror.js';
import { spawnProcess, waitForHttp } from '../helpers/processes.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
/** The runtime stage: everything after the last FROM. */
const RUNTIME = DOCKERFILE.slice(DOCKERFILE.lastIndexOf('\nFROM '));
const IMAGE_CONFIG = '/etc/registry-mirror/mirror.config.yaml';

const execArray = (instruction: string): string[] => {
  const m = new RegExp(`^${instruction}\\s+(?:--\\S+\\s+|\\\\\\n\\s*)*(?:CMD\\s+)?(\\[.*\\])\\s*$`, 'm').exec(RUNTIME.replace(/\\\n\s*/g, ' '));
  expect(m, instruction).not.toBeNull();
  return JSON.parse(m![1]!) as string[];
};

describe('Dockerfile', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'mirror-image-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('sets no MIRROR_* ENV (a mounted config keeps its http.addr and storage.path)', () => {
    expect(RUNTIME).not.toMatch(/^\s*(ENV|ARG)\b[^\n]*MIRROR_/m);
    expect(RUNTIME).not.toMatch(/^\s+MIRROR_\w+=/m);
  });

  it('runs node directly, and HEALTHCHECK runs `healthcheck` on the config CMD serves', () => {
    expect(execArray('ENTRYPOINT')).toEqual(['node', 'dist/main.js']);
    expect(execArray('CMD')).toEqual(['serve', '--config', IMAGE_CONFIG]);
    expect(execArray('HEALTHCHECK')).toEqual(['node', 'dist/main.js', 'healthcheck', '--config', IMAGE_CONFIG]);
  });

  it("its edit of the example config puts storage.path on the volume and keeps port 5000", () => {
    // The RUN line's own sed expression, applied to the repository's example as the build does.
    const expression = /sed -i '([^']+)' \/etc\/registry-mirror\/mirror\.config\.yaml/.exec(RUNTIME)?.[1];
    expect(expression).toBeDefined();
    const file = join(dir, 'mirror.config.yaml');
    copyFileSync(join(ROOT, 'mirror.config.yaml'), file);
    execFileSync('sed', ['-i', expression!, file]);
    const config = loadConfig({ file, env: {} });
    expect(config.storage.path).toBe('/var/lib/registry-mirror');
    expect(RUNTIME).toContain('VOLUME ["/var/lib/registry-mirror"]');
    expect([config.http.host, config.http.port]).toEqual(['0.0.0.0', 5000]);
    expect(RUNTIME).toContain('EXPOSE 5000');
  });
});

/**
 * The runtime stage replayed by hand, from its own COPY lines: production dependencies only
 * (what `npm prune --omit=dev` leaves in the build stage: a runtime import of a dev
 * dependency fails here), dist, migrations, public (the console's files), package.json and the edited config, run as
 * ENTRYPOINT + CMD say with NODE_ENV=production. better-sqlite3's native file is taken from
 * the clone's build (the same Node and platform) instead of compiling it again.
 */
describe('Dockerfile runtime stage, replayed', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'mirror-runtime-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('copies what the replay copies, serves a pull, passes its HEALTHCHECK and stops on SIGTERM with exit 0', async () => {
    const copies = [...RUNTIME.matchAll(/^COPY\s+(?:--from=build\s+\/app\/)?(\S+)\s+(\S+)\s*$/gm)].map((m) => [m[1], m[2]]);
    expect(copies).toEqual([
      ['node_modules', './node_modules'], ['dist', './dist'], ['package.json', './'], ['migrations', './migrations'],
      ['public', './public'], ['mirror.config.yaml', IMAGE_CONFIG],
    ]);
    const app = join(dir, 'app');
    mkdirSync(app);
    for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(ROOT, f), join(app, f));
    execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, stdio: 'ignore' });
    cpSync(join(ROOT, 'node_modules/better-sqlite3/build'), join(app, 'node_modules/better-sqlite3/build'), { recursive: true });
    cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'migrations'), join(app, 'migrations'), { recursive: true });
    cpSync(join(ROOT, 'public'), join(app, 'public'), { recursive: true });
    const expression = /sed -i '([^']+)' \/etc\/registry-mirror\/mirror\.config\.yaml/.exec(RUNTIME)![1]!;
    const config = join(dir, 'mirror.config.yaml');
    copyFileSync(join(ROOT, 'mirror.config.yaml'), config);
    execFileSync('sed', ['-i', expression, config]);
    const argv = [...execArray('ENTRYPOINT'), ...execArray('CMD')].map((a) => (a === IMAGE_CONFIG ? config : a));
    const health = execArray('HEALTHCHECK').map((a) => (a === IMAGE_CONFIG ? config : a));

    const up = await startFakeUpstream();
    const layer = Buffer.from('a layer of the runtime replay');
    const digest = up.addImage('library/alpine', '3.20', { layers: [layer] }).layers[0]!;
    // Only the port, the data dir (not /var/lib) and the upstream differ from the container.
    const port = await freePort();
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_ENV: 'production', MIRROR_HTTP_ADDR: `127.0.0.1:${port}`,
      MIRROR_STORAGE_PATH: join(dir, 'data'), MIRROR_UPSTREAM_URL: up.url,
    };
    expect(argv[0]).toBe('node');
    const server = spawnProcess('mirror-runtime', process.execPath, argv.slice(1), { cwd: app, env });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/healthz`, { process: server, accept: (s) => s === 200 });
      // A pull: upstream client, fill worker, index: every lazily loaded part of the server.
      const blob = await fetch(`http://127.0.0.1:${port}/v2/library/alpine/blobs/${digest}`);
      expect(blob.status).toBe(200);
      expect(Buffer.from(await blob.arrayBuffer()).equals(layer)).toBe(true);
      // The console, with its own files and the two libraries it serves from node_modules.
      const page = await (await fetch(`http://127.0.0.1:${port}/ui/`)).text();
      const assets = [...page.matchAll(/(?:src|href)="(\/ui\/assets\/[^"]+)"/g)].map((m) => m[1]!);
      expect(assets.length).toBeGreaterThanOrEqual(3);
      for (const a of assets) expect((await fetch(`http://127.0.0.1:${port}${a}`)).status, a).toBe(200);
      const check = await new Promise<{ code: number; stdout: string }>((resolve) => {
        execFile(process.execPath, health.slice(1), { cwd: app, env },
          (err, stdout) => resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout }));
      });
      expect(check).toEqual({ code: 0, stdout: `http://127.0.0.1:${port}/healthz: ok\n` });
      process.kill(server.pid, 'SIGTERM');
      await server.exited;
      expect(server.exitStatus()).toBe(0);
    } finally {
      await server.stop();
      await up.close();
    }
  }, 60_000);
});

describe('docker-compose.yml', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mirror-compose-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('mounts compose/ where the image reads its config, and the data volume where that config puts data', () => {
    const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
      services: { mirror: { build: string; volumes: string[]; ports: string[] } }; volumes: Record<string, unknown>;
    };
    const { mirror } = compose.services;
    expect(mirror.build).toBe('.');
    expect(mirror.volumes).toContain('./compose:/etc/registry-mirror:ro');
    expect(mirror.volumes).toContain('mirror-data:/var/lib/registry-mirror');
    expect(Object.keys(compose.volumes)).toEqual(['mirror-data']);
    const config = loadConfig({ file: join(ROOT, 'compose/mirror.config.yaml'), env: {} });
    expect(config.storage.path).toBe('/var/lib/registry-mirror');
    expect(mirror.ports).toEqual([`${config.http.port}:${config.http.port}`]);
  });

  it('its config (copied with an htpasswd and a certificate, as its comments say) serves https and passes the healthcheck', async () => {
    copyFileSync(join(ROOT, 'compose/mirror.config.yaml'), join(dir, 'mirror.config.yaml'));
    writeFileSync(join(dir, 'htpasswd'), htpasswdText({ alice: 'secret' }));
    mkdirSync(join(dir, 'certs'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
      '-keyout', join(dir, 'certs/domain.key'), '-out', join(dir, 'certs/domain.crt'),
      '-subj', '/CN=mirror.internal', '-addext', 'subjectAltName=DNS:mirror.internal,IP:127.0.0.1'], { stdio: 'ignore' });
    const file = join(dir, 'mirror.config.yaml');
    // Only the listen port (a free one, not 5000) and the data dir (not /var/lib) differ from the container.
    const port = await freePort();
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', MIRROR_HTTP_ADDR: `0.0.0.0:${port}`, MIRROR_STORAGE_PATH: join(dir, 'data') };
    const server = spawnProcess('mirror', process.execPath, [MIRROR_MAIN, 'serve', '--config', file], { env });
    const ca = new Agent({ connect: { ca: readFileSync(join(dir, 'certs/domain.crt')) } });
    try {
      await waitForHttp(`https://127.0.0.1:${port}/healthz`, { process: server, accept: (s) => s === 200, dispatcher: ca });
      // htpasswd is in force: a wrong password is refused.
      const denied = await fetch(`https://127.0.0.1:${port}/v2/`, {
        headers: { authorization: `Basic ${Buffer.from('alice:wrong').toString('base64')}` }, dispatcher: ca,
      } as RequestInit);
      expect(denied.status).toBe(401);
      const check = await new Promise<{ code: number; stdout: string }>((resolve) => {
        execFile(process.execPath, [MIRROR_MAIN, 'healthcheck', '--config', file], { env },
          (err, stdout) => resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout }));
      });
      expect(check).toEqual({ code: 0, stdout: `https://127.0.0.1:${port}/healthz: ok\n` });
    } finally {
      await ca.close();
      await server.stop();
    }
  });
});
