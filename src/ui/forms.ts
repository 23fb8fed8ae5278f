import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { OciError } from '../oci/errors.js';
import type { ConsoleEnv } from './console-env.js';
import type { Sessions } from './session.js';
import { csrfNonce } from './viewer.js';

/** The largest form body read: the console's forms carry a few short fields. */
export const MAX_FORM_BYTES = 16 * 1024;

/** A submitted form's fields: strings only (files and repeated fields are refused by reading the first string). */
export type FormFields = Readonly<Record<string, string>>;

/**
 * Every console POST passes here before its handler: a bounded urlencoded body, an
 * Origin (when the browser sends one) that is the console's own, and the CSRF token of
 * the cookie it came with. Anything else is 403 and changes nothing.
 */
export function formStep(sessions: Sessions): MiddlewareHandler<ConsoleEnv> {
  const limit = bodyLimit({
    maxSize: MAX_FORM_BYTES,
    onError: () => { throw new OciError('SIZE_INVALID', { status: 413, message: 'form too large' }); },
  });
  const check: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
    const type = c.req.header('content-type') ?? '';
    if (!type.startsWith('application/x-www-form-urlencoded')) {
      throw new OciError('UNSUPPORTED', { status: 415, message: 'forms are sent as application/x-www-form-urlencoded' });
    }
    const origin = c.req.header('origin');
    if (origin !== undefined && origin !== c.var.viewer.origin) {
      throw new OciError('DENIED', { message: 'cross-origin form refused' });
    }
    const parsed = await c.req.parseBody();
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed)) {
      const first = Array.isArray(v) ? v[0] : v;
      if (typeof first === 'string') fields[k] = first;
    }
    const nonce = csrfNonce(c, sessions);
    if (nonce === undefined || !sessions.csrfMatches(nonce, fields.csrf)) {
      throw new OciError('DENIED', { message: 'the form’s CSRF token is missing or stale: reload the page and try again' });
    }
    c.set('form', fields);
    await next();
  };
  return async (c, next) => { await limit(c, async () => { await check(c, next); }); };
}
