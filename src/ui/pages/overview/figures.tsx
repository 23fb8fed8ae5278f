import type { CacheFigures, CacheReport } from '../../../admin/stats.js';
import { Bytes, Figure } from '../../components.js';
import { formatBytes, formatPercent } from '../../format.js';

const pullsOf = (f: CacheFigures) => f.hits + f.misses + f.stale + f.revalidated;
const count = (n: number) => n.toLocaleString('en-US');

/**
 * The overview's tiles (issue 12): disk used against retention's max_size, hit ratio, bandwidth
 * saved, pulls, what the index holds, and what is in flight. Plain HTML: no script needed.
 */
export function Figures(p: { report: CacheReport; maxSize: number; fills: number; uploads: number }) {
  const { report: r, maxSize } = p;
  const used = r.disk.blobBytes;
  return (
    <dl class="figures">
      <Figure label="Disk used">
        <Bytes n={used} />
        {maxSize > 0 ? (
          <>
            <small>of <Bytes n={maxSize} /> (storage.retention.max_size), {formatPercent(used / maxSize)}</small>
            <meter class="meter" min={0} max={maxSize} value={Math.min(used, maxSize)} high={Math.floor(maxSize * 0.9)} aria-label="Disk used of the maximum size">
              {formatPercent(used / maxSize)}
            </meter>
          </>
        ) : <small>no maximum size set</small>}
      </Figure>
      <Figure label="Hit ratio" hint={`last day · last hour ${formatPercent(r.lastHour.hitRatio)} · all time ${formatPercent(r.allTime.hitRatio)}`}>
        <span>{formatPercent(r.lastDay.hitRatio)}</span>
      </Figure>
      <Figure label="Bandwidth saved" hint={`all time: served ${formatBytes(r.allTime.bytesServed)}, from upstreams ${formatBytes(r.allTime.bytesFromUpstream)} · last day ${formatBytes(r.lastDay.bytesSaved)}`}>
        <Bytes n={r.allTime.bytesSaved} />
      </Figure>
      <Figure label="Pulls" hint={`all time · last hour ${count(pullsOf(r.lastHour))} · last day ${count(pullsOf(r.lastDay))}`}>
        <span>{count(pullsOf(r.allTime))}</span>
      </Figure>
      <Figure label="Repositories">{count(r.counts.repositories)}</Figure>
      <Figure label="Tags">{count(r.counts.tags)}</Figure>
      <Figure label="Manifests" hint={`${formatBytes(r.disk.manifestBytes)} in the index`}>{count(r.counts.manifests)}</Figure>
      <Figure label="Blobs" hint={`mirrored ${formatBytes(r.disk.mirrored)} · pushed ${formatBytes(r.disk.pushed)}`}>{count(r.counts.blobs)}</Figure>
      <Figure label="Uploads in progress">{count(p.uploads)}</Figure>
      <Figure label="Fills in progress">{count(p.fills)}</Figure>
    </dl>
  );
}
