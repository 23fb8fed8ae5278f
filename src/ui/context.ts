import type { Hono } from 'hono';
import type { MinuteSeries } from '../admin/minute-series.js';
import type { RecentErrors } from '../admin/recent-errors.js';
import type { AuthGuard } from '../auth/auth-guard.js';
import type { TrustedProxies } from '../auth/forwarded.js';
import type { AppDeps } from '../http/app.js';
import type { Assets } from './assets.js';
import type { ConsoleEnv } from './console-env.js';
import type { Sessions } from './session.js';

/** What console pages are built from: the app's parts (a core's), the auth guard and the console's own assets and sessions. */
export interface ConsoleContext extends AppDeps {
  guard: AuthGuard;
  proxies: TrustedProxies;
  tls: boolean;
  assets: Assets;
  sessions: Sessions;
  now: () => number;
  /** Aborted when the app stops: background work the console started (a warm-up) stops with it. */
  signal: AbortSignal;
  /** Issue 12: the last responses with status ≥ 500 or 429 (the overview's "Recent errors"). */
  recentErrors: RecentErrors;
  /** Issue 12: the last hour's counters by minute (the overview's hour chart). */
  minutes: MinuteSeries;
}

/** A group of console routes (a page and its actions), added to the /ui/ app. */
export type ConsoleRoutes = (ui: Hono<ConsoleEnv>, ctx: ConsoleContext) => void;
