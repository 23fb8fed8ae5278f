import type { RepositorySummary } from '../storage/browse-rows.js';

/**
 * The reference a client pulls a repository's manifest with from this mirror, e.g.
 * `mirror.internal:5000/library/alpine:3.20`: the host the browser used; for the default
 * upstream (Docker Hub) the name without its host, as `docker pull <mirror>/library/alpine`
 * routes it; for another upstream its host as the first path component (the resolver's
 * prefix routing); for a local repository the name itself.
 */
export function pullReference(origin: string, repo: Pick<RepositorySummary, 'name' | 'kind' | 'upstream'>, defaultUpstream: string, reference: string): string {
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    host = 'localhost';
  }
  const prefix = `${defaultUpstream}/`;
  const path = repo.kind === 'mirror' && repo.upstream === defaultUpstream && repo.name.startsWith(prefix) ? repo.name.slice(prefix.length) : repo.name;
  return `${host}/${path}${reference.includes(':') ? '@' : ':'}${reference}`;
}

/** `docker pull …` and `crane pull …` lines (crane talks plain HTTP only with --insecure). */
export function pullLines(origin: string, ref: string): { docker: string; crane: string } {
  const insecure = origin.startsWith('http:') ? '--insecure ' : '';
  const base = ref.replace(/[@:][^/]*$/, '').split('/').pop() || 'image';
  return { docker: `docker pull ${ref}`, crane: `crane pull ${insecure}${ref} ${base}.tar` };
}
