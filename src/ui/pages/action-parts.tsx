import type { Context } from 'hono';
import type { Child } from 'hono/jsx';
import { OciError } from '../../oci/errors.js';
import type { ResolvedRepository } from '../../routing/resolve-repository.js';
import { CsrfField, Notice } from '../components.js';
import type { ConsoleEnv } from '../console-env.js';
import type { ConsoleContext } from '../context.js';
import { Layout } from '../layout.js';
import { rightsOf } from '../rights.js';

/** The longest query or form value an action reads: names, tags and digests are far shorter. */
export const MAX_PARAM = 512;

/** A 400 page's error: the request is malformed and nothing was done. */
export const badRequest = (message: string) => new OciError('UNSUPPORTED', { status: 400, message });

/** A required query parameter (what every action's GET and POST act on), bounded. */
export function queryParam(c: Context<ConsoleEnv>, key: string): string {
  const value = c.req.query(key);
  if (value === undefined || value === '') throw badRequest(`the "${key}" parameter is missing`);
  if (value.length > MAX_PARAM) throw badRequest(`the "${key}" parameter is too long`);
  return value;
}

/** Only admins reach housekeeping (prune, warm-up, evict): anyone else gets a 403 page. */
export function requireAdmin(c: Context<ConsoleEnv>): void {
  if (!c.var.viewer.admin) throw new OciError('DENIED', { message: 'only admins may do this' });
}

/**
 * The repository an action names, resolved as the registry API resolves it, with the
 * right that action needs checked for this viewer (on the GET and again on the POST,
 * whatever the page showed). Refusals come before any lookup: a 403 says nothing about
 * what the repository holds.
 */
export function actionRepository(c: Context<ConsoleEnv>, ctx: ConsoleContext, need: 'delete' | 'evict'): ResolvedRepository {
  const resolved = ctx.namespace.resolver.resolve(queryParam(c, 'repository'));
  const rights = rightsOf(ctx.guard, c.var.viewer, resolved.cacheRepo, resolved.kind);
  if (need === 'delete') {
    if (resolved.kind !== 'local') throw badRequest(`${resolved.cacheRepo} is mirrored from an upstream: its images are evicted, not deleted`);
    if (!rights.delete) throw new OciError('DENIED', { message: `you may not delete in ${resolved.cacheRepo}` });
  } else {
    if (!c.var.viewer.admin) throw new OciError('DENIED', { message: 'only admins may evict cached images' });
    if (resolved.kind !== 'mirror' || !rights.evict) throw badRequest(`${resolved.cacheRepo} is a local repository: its content is deleted, not evicted`);
  }
  return resolved;
}

/** The confirmation's form: POSTs to the action's own URL, with a way back that does nothing. */
export function ConfirmForm(p: { action: string; csrf: string; button: string; cancel: string; children?: Child; danger?: boolean }) {
  return (
    <form method="post" action={p.action} class="card confirm">
      <CsrfField token={p.csrf} />
      {p.children}
      <p class="actions">
        <button type="submit" class={p.danger === false ? undefined : 'danger'}>{p.button}</button>{' '}
        <a href={p.cancel}>Cancel</a>
      </p>
    </form>
  );
}

/** The page after an action: what was done, and where to go next. */
export function resultPage(c: Context<ConsoleEnv>, ctx: ConsoleContext, p: { title: string; text: Child; back: string; backLabel: string; section?: 'repositories' | 'housekeeping'; children?: Child }) {
  return c.html(
    <Layout title={p.title} viewer={c.var.viewer} assets={ctx.assets} section={p.section ?? 'repositories'}>
      <Notice kind="ok">{p.text}</Notice>
      {p.children}
      <p><a href={p.back}>{p.backLabel}</a></p>
    </Layout>,
  );
}

/** "1 tag", "3 tags". */
export const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
