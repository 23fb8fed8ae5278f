/**
 * The console's URLs, in one place so that pages link to each other's routes. Repository
 * names contain slashes, so a repository's pages sit below `/-/`, which no name can
 * contain as a component (OCI name components are [a-z0-9] runs with separators between).
 */

const enc = (name: string) => name.split('/').map(encodeURIComponent).join('/');
const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

export const urls = {
  overview: '/ui/',
  signIn: (next?: string) => (next ? `/ui/sign-in?${q({ next })}` : '/ui/sign-in'),
  repositories: (params: Record<string, string> = {}) => (Object.keys(params).length ? `/ui/repositories?${q(params)}` : '/ui/repositories'),
  /** A repository's page (its tags), by its index name ("docker.io/library/alpine", "team/app"). */
  repository: (name: string) => `/ui/repositories/${enc(name)}`,
  /** A tag's or digest's manifest (or index) in a repository. */
  manifest: (name: string, reference: string) => `/ui/repositories/${enc(name)}/-/manifests/${encodeURIComponent(reference)}`,
  /** Confirmation pages (GET) and their actions (POST), src/ui/pages/actions*.tsx. */
  deleteTag: (repository: string, tag: string) => `/ui/actions/delete-tag?${q({ repository, tag })}`,
  deleteManifest: (repository: string, digest: string) => `/ui/actions/delete-manifest?${q({ repository, digest })}`,
  evict: (repository: string, reference: string) => `/ui/actions/evict?${q({ repository, reference })}`,
  housekeeping: '/ui/housekeeping',
  prune: '/ui/housekeeping/prune',
  warm: '/ui/housekeeping/warm',
} as const;

/** Splits what follows /ui/repositories/: the repository name, and the rest after `/-/` (empty for the repository page). */
export function splitRepositoryPath(rest: string): { name: string; sub: string } {
  const at = rest.indexOf('/-/');
  const name = (at < 0 ? rest : rest.slice(0, at)).replace(/\/+$/, '');
  return { name: decodeURIComponent(name), sub: at < 0 ? '' : rest.slice(at + 3) };
}
