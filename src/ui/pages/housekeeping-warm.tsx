import type { Context, Hono } from 'hono';
import { unresolvableImages } from '../../admin/warm.js';
import { parsePlatformList } from '../../config/value-parsers.js';
import { OciError } from '../../oci/errors.js';
import { parseImageRef, type ImageRef } from '../../oci/image-ref.js';
import { Bytes, Notice, Time } from '../components.js';
import type { ConsoleEnv } from '../console-env.js';
import type { ConsoleContext } from '../context.js';
import { formStep, MAX_FORM_BYTES } from '../forms.js';
import { Layout } from '../layout.js';
import { urls } from '../urls.js';
import type { WarmRun, WarmRuns } from '../warm-runs.js';
import { badRequest, ConfirmForm, plural, requireAdmin } from './action-parts.js';

/** Images one warm-up takes at most: the console starts small runs; big lists belong in `warm:` or the CLI. */
export const MAX_WARM_IMAGES = 50;
const RUN_ID = /^[0-9a-f]{16}$/;

interface WarmRequest {
  images: ImageRef[];
  platforms: string[];
  /** Lines that are not images the mirror can pull, with why. */
  errors: string[];
}

/** The textarea's lines as image references, validated (the grammar, then whether the mirror serves the name). */
function warmRequest(ctx: ConsoleContext, imagesText: string | undefined, platformsText: string | undefined): WarmRequest {
  const text = imagesText ?? '';
  if (text.length > MAX_FORM_BYTES) throw badRequest('the list of images is too long');
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length === 0) throw badRequest('name at least one image, one per line');
  if (lines.length > MAX_WARM_IMAGES) throw badRequest(`at most ${MAX_WARM_IMAGES} images at a time (the list has ${lines.length})`);
  const errors: string[] = [];
  const images: ImageRef[] = [];
  for (const line of lines) {
    try {
      images.push(parseImageRef(line));
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  errors.push(...unresolvableImages(ctx.namespace.resolver, images));
  let platforms: string[] = [];
  const p = (platformsText ?? '').trim();
  if (p.length > 256) throw badRequest('the list of platforms is too long');
  if (p !== '') {
    try {
      platforms = parsePlatformList(p);
    } catch (err) {
      errors.push(`Platforms: ${(err as Error).message}`);
    }
  }
  return { images, platforms, errors };
}

/** A run as a link: when it started and how far it got. */
export const WarmRunLink = (p: { run: WarmRun; now: number }) => (
  <>
    <a href={`${urls.warm}/${p.run.id}`}>{plural(p.run.images.length, 'image')}</a>, started <Time at={p.run.startedAt} now={p.now} />:{' '}
    {p.run.finishedAt === undefined ? `${p.run.done + p.run.failed} done so far` : `${p.run.done} warmed, ${p.run.failed} failed`}
  </>
);

/** The progress of a run; polled by htmx every 2 s until the run is over (then the fragment carries no trigger). */
function Progress(p: { run: WarmRun; now: number }) {
  const { run } = p;
  const over = run.finishedAt !== undefined;
  const poll = over ? {} : { 'hx-get': `${urls.warm}/${run.id}/progress`, 'hx-trigger': 'every 2s', 'hx-swap': 'outerHTML' };
  return (
    <div id="warm-progress" aria-live="polite" {...poll}>
      <p>
        {over ? 'Done: ' : 'Running: '}{run.done} of {run.images.length} images warmed, {run.failed} failed, <Bytes n={run.bytesFetched} /> fetched from upstreams.
      </p>
      {run.error ? <Notice kind="error">The run failed: {run.error}</Notice> : null}
      {run.summary ? (
        <Notice kind={run.summary.failed > 0 ? 'warn' : 'ok'}>
          Warmed {plural(run.summary.images - run.summary.failed, 'image')} of {run.summary.images}: {plural(run.summary.manifests, 'manifest')} read,{' '}
          {plural(run.summary.blobsFetched, 'blob')} fetched (<Bytes n={run.summary.bytesFetched} />), {plural(run.summary.alreadyCached, 'blob')} already cached.
        </Notice>
      ) : null}
      {run.results.length > 0 ? (
        <div class="table-wrap">
          <table>
            <thead><tr><th scope="col">Image</th><th scope="col">Result</th><th scope="col">Fetched</th></tr></thead>
            <tbody>
              {run.results.map((r) => <tr><td><code>{r.image}</code></td><td>{r.ok ? 'warmed' : `failed: ${r.error ?? ''}`}</td><td><Bytes n={r.bytesFetched} /></td></tr>)}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}

function runOf(c: Context<ConsoleEnv>, runs: WarmRuns): WarmRun {
  requireAdmin(c);
  const id = c.req.param('id') ?? '';
  const run = RUN_ID.test(id) ? runs.get(id) : undefined;
  if (!run) throw new OciError('UNSUPPORTED', { status: 404, message: 'there is no such warm-up (the console remembers the last ten)' });
  return run;
}

/**
 * /ui/housekeeping/warm (admins): GET confirms the images (bad ones listed as errors), POST
 * starts the run in the background (one at a time: another gets 409) and redirects to
 * its progress page, /ui/housekeeping/warm/<id>.
 */
export function warmRoutes(ui: Hono<ConsoleEnv>, ctx: ConsoleContext, runs: WarmRuns): void {
  ui.get('/ui/housekeeping/warm', (c) => {
    requireAdmin(c);
    const w = warmRequest(ctx, c.req.query('images'), c.req.query('platforms'));
    const ok = w.errors.length === 0;
    return c.html(
      <Layout title={ok ? `Warm up ${plural(w.images.length, 'image')}?` : 'Warm-up: some lines are not images'} viewer={c.var.viewer} assets={ctx.assets} section="housekeeping">
        {ok ? null : (
          <>
            <Notice kind="error">Fix these lines and try again; nothing was started.</Notice>
            <ul class="errors">{w.errors.map((e) => <li>{e}</li>)}</ul>
          </>
        )}
        {ok ? (
          <>
            <p>These images will be pulled into the cache{w.platforms.length > 0 ? <> (of an index, only {w.platforms.join(', ')})</> : null}, {ctx.config.warm.concurrency} at a time:</p>
            <ul>{w.images.map((i) => <li><code>{i.text}</code></li>)}</ul>
          </>
        ) : null}
        {ok ? (
          <ConfirmForm action={urls.warm} csrf={c.var.viewer.csrf} button="Start warm-up" cancel={urls.housekeeping} danger={false}>
            <input type="hidden" name="images" value={w.images.map((i) => i.text).join('\n')} />
            <input type="hidden" name="platforms" value={w.platforms.join(',')} />
          </ConfirmForm>
        ) : <p><a href={urls.housekeeping}>Back to housekeeping</a></p>}
      </Layout>,
      ok ? 200 : 400,
    );
  });

  ui.post('/ui/housekeeping/warm', formStep(ctx.sessions), (c) => {
    requireAdmin(c);
    const w = warmRequest(ctx, c.var.form.images, c.var.form.platforms);
    if (w.errors.length > 0) throw badRequest(`not started: ${w.errors.slice(0, 5).join('; ')}`);
    const run = runs.start(w.images, w.platforms, c.var.viewer.user);
    if (!run) throw new OciError('UNSUPPORTED', { status: 409, message: 'a warm-up is running: wait for it to finish' });
    return c.redirect(`${urls.warm}/${run.id}`, 303);
  });

  ui.get('/ui/housekeeping/warm/:id', (c) => {
    const run = runOf(c, runs);
    const now = ctx.now();
    return c.html(
      <Layout title="Warm-up" viewer={c.var.viewer} assets={ctx.assets} section="housekeeping">
        <p>{plural(run.images.length, 'image')}{run.platforms.length > 0 ? ` (${run.platforms.join(', ')})` : ''}, started <Time at={run.startedAt} now={now} />{run.user ? ` by ${run.user}` : ''}.</p>
        <Progress run={run} now={now} />
        <p><a href={urls.housekeeping}>Back to housekeeping</a></p>
      </Layout>,
    );
  });

  ui.get('/ui/housekeeping/warm/:id/progress', (c) => c.html(<Progress run={runOf(c, runs)} now={ctx.now()} />));
}
