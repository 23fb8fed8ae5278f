import type { RepositoryKind } from '../auth/access-rules.js';
import type { AuthGuard } from '../auth/auth-guard.js';
import type { Viewer } from './console-env.js';

/**
 * What a console viewer may see and do in a repository: the access rules of the registry
 * API, asked of the same guard, so that the console shows and does nothing a `docker
 * pull` or `DELETE /v2/...` by the same user would not. `name` is the index name (the
 * local name, or "<upstream>/<repo>" for mirrored content: rules ignore it there).
 * Admins see everything; evicting mirrored content is theirs alone (as the admin DELETE
 * of a mirrored manifest is); deleting local content takes the rules' delete right.
 */
export function rightsOf(guard: AuthGuard, viewer: Viewer, name: string, kind: RepositoryKind) {
  return {
    pull: viewer.admin || guard.allowed(viewer.user, name, kind, 'pull'),
    delete: kind === 'local' && guard.allowed(viewer.user, name, kind, 'delete'),
    evict: kind === 'mirror' && viewer.admin,
  };
}
