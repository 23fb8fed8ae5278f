/**
 * Repository name patterns, as written in config: path segments separated by "/", where
 * `*` matches exactly one segment and a final `**` matches one or more segments.
 *   "team/*"      matches team/app, not team/a/b
 *   "private/**"  matches private/x, private/x/y
 *   "infra/tools" matches only infra/tools
 */
export interface NamePattern {
  readonly source: string;
  matches(name: string): boolean;
}

const SEGMENT_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;

/** Throws a plain Error naming what is wrong (config adds the key). */
export function compileNamePattern(source: string): NamePattern {
  const segments = source.split('/');
  segments.forEach((seg, i) => {
    if (seg === '**' && i !== segments.length - 1) throw new Error(`"${source}": "**" may only be the last segment`);
    if (seg !== '*' && seg !== '**' && !SEGMENT_RE.test(seg)) throw new Error(`"${source}" is not a repository name pattern`);
  });
  const parts = segments.map((seg) => (seg === '**' ? '[^/]+(?:/[^/]+)*' : seg === '*' ? '[^/]+' : seg.replace(/\./g, '\\.')));
  const re = new RegExp(`^${parts.join('/')}$`);
  return { source, matches: (name) => re.test(name) };
}

/**
 * True when the pattern could match an official Docker Hub image name ("alpine" or
 * "library/alpine"), i.e. a local namespace that would shadow mirrored content.
 */
export function shadowsOfficialImages(source: string, officialPrefix: string): boolean {
  const first = source.split('/')[0]!;
  const prefix = officialPrefix.replace(/\/$/, '');
  return !source.includes('/') || first === '*' || first === '**' || (prefix !== '' && first === prefix);
}
