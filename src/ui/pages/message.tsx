import type { Context } from 'hono';
import type { ConsoleEnv } from '../console-env.js';
import type { ConsoleContext } from '../context.js';
import { Notice } from '../components.js';
import { Layout } from '../layout.js';

/** A page that only says something: an error, a refusal, an outcome. */
export function messagePage(c: Context<ConsoleEnv>, ctx: ConsoleContext, p: { title: string; status: number; text: string; kind?: 'ok' | 'warn' | 'error' }) {
  return c.html(
    <Layout title={p.title} viewer={c.var.viewer} assets={ctx.assets}>
      <Notice kind={p.kind ?? 'error'}>{p.text}</Notice>
      <p><a href="/ui/">Back to the overview</a></p>
    </Layout>,
    p.status as 200,
  );
}
