import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, test } from 'vitest';
import { DurationSet } from '../admin/durations.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { OciError } from '../oci/errors.js';
import type { ManifestResult } from '../repository/repository.js';
import { createRequestDone, METHODS, ROUTES, routeOf, type RequestDone } from './request-done.js';
import { createV2Entry } from './v2-entry.js';
import type { V2Gate } from './v2-routes.js';

describe('routeOf: a bounded route template', () => {
  test.each([
    ['/v2/', '/v2/'], ['/v2', '/v2/'], ['/v2/_catalog?n=10', 'catalog'],
    ['/v2/library/alpine/manifests/3.20', 'manifests'], ['/v2/library/alpine/manifests/3.20?ns=docker.io', 'manifests'],
    [`/v2/a/b/c/blobs/sha256:${'a'.repeat(64)}`, 'blobs'], ['/v2/team/app/blobs/uploads/', 'uploads'],
    ['/v2/team/app/blobs/uploads/0b5d-id?digest=sha256:x', 'uploads'], ['/v2/team/app/tags/list?n=1', 'tags'],
    [`/v2/team/app/referrers/sha256:${'b'.repeat(64)}`, 'referrers'], ['/v2/team/app/manifests/a/b', 'other'],
    ['/v2/nothing-here', 'other'], ['/auth/token?scope=repository:x:pull', 'token'], ['/healthz', 'healthz'],
    ['/readyz', 'readyz'], ['/metrics', 'metrics'], ['/admin/stats', 'admin'], ['/admin', 'admin'],
    ['/', 'console'], ['/ui/', 'console'], ['/ui/repositories/docker.io/library/alpine', 'console'], ['/uix', 'other'], ['/favicon.ico', 'other'], ['*', 'other'], ['http://user:pw@host/v2/', 'other'], ['', 'other'],
  ])('%s → %s', (target, route) => {
    expect(routeOf(target)).toBe(route);
  });

  test('a huge or odd path is one of the fixed labels, and never carries the name it contains', () => {
    const name = `secret-team/${'x'.repeat(10_000)}`;
    for (const target of [`/v2/${name}/manifests/latest`, `/${name}`, `/v2/${name}/blobs/%00%ff`, `/v2/${'/'.repeat(5000)}`]) {
      const r = routeOf(target);
      expect(ROUTES).toContain(r);
      expect(r).not.toContain('secret-team');
    }
  });
});

describe('createRequestDone', () => {
  const lines: unknown[] = [];
  const log: Logger = { ...silentLogger, line: (entry) => { lines.push(entry); } };

  test('observes every request in its (route, method, status) series, with odd methods as "other"; logs only when access logs are on', () => {
    const set = new DurationSet();
    const quiet = createRequestDone({ log, accessLog: false, durations: set });
    const t = performance.now();
    quiet('GET', '/v2/library/alpine/manifests/3.20', 200, t, 'manifests', 'HIT');
    quiet('GET', '/v2/library/other/manifests/1', 200, t);
    quiet('PROPFIND', '/v2/library/alpine/manifests/3.20', 404, t);
    quiet('BREW', '/v2/x/blobs/sha256:1', 404, t);
    quiet('-', '-', 400, t, 'other');
    expect(lines).toEqual([]);
    expect(set.series.map((s) => [s.labels, s.count])).toEqual([
      [{ route: 'manifests', method: 'GET', status: '200' }, 2],
      [{ route: 'manifests', method: 'other', status: '404' }, 1],
      [{ route: 'blobs', method: 'other', status: '404' }, 1],
      [{ route: 'other', method: 'other', status: '400' }, 1],
    ]);
    for (const s of set.series) expect(METHODS).toContain(s.labels.method);

    const loud = createRequestDone({ log, accessLog: true, durations: set });
    loud('HEAD', '/healthz', 200, t);
    expect(lines).toEqual([expect.objectContaining({ msg: 'request', method: 'HEAD', target: '/healthz', status: 200 })]);
    expect(set.series.at(-1)!.labels).toEqual({ route: 'healthz', method: 'HEAD', status: '200' });
  });

  test('onError hears of responses with status ≥ 500 or 429 only, by labels (never the target)', () => {
    const heard: unknown[][] = [];
    const done = createRequestDone({ log, accessLog: false, durations: new DurationSet(), onError: (...a) => { heard.push(a); } });
    const t = performance.now();
    for (const status of [200, 206, 304, 400, 401, 404, 428]) done('GET', '/v2/secret/app/manifests/1', status, t);
    expect(heard).toEqual([]);
    done('GET', '/v2/secret/app/manifests/1', 502, t, undefined, undefined, 'UPSTREAM_UNAVAILABLE');
    done('BREW', '/v2/secret/app/blobs/sha256:1', 429, t, undefined, undefined, 'TOOMANYREQUESTS');
    done('POST', '/ui/sign-in', 500, t);
    expect(heard).toEqual([
      ['GET', 'manifests', 502, 'UPSTREAM_UNAVAILABLE'], ['other', 'blobs', 429, 'TOOMANYREQUESTS'], ['POST', 'console', 500, undefined],
    ]);
  });
});

describe('the memo step reports to request-done', () => {
  const manifest: ManifestResult = { digest: `sha256:${'c'.repeat(64)}`, mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes: Buffer.from('{}'), cache: 'HIT' };
  /** A gate whose repository's memo holds `manifest`; `refuse` makes admit() answer 401. */
  function gate(refuse: boolean): V2Gate {
    const located = { resolved: { name: 'library/alpine', kind: 'mirror', repository: { cachedManifest: () => manifest } }, actions: ['pull'] };
    return {
      locate: () => located,
      admitsAnonymous: () => !refuse,
      admit: async () => { throw new OciError('UNAUTHORIZED'); },
    } as unknown as V2Gate;
  }

  async function call(refuse: boolean): Promise<{ status: number; calls: unknown[][] }> {
    const calls: unknown[][] = [];
    const done: RequestDone = (...args) => { calls.push(args); };
    const entry = createV2Entry({ gate: gate(refuse), log: silentLogger, done, tls: false });
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (!entry(req, res, () => res.destroy())) res.writeHead(599).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const status = await new Promise<number>((resolve, reject) => {
        request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/library/alpine/manifests/3.20`, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        }).on('error', reject).end();
      });
      await new Promise((resolve) => setImmediate(resolve));
      return { status, calls };
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  test('an answer from the memo: once, route manifests, status 200, with its cache result', async () => {
    const { status, calls } = await call(false);
    expect(status).toBe(200);
    expect(calls).toEqual([['GET', '/v2/library/alpine/manifests/3.20', 200, expect.any(Number), 'manifests', 'HIT']]);
  });

  test('a refusal by the memo step\'s gate: once, with the error\'s status and code', async () => {
    const { status, calls } = await call(true);
    expect(status).toBe(401);
    expect(calls).toEqual([['GET', '/v2/library/alpine/manifests/3.20', 401, expect.any(Number), 'manifests', undefined, 'UNAUTHORIZED']]);
  });
});
