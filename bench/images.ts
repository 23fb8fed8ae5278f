/**
 * What the bench seeds into the upstream. Seeds carry a per-run id, so no system (nor a
 * leftover data dir) can hold any of it before the run; each cold round gets its own
 * fresh image, each round its own herd blobs.
 */
import { deterministicStream } from '../test/helpers/layers.js';
import { pushBlob, seedImage, seedMultiArch, type SeededImage, type SeededIndex } from '../test/helpers/seed.js';
import type { Distribution } from '../test/helpers/distribution.js';
import { SYSTEMS, type SystemName } from './systems.js';

export const MiB = 1024 * 1024;
export const BIG_SIZE = 200 * MiB;
export const HERD_SIZE = 64 * MiB;

export interface RoundImages {
  /** Per system: a never-seen 64 MiB blob for the herd, another for the lone client. */
  herd: Record<SystemName, string>;
  solo: Record<SystemName, string>;
}

export interface BenchImages {
  /** Repository of the herd and solo blobs. */
  blobRepo: string;
  /** One 200 MiB raw layer: the warm blob GET and nginx's file. */
  big: SeededImage;
  /** A two-platform index: the cached manifest GET by tag. */
  multi: SeededIndex;
  /** Per cold round: a fresh 200 MiB image to pull cold (then warm) through every path. */
  cold: SeededImage[];
  rounds: RoundImages[];
}

/** Raw (incompressible, never gzip) layers: every byte goes over the wire as is. */
const raw = (size: number, seed: string) => ({ size, seed, format: 'raw' as const });

/** `rounds` rounds of herd blobs (none when 0), `coldRounds` fresh 200 MiB cold images. */
export async function seedBenchImages(upstream: Distribution, runId: string, rounds: number, coldRounds: number): Promise<BenchImages> {
  const blobRepo = 'library/bench-herd';
  const blob = async (seed: string): Promise<string> =>
    (await pushBlob(upstream, blobRepo, { stream: () => deterministicStream(HERD_SIZE, `${runId}:${seed}`) })).digest;

  const big = await seedImage(upstream, 'library/bench-big', 'latest', { layers: [raw(BIG_SIZE, `${runId}:big`)] });
  const multi = await seedMultiArch(upstream, 'library/bench-multi', 'latest', { mediaType: 'docker' });
  const cold: SeededImage[] = [];
  for (let r = 0; r < coldRounds; r++) {
    cold.push(await seedImage(upstream, `library/bench-cold-${r}`, 'latest', {
      layers: [raw(BIG_SIZE, `${runId}:cold:${r}`)],
    }));
  }
  const seeded: RoundImages[] = [];
  for (let r = 0; r < rounds; r++) {
    const herd = {} as Record<SystemName, string>;
    const solo = {} as Record<SystemName, string>;
    for (const s of SYSTEMS) {
      herd[s] = await blob(`herd:${r}:${s}`);
      solo[s] = await blob(`solo:${r}:${s}`);
    }
    seeded.push({ herd, solo });
  }
  return { blobRepo, big, multi, cold, rounds: seeded };
}
