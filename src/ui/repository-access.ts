import { OciError } from '../oci/errors.js';
import type { RepositorySummary } from '../storage/browse-rows.js';
import type { Viewer } from './console-env.js';
import type { ConsoleContext } from './context.js';
import { rightsOf } from './rights.js';

export type Rights = ReturnType<typeof rightsOf>;

/**
 * A repository the viewer may pull, with their rights in it. An unknown name and one the
 * viewer may not pull give the same 404 (same status, same text), so a page never tells
 * whether a repository someone may not see exists.
 */
export async function visibleRepository(ctx: ConsoleContext, viewer: Viewer, name: string): Promise<{ repo: RepositorySummary; rights: Rights }> {
  const repo = await ctx.ports.browse.getRepository(name);
  const rights = repo && rightsOf(ctx.guard, viewer, repo.name, repo.kind);
  if (!repo || !rights?.pull) throw new OciError('NAME_UNKNOWN', { message: 'There is no such repository (or you may not see it).' });
  return { repo, rights };
}

/** "mirror · docker.io" or "local". */
export const kindText = (repo: Pick<RepositorySummary, 'kind' | 'upstream'>) =>
  repo.kind === 'mirror' ? `mirror · ${repo.upstream ?? '?'}` : 'local';
