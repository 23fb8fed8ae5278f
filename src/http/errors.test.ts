import { describe, expect, it } from 'vitest';
import { OciError } from '../oci/errors.js';
import { createLastResort, errorBody, scrubInternal } from './errors.js';

describe('errorBody', () => {
  it('scrubs IP:port, host:port, URLs and file paths from a 5xx message and detail', () => {
    const err = new OciError('UPSTREAM_UNAVAILABLE', {
      message: 'connect ECONNREFUSED 10.1.2.3:5000',
      detail: {
        upstream: 'docker.io',
        reason: 'connect ECONNREFUSED 10.1.2.3:5000 via http://registry.corp.internal:8080/v2/ at /srv/mirror/data/tmp/abc',
        nested: [{ addr: '[fd00::1]:443' }, 'registry.corp.internal:5000'],
      },
    });
    const text = errorBody(err);
    for (const leak of ['10.1.2.3', '5000', 'registry.corp.internal', '8080', '/srv/mirror', 'fd00::1']) expect(text).not.toContain(leak);
    const body = JSON.parse(text);
    expect(body.errors[0].code).toBe('UPSTREAM_UNAVAILABLE');
    expect(body.errors[0].detail.upstream).toBe('docker.io');
  });

  it('leaves a 4xx alone: the client sent what it names', () => {
    const err = new OciError('NAME_INVALID', { detail: { name: 'a/b/c' } });
    expect(JSON.parse(errorBody(err)).errors[0].detail).toEqual({ name: 'a/b/c' });
  });

  it('keeps digests and plain words, and survives deep or cyclic-looking values', () => {
    const digest = `sha256:${'1'.repeat(64)}`;
    expect(scrubInternal({ digest, status: 503 })).toEqual({ digest, status: 503 });
    let deep: unknown = 'x';
    for (let i = 0; i < 50; i++) deep = { d: deep };
    expect(() => JSON.stringify(scrubInternal(deep))).not.toThrow();
  });
});

describe('the listener\'s last resort', () => {
  async function serve(handler: (res: import('node:http').ServerResponse) => void) {
    const { createServer } = await import('node:http');
    const { silentLogger } = await import('../log/logger.js');
    const lastResort = createLastResort(silentLogger, () => {});
    const server = createServer((req, res) => {
      try {
        handler(res);
      } catch (err) {
        lastResort(req, res, err, performance.now());
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}/`;
    return { url, close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
  }

  it('a throw before anything was sent: a 500 OCI JSON error without the message, and the server goes on', async () => {
    const s = await serve((res) => {
      res.setHeader('X-Half-Done', '1');
      throw new Error('secret internals at 10.0.0.7:5432');
    });
    try {
      for (let i = 0; i < 2; i++) {
        const r = await fetch(s.url);
        expect(r.status).toBe(500);
        expect(r.headers.get('content-type')).toMatch(/^application\/json/);
        expect(r.headers.get('x-content-type-options')).toBe('nosniff');
        expect(r.headers.get('x-half-done')).toBeNull();
        const text = await r.text();
        expect(JSON.parse(text).errors[0].code).toBe('UNKNOWN');
        expect(text).not.toContain('10.0.0.7');
      }
    } finally {
      await s.close();
    }
  });

  it('a throw after the head went out: the connection is cut (the client sees a broken transfer)', async () => {
    const s = await serve((res) => {
      res.writeHead(200, { 'Content-Length': '10' });
      res.write('12345');
      throw new Error('boom');
    });
    try {
      await expect(fetch(s.url).then((r) => r.text())).rejects.toThrow();
    } finally {
      await s.close();
    }
  });
});
