import type { HttpBindings } from '@hono/node-server';
import type { CacheStatus } from '../admin/metrics.js';

/** Hono's environment for our app: Node bindings plus per-request variables for the access log. */
export interface AppEnv {
  Bindings: HttpBindings;
  Variables: {
    cache: CacheStatus;
    error: unknown;
    /** The authenticated user, when there is one. */
    user: string | undefined;
  };
}
