/**
 * /metrics as Prometheus reads it: parsed with parse-prometheus-text-format (not with
 * prom-client, whose output it checks), plus the checks every scrape must pass.
 */
import parsePrometheusTextFormat, { type ParsedFamily, type ParsedSample } from 'parse-prometheus-text-format';

export type { ParsedFamily, ParsedSample };

/**
 * Parses the exposition and checks its shape: every family has a HELP and a TYPE line
 * (and no sample is untyped), no family appears twice. Throws naming what is wrong.
 * parse-prometheus-text-format folds a histogram's series into one and drops their labels
 * (it only knows unlabelled histograms), so histogram samples are read from the lines here.
 */
export function parseMetrics(text: string): Map<string, ParsedFamily> {
  const helps = new Set<string>();
  const types = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^# (HELP|TYPE) (\S+)/.exec(line);
    if (!m) continue;
    const seen = m[1] === 'HELP' ? helps : types;
    if (seen.has(m[2]!)) throw new Error(`${m[1]} twice for ${m[2]}`);
    seen.add(m[2]!);
  }
  const families = new Map<string, ParsedFamily>();
  for (const f of parsePrometheusTextFormat(text)) {
    if (families.has(f.name)) throw new Error(`family ${f.name} twice`);
    if (!helps.has(f.name) || f.help === '') throw new Error(`family ${f.name} has no HELP`);
    if (!types.has(f.name) || f.type === 'UNTYPED') throw new Error(`family ${f.name} has no TYPE`);
    families.set(f.name, f.type === 'HISTOGRAM' ? { ...f, metrics: histogramSeries(text, f.name) } : f);
  }
  return families;
}

const SAMPLE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL_RE = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The labels of a sample line, unescaped. */
function labelsOf(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of (text ?? '').matchAll(LABEL_RE)) {
    out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return out;
}

/** A histogram's series: buckets by `le`, count and sum, per label set (without `le`). */
function histogramSeries(text: string, name: string): ParsedSample[] {
  const series = new Map<string, ParsedSample & { labels: Record<string, string> }>();
  for (const line of text.split('\n')) {
    const m = SAMPLE_RE.exec(line);
    if (!m || !m[1]!.startsWith(name)) continue;
    const suffix = m[1]!.slice(name.length);
    if (suffix !== '_bucket' && suffix !== '_sum' && suffix !== '_count') continue;
    const { le, ...labels } = labelsOf(m[2]);
    const key = JSON.stringify(Object.entries(labels).sort());
    let s = series.get(key);
    if (!s) series.set(key, (s = { labels, buckets: {} }));
    if (suffix === '_bucket') s.buckets![le!] = m[3]!;
    else if (suffix === '_sum') s.sum = m[3]!;
    else s.count = m[3]!;
  }
  return [...series.values()];
}

/** The sample of a family whose labels include all of `labels` (exactly one, or throws). */
export function sample(families: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}): ParsedSample | undefined {
  const family = families.get(name);
  if (!family) throw new Error(`no family ${name}`);
  const found = family.metrics.filter((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0];
}

/** A counter's or gauge's value, or a histogram's count, for these labels (0 when no sample). */
export function valueOf(families: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}): number {
  const s = sample(families, name, labels);
  if (!s) return 0;
  return Number(s.value ?? s.count);
}
