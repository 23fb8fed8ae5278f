import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as undici from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, buildConnector, request } from './undici-lean.js';

// dist/ is compiled by test/global-setup.ts: the module graph a user's `serve` loads.
const CLIENT_JS = fileURLToPath(new URL('../../dist/upstream/client.js', import.meta.url));

describe('undici-lean', () => {
  it('loading the upstream client does not load undici\'s index (fetch, WebSocket, mocks: RSS for nothing)', () => {
    const script = `
      import { createRequire } from 'node:module';
      await import(${JSON.stringify(pathToFileURL(CLIENT_JS).href)});
      const loaded = Object.keys(createRequire(process.cwd() + '/').cache).filter((f) => f.includes('/undici/'));
      process.stdout.write(JSON.stringify(loaded));`;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(out.status, out.stderr).toBe(0);
    const loaded = JSON.parse(out.stdout) as string[];
    expect(loaded.some((f) => f.endsWith('/lib/dispatcher/agent.js'))).toBe(true);
    expect(loaded.filter((f) => /\/undici\/index\.js$|\/lib\/web\/|\/lib\/mock\/|\/lib\/cache\//.test(f))).toEqual([]);
  });

  it('hands out the very classes of undici\'s index, so an Agent made from "undici" is the same kind', () => {
    expect(Agent).toBe(undici.Agent);
    expect(buildConnector).toBe(undici.buildConnector);
  });

  describe('request', () => {
    let server: Server;
    let base: string;
    beforeAll(async () => {
      server = createServer((req, res) => {
        res.setHeader('content-type', 'text/plain');
        res.end(`${req.method} ${req.url} ${req.headers['x-probe'] ?? '-'}`);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('sends method, path, query and headers through the given dispatcher', async () => {
      const agent = new Agent();
      try {
        const res = await request(`${base}/v2/a/tags/list?n=2&last=x`, { method: 'GET', headers: { 'x-probe': 'yes' }, dispatcher: agent });
        expect(res.statusCode).toBe(200);
        expect(await res.body.text()).toBe('GET /v2/a/tags/list?n=2&last=x yes');
        const head = await request(new URL(`${base}/v2/`), { method: 'HEAD', dispatcher: agent });
        expect(head.statusCode).toBe(200);
        await head.body.dump();
      } finally {
        await agent.close();
      }
    });
  });
});
