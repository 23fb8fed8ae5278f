/**
 * Before anything runs: the Debian tools the bench drives, and the mirror built from
 * src/ as a user builds it (`tsc -p tsconfig.json`), but into the bench's own folder:
 * dist/ is shared (the test suite rebuilds it), and a rebuild halfway through a run
 * would make later figures measure other code than earlier ones.
 *
 *   bench/results/tmp/build/
 *     dist/main.js     `node dist/main.js serve`, as a user runs it
 *     migrations/      found by dist/storage/migrate.js at ../../migrations
 *     public/          the console's files, found by dist/ui/assets.js at ../../public
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILD_DIR = join(REPO_ROOT, 'bench', 'results', 'tmp', 'build');
/** The mirror's entry point for every process the bench starts. */
export const MIRROR_MAIN = join(BUILD_DIR, 'dist', 'main.js');

/** Command → the Debian package that provides it (openssl: the test token server signs with it). */
const TOOLS: Record<string, string> = {
  'docker-registry': 'docker-registry',
  skopeo: 'skopeo',
  nginx: 'nginx-light',
  wrk: 'wrk',
  curl: 'curl',
  openssl: 'openssl',
};

function hasCommand(command: string): boolean {
  // nginx lives in /usr/sbin, which a non-root PATH may lack.
  const path = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;
  return spawnSync('sh', ['-c', `command -v ${command}`], { env: { ...process.env, PATH: path } }).status === 0;
}

/** Installs the missing Debian packages (apt-get needs root, or sudo without a password). */
export function ensureTools(log: (line: string) => void): void {
  const missing = Object.keys(TOOLS).filter((c) => !hasCommand(c));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((c) => TOOLS[c]!))];
  log(`installing missing Debian packages: ${packages.join(' ')}`);
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  const run = (args: string[]): void => {
    const [cmd, ...rest] = [...sudo, ...args];
    execFileSync(cmd!, rest, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  };
  run(['apt-get', 'update']);
  run(['apt-get', 'install', '-y', '--no-install-recommends', ...packages]);
  const still = missing.filter((c) => !hasCommand(c));
  if (still.length > 0) throw new Error(`still missing after apt-get install: ${still.join(', ')}`);
}

/** Compiles src/ (a type error stops the bench rather than measuring a stale build). */
export function buildMirror(): void {
  rmSync(BUILD_DIR, { recursive: true, force: true });
  execFileSync(join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json', '--outDir', join(BUILD_DIR, 'dist')], {
    cwd: REPO_ROOT, stdio: 'inherit',
  });
  cpSync(join(REPO_ROOT, 'migrations'), join(BUILD_DIR, 'migrations'), { recursive: true });
  cpSync(join(REPO_ROOT, 'public'), join(BUILD_DIR, 'public'), { recursive: true });
}
