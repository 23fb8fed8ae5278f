import type { Child } from 'hono/jsx';
import { formatBytes, formatExact, formatRelative, shortDigest } from './format.js';

/** A size in binary units, the exact byte count on hover. */
export const Bytes = (p: { n: number }) => <span title={`${p.n.toLocaleString('en-US')} bytes`}>{formatBytes(p.n)}</span>;

/** A time relative to now, the exact time on hover; "never" when absent. */
export const Time = (p: { at: number | null | undefined; now: number }) =>
  p.at === null || p.at === undefined || p.at <= 0
    ? <span>never</span>
    : <time datetime={new Date(p.at).toISOString()} title={formatExact(p.at)}>{formatRelative(p.at, p.now)}</time>;

/** A digest shortened, whole on hover and for screen readers. */
export const Digest = (p: { digest: string }) => (
  <code class="digest" title={p.digest} aria-label={p.digest}>{shortDigest(p.digest)}</code>
);

/** The hidden field every form carries. */
export const CsrfField = (p: { token: string }) => <input type="hidden" name="csrf" value={p.token} />;

/** A figure with its label, for the overview's tiles. */
export const Figure = (p: { label: string; children: Child; hint?: string }) => (
  <div class="figure">
    <dt>{p.label}</dt>
    <dd>{p.children}{p.hint ? <small>{p.hint}</small> : null}</dd>
  </div>
);

/** A notice: an outcome, a warning or an error, announced to screen readers. */
export const Notice = (p: { kind: 'ok' | 'warn' | 'error'; children: Child }) => (
  <p class={`notice ${p.kind}`} role={p.kind === 'error' ? 'alert' : 'status'}>{p.children}</p>
);
