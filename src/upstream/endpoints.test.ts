import type { Dispatcher } from 'undici';
import { describe, expect, test } from 'vitest';
import type { UpstreamConfig } from '../config/schema.js';
import { OciError } from '../oci/errors.js';
import { Endpoints, type Endpoint } from './endpoints.js';

const config = {
  name: 'example.io', url: 'https://a.example', urls: ['https://a.example/', 'https://b.example'],
  breaker: { failures: 2, openMs: 1000 },
} as unknown as UpstreamConfig;

function answer(status: number): Dispatcher.ResponseData {
  return { statusCode: status, headers: {}, body: { dump: async () => {} } } as unknown as Dispatcher.ResponseData;
}

describe('Endpoints', () => {
  test('a 5xx from an endpoint before the last goes on to the next; the last one\'s 5xx is the answer', async () => {
    const e = new Endpoints(config, () => 0);
    const seen: string[] = [];
    const ok = await e.send(async (ep: Endpoint) => { seen.push(ep.base); return answer(ep.base === 'https://a.example' ? 503 : 200); });
    expect([ok.res.statusCode, ok.endpoint.base, seen]).toEqual([200, 'https://b.example', ['https://a.example', 'https://b.example']]);
    const bad = await e.send(async () => answer(500));
    expect([bad.res.statusCode, bad.endpoint.base]).toEqual([500, 'https://b.example']);
  });

  test('an answer that is not an endpoint failure (a refused token) is thrown at once, no failover', async () => {
    const e = new Endpoints(config, () => 0);
    const seen: string[] = [];
    await expect(e.send(async (ep) => { seen.push(ep.base); throw new OciError('UNAUTHORIZED'); })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    expect(seen).toEqual(['https://a.example']);
  });

  test('every breaker open: 503 UPSTREAM_UNAVAILABLE with Retry-After, attempt never called', async () => {
    let t = 0;
    const e = new Endpoints(config, () => t);
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' });
    for (let i = 0; i < 2; i++) await expect(e.send(async () => { throw refused; })).rejects.toBe(refused);
    t = 400;
    let calls = 0;
    const err = await e.send(async () => { calls++; return answer(200); }).catch((x: unknown) => x);
    expect(calls).toBe(0);
    expect(err).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', status: 503, headers: { 'Retry-After': '1' } });
    expect(e.health().map((h) => h.state)).toEqual(['open', 'open']);
  });
});
