/**
 * `npm run bench [-- --rounds N --cold-rounds N --wan-rounds N --wrk-seconds S
 *                    --index-wrk-seconds S --only GROUPS --profile]`
 *
 * Our mirror beside CNCF Distribution's proxy mode (the peer) and nginx (the ceiling),
 * on this machine, in one run: see issues 3 and 9 for the figures and targets. Everything
 * it starts is stopped by PID and every temp dir removed (and the WAN profile's network
 * namespace and veth deleted), even when a step fails or on Ctrl-C.
 *
 *   --rounds N        rounds of the warm, manifest and herd rows (default 3)
 *   --cold-rounds N   rounds of the loopback cold pull, direct vs mirror vs peer (default 5;
 *                     each seeds its own fresh 200 MiB image)
 *   --wan-rounds N    rounds of the WAN cold pull (default 4: each of the four paths leads
 *                     once; each seeds its own fresh 10-layer 300 MiB image)
 *   --only GROUPS     comma-separated subset of: cold (cold and warm pulls), blob (warm blob
 *                     GETs), manifest, herd, index (index scale, prune), wan, cluster (3
 *                     replicas on radosgw + PostgreSQL: bench/cluster.ts). Memory rows
 *                     are always recorded. E.g. `npm run bench -- --only cold,wan`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Cleanup } from './cleanup.js';
import { measureCluster } from './cluster.js';
import { BIG_SIZE, seedBenchImages } from './images.js';
import { INDEX_SIZES, measureIndexScale, measurePrune, prepareIndexDir } from './index-scale.js';
import { measureBlobGets, measureHerd, measureManifests, measurePulls, warmUp, type Context } from './measure.js';
import { startNginxFileServer } from './nginx.js';
import { captureResponse, startNodeCeiling } from './node-ceiling.js';
import { profileBlobGets, profileManifestGets } from './profile.js';
import { Recorder } from './recorder.js';
import { buildRows, renderTable, saveResults } from './report.js';
import { buildMirror, ensureTools, MIRROR_MAIN } from './setup.js';
import { distributionBlobFile, peakRssMiB, rssMiB, startSystems, upstreamBlobGets, type Systems } from './systems.js';
import { measureWanRound, probeWanLink, recordWanMemory, seedWanImage, startWanSystems, WAN_FIGURE, type WanSystems } from './measure-wan.js';
import { startWanLink, WAN_DELAY_MS, WAN_RATE } from './wan.js';
import { MANIFEST_ACCEPT } from './tools.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    'cold-rounds': { type: 'string', default: '5' },
    'wan-rounds': { type: 'string', default: '4' },
    only: { type: 'string' },
    'wrk-seconds': { type: 'string', default: '10' },
    'index-wrk-seconds': { type: 'string', default: '10' },
    profile: { type: 'boolean', default: false },
  },
});
const count = (name: 'rounds' | 'cold-rounds' | 'wan-rounds' | 'wrk-seconds' | 'index-wrk-seconds'): number => {
  const n = Number(args[name]);
  if (Number.isInteger(n) && n > 0) return n;
  process.stderr.write(`bench: --${name} must be a whole number above 0, not "${args[name]}"\n`);
  process.exit(2);
};
const GROUPS = ['cold', 'blob', 'manifest', 'herd', 'index', 'wan', 'cluster'] as const;
type Group = (typeof GROUPS)[number];
const only = args.only?.split(',').map((g) => g.trim()).filter(Boolean);
const unknown = only?.filter((g) => !(GROUPS as readonly string[]).includes(g)) ?? [];
if (unknown.length > 0 || only?.length === 0) {
  process.stderr.write(`bench: --only takes a comma-separated list of ${GROUPS.join(', ')}; not "${args.only}"\n`);
  process.exit(2);
}
const runs = (group: Group): boolean => !only || only.includes(group);
const rounds = count('rounds');
const coldRounds = runs('cold') ? count('cold-rounds') : 0;
const wanRounds = runs('wan') ? count('wan-rounds') : 0;
const wrkSeconds = count('wrk-seconds');
const indexWrkSeconds = count('index-wrk-seconds');

const t0 = performance.now();
const log = (line: string): void => {
  process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
};

/** Peak RSS of each long-lived system, and a check that the mirror's pid is node itself. */
async function recordMemory(sys: Systems, rec: Recorder): Promise<void> {
  const procs = { mirror: sys.mirror.process.pid, peer: sys.peer.process.pid, 'mirror+log': sys.mirrorLogged.process.pid };
  for (const [name, pid] of Object.entries(procs)) {
    const { mib, comm } = await peakRssMiB(pid);
    if (name.startsWith('mirror') && comm !== 'node') rec.note(`${name}: pid ${pid} is "${comm}", not node: RSS is not the mirror's`);
    rec.add('peak RSS', name, 'MiB', mib);
  }
}

/** The mirror's own upstream blob_get counter must agree with what its upstream tap saw. */
async function crossCheckMetrics(sys: Systems, rec: Recorder): Promise<void> {
  const text = await (await fetch(`${sys.mirror.url}/metrics`)).text();
  // One series per upstream since issue 10 (upstream="docker.io",kind="blob_get"): their sum.
  const series = [...text.matchAll(/^mirror_upstream_requests_total\{(?:[^}]*,)?kind="blob_get"[^}]*\} (\d+)/gm)];
  const reported = series.length > 0 ? series.reduce((n, m) => n + Number(m[1]), 0) : NaN;
  const seen = upstreamBlobGets(sys.counters.mirror);
  if (reported !== seen) rec.note(`mirror /metrics says ${reported} upstream blob GETs; its upstream tap saw ${seen}`);
}

/** The WAN rows (skipped with a note when the link cannot be built). */
async function runWan(cleanup: Cleanup, rec: Recorder, work: string, runId: string): Promise<WanSystems | undefined> {
  log('WAN profile: building the link (netns, veth, tbf, delay line)');
  const link = await startWanLink(cleanup, log);
  if (typeof link === 'string') {
    rec.note(`WAN rows skipped: ${link}`);
    return undefined;
  }
  rec.note(`WAN: upstream in a network namespace behind a veth pair, tbf ${WAN_RATE} each way, ${WAN_DELAY_MS} ms each way `
    + 'from a userspace delay line (this kernel has no netem: CONFIG_NET_SCH_NETEM is not set); token requests cross it too');
  await probeWanLink(link, rec);
  const wan = await startWanSystems(link, cleanup);
  for (let r = 0; r < wanRounds; r++) {
    log(`WAN round ${r + 1}/${wanRounds}: seeding a fresh ${WAN_FIGURE.replace('WAN cold pull ', '')} image`);
    const image = await seedWanImage(link, runId, r);
    const { mib } = await peakRssMiB(wan.mirror.process.pid);
    log(`WAN round ${r + 1}/${wanRounds}: cold pulls (WAN mirror peak RSS so far ${mib.toFixed(0)} MiB)`);
    await measureWanRound(wan, image, rec, work, r);
  }
  return wan;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadBefore = loadavg()[0]!;
  const cleanup = new Cleanup();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void cleanup.run().finally(() => process.exit(130)));
  }
  const rec = new Recorder();
  const runId = randomBytes(6).toString('hex');
  let profile: string | undefined;
  try {
    log('checking tools'); ensureTools(log);
    log('building the mirror (tsc)'); buildMirror();
    const work = mkdtempSync(join(tmpdir(), 'bench-work-'));
    cleanup.add('work dir', () => rmSync(work, { recursive: true, force: true }));

    log('starting upstream (token auth), peer, mirror'); const sys = await startSystems(cleanup);
    // Before any request: what the mirror costs just being up.
    await new Promise((r) => setTimeout(r, 1000));
    rec.add('RSS after start, idle', 'mirror', 'MiB', await rssMiB(sys.mirror.process.pid));
    rec.add('RSS after start, idle', 'peer', 'MiB', await rssMiB(sys.peer.process.pid));
    const herdRounds = runs('herd') ? rounds : 0;
    log(`seeding ${coldRounds} fresh cold images, ${herdRounds} rounds of herd blobs`);
    const images = await seedBenchImages(sys.upstream, runId, herdRounds, coldRounds);
    const manifestPath = `/v2/${images.multi.repo}/manifests/latest`;
    let ctx: Context = { sys, images, rec, work, wrkSeconds };
    if (runs('blob') || runs('manifest')) {
      log('warming the cached figures'); await warmUp(sys, images);
      const manifest = await captureResponse(sys.url.mirror + manifestPath, MANIFEST_ACCEPT, work);
      const nginx = await startNginxFileServer({
        blob: distributionBlobFile(sys.upstream, images.big.layerDigests[0]!), manifest: manifest.bodyFile,
      });
      cleanup.add('nginx', () => nginx.stop());
      const nodeCeiling = await startNodeCeiling(manifest);
      cleanup.add('node:http ceiling', () => nodeCeiling.process.stop());
      ctx = { ...ctx, nginx, nodeCeiling };
    }

    // The mirror's peak RSS after each step, in the progress log: which step drives it.
    const step = async (what: string, body: () => Promise<void>): Promise<void> => {
      const { mib } = await peakRssMiB(sys.mirror.process.pid);
      log(`${what} (mirror peak RSS so far ${mib.toFixed(0)} MiB)`);
      await body();
    };
    for (let r = 0; r < coldRounds; r++) {
      const warm = r < rounds;
      await step(`cold round ${r + 1}/${coldRounds}: cold${warm ? ' and warm' : ''} pulls`, () => measurePulls(ctx, r, warm));
    }
    for (let r = 0; r < rounds; r++) {
      const round = `round ${r + 1}/${rounds}`;
      if (runs('blob')) await step(`${round}: warm blob GETs`, () => measureBlobGets(ctx, r));
      if (runs('manifest')) await step(`${round}: cached manifest GETs (wrk)`, () => measureManifests(ctx, r));
      if (runs('herd')) await step(`${round}: herd`, () => measureHerd(ctx, r));
    }
    await recordMemory(sys, rec);
    await crossCheckMetrics(sys, rec);

    let wan: WanSystems | undefined;
    if (runs('wan')) {
      // A WAN failure (a far side that will not start, a pull that fails) costs its rows, not the run.
      wan = await runWan(cleanup, rec, work, runId).catch((err: Error) => {
        rec.note(`WAN rows incomplete: ${err.message.split('\n')[0]}`);
        return undefined;
      });
    }

    // Idle again after all the traffic: a few quiet seconds for the GC and allocator to settle.
    log('idle RSS: 5 quiet seconds');
    await new Promise((r) => setTimeout(r, 5000));
    rec.add('RSS after the run, idle', 'mirror', 'MiB', await rssMiB(sys.mirror.process.pid));
    rec.add('RSS after the run, idle', 'peer', 'MiB', await rssMiB(sys.peer.process.pid));
    if (wan) await recordWanMemory(wan, rec);

    if (runs('index')) {
      const dirs: Record<string, string> = {};
      for (const size of INDEX_SIZES) {
        log(`index scale: building the ${size.label}`);
        dirs[size.label] = await prepareIndexDir(size, sys.upstream.url, manifestPath, cleanup);
      }
      for (let r = 0; r < rounds; r++) {
        log(`index scale round ${r + 1}/${rounds}`);
        await measureIndexScale(dirs, sys.upstream.url, manifestPath, rec, r, indexWrkSeconds);
      }
      const big = INDEX_SIZES[INDEX_SIZES.length - 1]!;
      if (/case ['"]prune['"]/.test(readFileSync(MIRROR_MAIN, 'utf8'))) {
        log(`index scale: prune on the ${big.label}`);
        await measurePrune(dirs[big.label]!, big, rec);
      } else {
        rec.note('`registry-mirror prune` does not exist yet: "prune 100,000 blobs ≤ 30 s" is not measured');
      }
    }

    // Issue 13: its own upstream, engines and replicas (skipped with a note when Ceph or PostgreSQL is missing).
    if (runs('cluster')) await measureCluster(cleanup, rec, log, { rounds, wrkSeconds: Math.min(wrkSeconds, 5), runId });

    if (args.profile) {
      log('profiling the mirror (--cpu-prof): cached manifest GETs, then cached blob GETs');
      const blobPath = `/v2/${images.big.repo}/blobs/${images.big.layerDigests[0]!}`;
      profile = `CPU profile of the mirror under wrk (cached manifest GET by tag):\n${
        await profileManifestGets(sys.upstream.url, manifestPath, wrkSeconds)}\n\n`
        + `CPU profile of the mirror serving the cached 200 MiB blob (8 curl streams, 3 times):\n${
          await profileBlobGets(sys.upstream.url, blobPath, BIG_SIZE)}`;
    }
  } finally {
    log('stopping everything'); await cleanup.run();
  }

  const info = {
    startedAt, seconds: (performance.now() - t0) / 1000, rounds, coldRounds, wanRounds, only, wrkSeconds, indexWrkSeconds,
    load: [loadBefore, loadavg()[0]!] as [number, number],
  };
  const rows = buildRows(rec);
  const table = renderTable(rows, info, rec.notes);
  process.stdout.write(`\n${table}\n`);
  if (profile) process.stdout.write(`\n${profile}\n`);
  const file = saveResults(rows, info, rec.notes, table);
  process.stdout.write(`\nresults: ${file} (+ one line in bench/results/history.jsonl)\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
