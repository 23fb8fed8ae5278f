import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Every program a test spawns must be installed by `.ci/run` on a fresh machine: once a
 * test spawned `htpasswd`, which nothing installed, and `npm test` failed for the next new
 * user while it passed here, where the package had been installed by hand. This reads the
 * sources instead of the machine, so it fails on any machine the moment a test starts
 * spawning a program whose Debian package `.ci/run` does not install.
 */
const ROOT = join(import.meta.dirname, '..');

/** Program → the Debian package that ships it (null: nothing to install). `node`/`npx` come with Node.js itself. */
const PACKAGE_OF: Record<string, string | null> = {
  'docker-registry': 'docker-registry',
  dockerd: 'docker.io',
  docker: 'docker.io',
  containerd: 'containerd',
  ctr: 'containerd',
  skopeo: 'skopeo',
  podman: 'podman',
  openssl: 'openssl',
  // The console's browser suites (test/helpers/browser.ts): playwright-core drives Debian's build.
  chromium: 'chromium',
  // The S3 store's tests (test/helpers/ceph.ts): a single-node Ceph with radosgw.
  'ceph-mon': 'ceph-mon',
  'ceph-osd': 'ceph-osd',
  radosgw: 'radosgw',
  'radosgw-admin': 'ceph-common',
  ceph: 'ceph-common',
  'ceph-authtool': 'ceph-common',
  monmaptool: 'ceph-base',
  // Issue 13: the throwaway PostgreSQL 15 of test/helpers/postgres.ts (run as the postgres user by spawn's uid).
  initdb: 'postgresql',
  postgres: 'postgresql',
  // The compose example's balancer config is checked with `nginx -t` (test/cli/compose-example.test.ts).
  nginx: 'nginx-light',
  npx: null,
  npm: null,
  node: null,
  // Essential packages (dash, sed): on every Debian system, never installed explicitly.
  sh: null,
  sed: null,
};

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (path.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Program names spawned by string literal, or held in a `*_BIN` constant. */
function spawnedPrograms(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\b(?:execFile|execFileSync|spawn|spawnSync|execSync|exec)\(\s*'([^']+)'/g,
    /\b[A-Z_]+_BIN\s*=\s*'([^']+)'/g,
  ];
  for (const re of patterns) {
    for (const m of source.matchAll(re)) found.push(basename(m[1]!.split(' ')[0]!));
  }
  return found;
}

function ciPackages(): Set<string> {
  const script = readFileSync(join(ROOT, '.ci/run'), 'utf8').replace(/\\\n/g, ' ');
  const line = script.split('\n').find((l) => /apt-get install/.test(l));
  if (!line) return new Set();
  return new Set(line.split(/\s+/).filter((w) => w && !w.startsWith('-') && !['apt-get', 'install'].includes(w)));
}

describe('.ci/run installs every program the tests spawn', () => {
  const programs = new Map<string, string>();
  for (const file of [...sourceFiles(join(ROOT, 'test')), ...sourceFiles(join(ROOT, 'src'))]) {
    for (const p of spawnedPrograms(readFileSync(file, 'utf8'))) programs.set(p, file.slice(ROOT.length + 1));
  }

  it('finds the programs the end-to-end suites are known to spawn', () => {
    expect([...programs.keys()]).toEqual(expect.arrayContaining(['docker-registry', 'skopeo', 'dockerd', 'openssl', 'chromium']));
    expect([...programs.keys()]).toEqual(expect.arrayContaining(['initdb', 'postgres']));
  });

  it('knows the Debian package of every spawned program, and .ci/run installs it', () => {
    const installed = ciPackages();
    const missing: string[] = [];
    for (const [program, file] of programs) {
      if (!(program in PACKAGE_OF)) {
        missing.push(`${program} (spawned in ${file}): unknown program; add its Debian package here and to .ci/run`);
        continue;
      }
      const pkg = PACKAGE_OF[program];
      if (pkg && !installed.has(pkg)) missing.push(`${program} (spawned in ${file}): .ci/run does not install ${pkg}`);
    }
    expect(missing).toEqual([]);
  });
});
