/**
 * The table (medians, min–max ranges, ratios to the peer and to nginx, each target met
 * or missed), printed as Markdown so it pastes into the README as is; the same data as
 * JSON in bench/results/<timestamp>.json; one summary line appended to history.jsonl.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { median, type Recorder, type Series } from './recorder.js';
import { REPO_ROOT } from './setup.js';

export interface RunInfo {
  startedAt: Date;
  seconds: number;
  rounds: number;
  /** Rounds of the loopback cold pull and of the WAN rows (0: not run). */
  coldRounds: number;
  wanRounds: number;
  /** Row groups run (--only), or undefined for all. */
  only: string[] | undefined;
  wrkSeconds: number;
  indexWrkSeconds: number;
  /** 1-minute load average before and after: other work on the machine skews everything. */
  load: [number, number];
}

interface Target {
  figure: string;
  system: string;
  text: string;
  /** Met? Given the series and a lookup of any other series' median. */
  met(s: Series, medianOf: (figure: string, system: string) => number): boolean;
}

const m = (s: Series): number => median(s.samples);
const TARGETS: Target[] = [
  { figure: 'cold pull ÷ direct', system: 'mirror', text: '≤ 1.15', met: (s) => m(s) <= 1.15 },
  { figure: 'cold pull ÷ peer', system: 'mirror', text: '≤ 0.90', met: (s) => m(s) <= 0.9 },
  // The link itself: handshake + request round trip through the 25 ms delay line.
  { figure: 'WAN link: new connection + GET /v2/', system: 'direct', text: '≈ 100 ms', met: (s) => m(s) >= 95 && m(s) <= 130 },
  { figure: 'WAN cold pull ÷ direct', system: 'mirror', text: '≤ 1.0', met: (s) => m(s) <= 1.0 },
  { figure: 'WAN cold pull ÷ peer', system: 'mirror', text: '≤ 0.80', met: (s) => m(s) <= 0.8 },
  { figure: 'warm pull 200 MiB', system: 'mirror', text: '≤ peer', met: (s, med) => m(s) <= med('warm pull 200 MiB', 'peer') },
  { figure: 'warm pull upstream blob GETs', system: 'mirror', text: '0 every round', met: (s) => s.samples.every((v) => v === 0) },
  { figure: 'warm blob GET, 1 stream', system: 'mirror', text: '≥ 0.90 × nginx', met: (s, med) => m(s) >= 0.9 * med(s.figure, 'nginx') },
  { figure: 'warm blob GET, 8 streams', system: 'mirror', text: '≥ 0.90 × nginx', met: (s, med) => m(s) >= 0.9 * med(s.figure, 'nginx') },
  { figure: 'cached manifest GET by tag', system: 'mirror', text: '≥ 30,000', met: (s) => m(s) >= 30_000 },
  { figure: 'cached manifest GET p99', system: 'mirror', text: '≤ 2 ms', met: (s) => m(s) <= 2 },
  { figure: 'herd: upstream GETs for 10 clients', system: 'mirror', text: '1 every round', met: (s) => s.samples.every((v) => v === 1) },
  { figure: 'herd ÷ one client alone', system: 'mirror', text: '≤ 2', met: (s) => m(s) <= 2 },
  { figure: 'peak RSS', system: 'mirror', text: '≤ 100 MiB', met: (s) => m(s) <= 100 },
  { figure: 'RSS after start, idle', system: 'mirror', text: '≤ 70 MiB', met: (s) => m(s) <= 70 },
  { figure: 'RSS after the run, idle', system: 'mirror', text: '≤ 70 MiB', met: (s) => m(s) <= 70 },
  { figure: 'index scale: start to /healthz 200', system: '1M-row index', text: '≤ 2 s', met: (s) => m(s) <= 2 },
  {
    figure: 'index scale: cached manifest GET', system: '1M-row index', text: '≥ 0.95 × 1k-row',
    met: (s, med) => m(s) >= 0.95 * med(s.figure, '1k-row index'),
  },
  { figure: 'index scale: prune 100,000 of 1M blobs', system: '1M-row index', text: '≤ 30 s', met: (s) => m(s) <= 30 },
  // Issue 13: one upstream GET per blob across the cluster.
  { figure: 'cluster herd: upstream GETs for 10 clients over 3 replicas', system: 'cluster', text: '1 every round', met: (s) => s.samples.every((v) => v === 1) },
];

export interface Row {
  figure: string;
  system: string;
  unit: string;
  samples: number[];
  median: number;
  min: number;
  max: number;
  vsPeer?: number;
  vsNginx?: number;
  target?: string;
  met?: boolean;
}

export function buildRows(rec: Recorder): Row[] {
  const medianOf = (figure: string, system: string): number => median(rec.get(figure, system)?.samples ?? []);
  // Group rows by figure, in the order figures were first measured.
  const firstSeen = (figure: string): number => rec.series.findIndex((s) => s.figure === figure);
  const series = [...rec.series].sort((a, b) => firstSeen(a.figure) - firstSeen(b.figure));
  return series.map((s) => {
    const row: Row = {
      figure: s.figure, system: s.system, unit: s.unit, samples: s.samples,
      median: m(s), min: Math.min(...s.samples), max: Math.max(...s.samples),
    };
    const ratio = (other: string): number | undefined => {
      if (s.system === other || s.unit === '×' || s.unit === 'GETs') return undefined;
      const base = medianOf(s.figure, other);
      return Number.isFinite(base) && base !== 0 ? row.median / base : undefined;
    };
    row.vsPeer = ratio('peer');
    row.vsNginx = ratio('nginx');
    const target = TARGETS.find((t) => t.figure === s.figure && t.system === s.system);
    if (target) {
      row.target = target.text;
      row.met = target.met(s, medianOf);
    }
    return row;
  });
}

function fmt(v: number | undefined, unit = ''): string {
  if (v === undefined || !Number.isFinite(v)) return '';
  const digits = Number.isInteger(v) || Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  const text = v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return unit ? `${text} ${unit}` : text;
}

export function renderTable(rows: Row[], info: RunInfo, notes: string[]): string {
  const cpu = cpus();
  const head = [
    `registry-mirror bench, ${info.startedAt.toISOString()}: ${cpu.length} cores (${cpu[0]?.model.trim() ?? '?'}), `
      + `Node ${process.version}, ${info.rounds} rounds, cold pulls ${info.coldRounds}, WAN ${info.wanRounds} (paths take turns going first), `
      + `${info.only ? `only ${info.only.join(',')}, ` : ''}`
      + `wrk -t2 -c16 ${info.wrkSeconds} s (index scale ${info.indexWrkSeconds} s); the run took ${fmt(info.seconds / 60)} min; `
      + `load average ${fmt(info.load[0])} before, ${fmt(info.load[1])} after.`,
    '',
    '| figure | system | median | range (min–max) | × peer | × nginx | target | |',
    '|---|---|--:|--:|--:|--:|---|---|',
  ];
  let last = '';
  const lines = rows.map((r) => {
    const figure = r.figure === last ? '' : r.figure;
    last = r.figure;
    const verdict = r.met === undefined ? '' : r.met ? 'met' : '**MISSED**';
    return `| ${figure} | ${r.system} | ${fmt(r.median, r.unit)} | ${fmt(r.min)}–${fmt(r.max)} | ${fmt(r.vsPeer)} | ${fmt(r.vsNginx)} | ${r.target ?? ''} | ${verdict} |`;
  });
  const tail = notes.length > 0 ? ['', 'Notes:', ...notes.map((n) => `- ${n}`)] : [];
  return [...head, ...lines, ...tail].join('\n');
}

function gitCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'migrations', 'public'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}

/** Writes bench/results/<timestamp>.json and appends the summary line; returns the JSON path. */
export function saveResults(rows: Row[], info: RunInfo, notes: string[], table: string): string {
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = info.startedAt.toISOString().replace(/[:.]/g, '-');
  const commit = gitCommit();
  const common = {
    date: info.startedAt.toISOString(), commit, cores: cpus().length, node: process.version,
    rounds: info.rounds, coldRounds: info.coldRounds, wanRounds: info.wanRounds, only: info.only, seconds: Math.round(info.seconds), load: info.load,
  };
  const file = join(dir, `${stamp}.json`);
  writeFileSync(file, JSON.stringify({ ...common, wrkSeconds: info.wrkSeconds, rows, notes, table }, null, 2) + '\n');
  const targets = rows.filter((r) => r.met !== undefined);
  const summary = {
    ...common,
    targetsMet: `${targets.filter((r) => r.met).length}/${targets.length}`,
    missed: targets.filter((r) => !r.met).map((r) => r.figure),
    medians: Object.fromEntries(rows.map((r) => [`${r.figure} | ${r.system}`, Number(r.median.toPrecision(4))])),
  };
  appendFileSync(join(dir, 'history.jsonl'), JSON.stringify(summary) + '\n');
  return file;
}
