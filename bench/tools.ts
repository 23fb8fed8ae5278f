/**
 * The external clients the figures are measured with: curl for blob transfers (a C
 * client, so the bench's own Node process is not the bottleneck) and wrk for request
 * rates. Every result is checked (status, byte count) so a broken system cannot look fast.
 */
import { execFile } from 'node:child_process';
import { OFFLINE_ENV } from '../test/helpers/distribution.js';

/** The Accept header containerd and dockerd send when resolving a tag. */
export const MANIFEST_ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...OFFLINE_ENV };

function run(cmd: string, args: string[], timeoutMs = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: ENV, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

export interface Download {
  status: number;
  bytes: number;
}

/** One GET with curl, body discarded. */
export async function curlGet(url: string, headers: string[] = []): Promise<Download> {
  const out = await run('curl', [
    '-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}',
    ...headers.flatMap((h) => ['-H', h]), url,
  ]);
  const [status, bytes] = out.trim().split(' ').map(Number);
  return { status: status ?? 0, bytes: bytes ?? 0 };
}

export interface ParallelResult {
  /** Wall time from the first start to the last byte of the slowest client, in seconds. */
  seconds: number;
  downloads: Download[];
}

/** `clients` curl processes started together on the same URL. */
export async function curlParallel(url: string, clients: number): Promise<ParallelResult> {
  const started = performance.now();
  const downloads = await Promise.all(Array.from({ length: clients }, () => curlGet(url)));
  return { seconds: (performance.now() - started) / 1000, downloads };
}

/** Throws unless every download is a 200 of exactly `size` bytes. */
export function expectComplete(what: string, downloads: Download[], size: number): void {
  const bad = downloads.filter((d) => d.status !== 200 || d.bytes !== size);
  if (bad.length > 0) {
    throw new Error(`${what}: ${bad.length}/${downloads.length} downloads incomplete: ${JSON.stringify(bad[0])} (want 200, ${size} bytes)`);
  }
}

export interface WrkResult {
  rps: number;
  /** Latency percentiles in milliseconds. */
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Non-2xx/3xx answers plus socket errors: must be 0 for the rate to count. */
  errors: number;
}

/** wrk -t2 -cN -dS --latency with the given headers. */
export async function wrk(url: string, options: { connections: number; seconds: number; headers?: string[] }): Promise<WrkResult> {
  const out = await run('wrk', [
    '-t2', `-c${options.connections}`, `-d${options.seconds}s`, '--latency',
    ...(options.headers ?? []).flatMap((h) => ['-H', h]), url,
  ], (options.seconds + 30) * 1000);
  return parseWrk(out);
}

/** Reads wrk's text report: "Requests/sec:", the latency distribution and the error lines. */
export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
  const latency = (pct: string): number => {
    const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
    if (!m) return NaN;
    const scale = { us: 0.001, ms: 1, s: 1000 }[m[2] as 'us' | 'ms' | 's'];
    return Number(m[1]) * scale;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((n, v) => n + Number(v), 0) : 0;
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50Ms: latency('50'),
    p99Ms: latency('99'),
    requests: num(/(\d+) requests in/),
    errors: socketErrors + Number(non2xx?.[1] ?? 0),
  };
}
