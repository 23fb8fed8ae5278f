/**
 * `npm run bench -- --profile`: the mirror under `node --cpu-prof` while wrk asks for a
 * cached manifest, and while curl fetches a cached blob, then where the CPU time went
 * (self time, by area and by function). The raw .cpuprofile files are kept in
 * bench/results/tmp/ (open them in Chrome DevTools).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './setup.js';
import { launchMirror } from './systems.js';
import { curlGet, curlParallel, expectComplete, MANIFEST_ACCEPT, wrk } from './tools.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** Which part of the stack a frame belongs to, from its script URL. */
function area(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : 'native (V8 / addons)';
  if (url.startsWith('node:')) return 'node core';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.includes('/dist/')) return 'mirror (dist/)';
  return url;
}

export function summarizeProfile(file: string, top = 15): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[] };
  const total = profile.nodes.reduce((n, node) => n + (node.hitCount ?? 0), 0);
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const { callFrame: f, hitCount = 0 } of profile.nodes) {
    if (hitCount === 0) continue;
    const where = f.url ? `${f.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + hitCount);
    const a = area(f.url, f.functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + hitCount);
  }
  const pct = (n: number): string => `${((100 * n) / total).toFixed(1).padStart(5)}%`;
  const list = (map: Map<string, number>, n: number): string[] =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `  ${pct(v)}  ${k}`);
  return ['self time by area:', ...list(byArea, 10), `top ${top} functions by self time:`, ...list(byFunction, top)].join('\n');
}

/**
 * Runs `load` against a fresh mirror under --cpu-prof (after `warm`, unprofiled work
 * included: the profile covers the whole process life), then summarizes the profile.
 */
async function profileMirror(
  name: string, upstreamUrl: string, warm: (url: string) => Promise<void>, load: (url: string) => Promise<string>,
): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-profile-'));
  const profDir = join(dataDir, 'profile');
  try {
    const mirror = await launchMirror({ dataDir, upstreamUrl, nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir] });
    try {
      await warm(mirror.url);
      process.stdout.write(`  profiled ${name}: ${await load(mirror.url)} (the profiler costs some)\n`);
    } finally {
      await mirror.stop(); // SIGTERM: the mirror exits cleanly and node writes the profile
    }
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('the mirror wrote no .cpuprofile');
    const kept = join(REPO_ROOT, 'bench', 'results', 'tmp');
    mkdirSync(kept, { recursive: true });
    copyFileSync(join(profDir, file), join(kept, `${name}.cpuprofile`));
    return `${summarizeProfile(join(profDir, file))}\n  (profile: bench/results/tmp/${name}.cpuprofile)`;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The cached manifest by tag under wrk, as in the manifest figure. */
export function profileManifestGets(upstreamUrl: string, manifestPath: string, seconds: number): Promise<string> {
  const headers = [`Accept: ${MANIFEST_ACCEPT}`];
  return profileMirror('manifest-get', upstreamUrl, async (url) => {
    await curlGet(url + manifestPath, headers);
  }, async (url) => {
    const r = await wrk(url + manifestPath, { connections: 16, seconds, headers });
    return `${Math.round(r.rps)} req/s, p99 ${r.p99Ms} ms`;
  });
}

/** The cached 200 MiB blob, 8 streams at once, three times (its fill is in the profile too). */
export function profileBlobGets(upstreamUrl: string, blobPath: string, size: number): Promise<string> {
  return profileMirror('blob-get', upstreamUrl, async (url) => {
    expectComplete('profile warm-up', [await curlGet(url + blobPath)], size);
  }, async (url) => {
    let seconds = 0;
    for (let i = 0; i < 3; i++) {
      const r = await curlParallel(url + blobPath, 8);
      expectComplete('profiled blob GET', r.downloads, size);
      seconds += r.seconds;
    }
    return `${Math.round((3 * 8 * size) / 1e6 / seconds)} MB/s with 8 streams`;
  });
}
