/**
 * `npm run bench -- --profile`: the mirror under `node --cpu-prof` while wrk asks for a
 * cached manifest, then where the CPU time went (self time, by function and by area).
 * The raw .cpuprofile is kept in bench/results/tmp/ (open it in Chrome DevTools).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './setup.js';
import { launchMirror } from './systems.js';
import { curlGet, MANIFEST_ACCEPT, wrk } from './tools.js';

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

/** Profiles a fresh mirror serving the manifest at `manifestPath` under wrk; returns the summary. */
export async function profileManifestGets(upstreamUrl: string, manifestPath: string, seconds: number): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-profile-'));
  const profDir = join(dataDir, 'profile');
  try {
    const mirror = await launchMirror({ dataDir, upstreamUrl, nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir] });
    try {
      await curlGet(mirror.url + manifestPath, [`Accept: ${MANIFEST_ACCEPT}`]);
      const result = await wrk(mirror.url + manifestPath, { connections: 16, seconds, headers: [`Accept: ${MANIFEST_ACCEPT}`] });
      process.stdout.write(`  profiled run: ${Math.round(result.rps)} req/s, p99 ${result.p99Ms} ms (the profiler costs some)\n`);
    } finally {
      await mirror.process.stop(); // SIGTERM: the mirror exits cleanly and node writes the profile
    }
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('the mirror wrote no .cpuprofile');
    const kept = join(REPO_ROOT, 'bench', 'results', 'tmp');
    mkdirSync(kept, { recursive: true });
    copyFileSync(join(profDir, file), join(kept, 'manifest-get.cpuprofile'));
    return `${summarizeProfile(join(profDir, file))}\n  (profile: bench/results/tmp/manifest-get.cpuprofile)`;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
