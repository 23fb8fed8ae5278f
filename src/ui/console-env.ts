import type { AppEnv } from '../http/app-env.js';

/** Who is looking at a console page, and what they may see (decided once per request by viewer.ts). */
export interface Viewer {
  /** The signed-in user; undefined: anonymous. */
  user: string | undefined;
  /** Sees and does everything: a user in auth.admins, or a loopback caller while no admin can log in. */
  admin: boolean;
  /** The CSRF token every form of the page carries. */
  csrf: string;
  /** The origin the browser used (scheme, host, port): pull lines name it. */
  origin: string;
}

/** Hono's environment under /ui/: the app's, plus the viewer. */
export interface ConsoleEnv {
  Bindings: AppEnv['Bindings'];
  Variables: AppEnv['Variables'] & {
    viewer: Viewer;
    /** A POST's fields, once forms.ts has checked its size, origin and CSRF token. */
    form: Readonly<Record<string, string>>;
  };
}
