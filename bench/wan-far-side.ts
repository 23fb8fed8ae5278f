/**
 * The far end of the bench's WAN link, run by wan.ts inside its network namespace
 * (`ip netns exec NS node --import tsx bench/wan-far-side.ts '{"publicHost":...}'`):
 *
 *   token server   (test helper, 127.0.0.1 inside the namespace)
 *   upstream       Distribution 2.8 behind that token auth (127.0.0.1 inside the namespace)
 *   delay lines    on the namespace's veth address: the registry and the token server,
 *                  each delayed `delayMs` per direction; and a seeding port to the registry
 *                  with no delay (the bench pushes through it; the rate limit still applies)
 *
 * So every client on the host side (skopeo direct, the mirror, the peer) crosses the same
 * veth (tbf 1 Gbit/s) and the same delay, token requests included. One JSON line on stdout
 * says the ports; SIGTERM stops everything it started.
 */
import { startDelayLine, type DelayLine } from './delay-line.js';
import { startDistribution } from '../test/helpers/distribution.js';
import { startTokenServer } from '../test/helpers/token-server.js';

export interface FarSideArgs {
  publicHost: string;
  delayMs: number;
}

/** What the far side prints once it is up. */
export interface FarSideReady {
  registryPort: number;
  seedPort: number;
  tokenPort: number;
  /** The upstream's temp dir (same file system as the host side). */
  dir: string;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as FarSideArgs;
  const lines: DelayLine[] = [];
  const token = await startTokenServer();
  const tokenPort = Number(new URL(token.url).port);
  const tokenLine = await startDelayLine({ listenHost: args.publicHost, targetHost: '127.0.0.1', targetPort: tokenPort, delayMs: args.delayMs });
  lines.push(tokenLine);
  // The challenge must name the realm as clients outside reach it: through the link.
  const registry = await startDistribution({ tokenAuth: { ...token, realm: `http://${args.publicHost}:${tokenLine.port}/token` } });
  const line = (delayMs: number): Promise<DelayLine> =>
    startDelayLine({ listenHost: args.publicHost, targetHost: '127.0.0.1', targetPort: registry.port, delayMs });
  const registryLine = await line(args.delayMs);
  const seedLine = await line(0);
  lines.push(registryLine, seedLine);

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await Promise.allSettled(lines.map((l) => l.close()));
    await registry.stop();
    await token.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());

  const ready: FarSideReady = { registryPort: registryLine.port, seedPort: seedLine.port, tokenPort: tokenLine.port, dir: registry.dir };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`wan far side: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
