/**
 * Upload sessions under hostile use (issue 7, findings 4 and 7): a refused or broken
 * PATCH leaves the upload exactly as it was; open uploads are bounded per user and in
 * total (429 with Retry-After); an open upload holds no file descriptor between requests.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLocalRegistry, ALICE, type LocalRegistry } from '../helpers/local-registry.js';
import { eventually, sha256, type OciClient } from '../helpers/oci-client.js';
import { request } from 'undici';

let reg: LocalRegistry;
let c: OciClient;
let n = 0;
const repo = () => `team/sessions-${++n}`;
const OCTET = { 'content-type': 'application/octet-stream' };

beforeAll(async () => {
  reg = await startLocalRegistry({ MIRROR_STORAGE_MAX_UPLOADS: '1000', MIRROR_STORAGE_MAX_UPLOADS_PER_USER: '1000' });
  c = reg.alice;
});
afterAll(async () => {
  await reg?.close();
});

const rangeOf = async (location: string) => (await c.call(location)).header('range');

/** PUTs ?digest= for the whole blob (no body) and checks the bytes served back. */
async function completes(name: string, location: string, bytes: Buffer) {
  const u = new URL(location);
  u.searchParams.set('digest', sha256(bytes));
  const put = await c.call(u.toString(), { method: 'PUT' });
  expect(put.status).toBe(201);
  const get = await c.call(`/v2/${name}/blobs/${sha256(bytes)}`);
  expect(get.status).toBe(200);
  expect(get.body.equals(bytes)).toBe(true);
}

describe('a refused PATCH leaves the upload as it was (finding 7)', () => {
  test('Content-Range shorter than the body: 400, the Range is unchanged, the upload still completes', async () => {
    const name = repo();
    const loc = await c.startUpload(name);
    const first = randomBytes(100);
    expect((await c.call(loc, { method: 'PATCH', headers: { ...OCTET, 'content-range': '0-99' }, body: first })).status).toBe(202);

    const bad = await c.call(loc, { method: 'PATCH', headers: { ...OCTET, 'content-range': '100-109' }, body: randomBytes(20) });
    expect(bad.status).toBe(400);
    expect(bad.codes()).toEqual(['SIZE_INVALID']);
    expect(await rangeOf(loc)).toBe('0-99');

    const second = randomBytes(50);
    expect((await c.call(loc, { method: 'PATCH', headers: { ...OCTET, 'content-range': '100-149' }, body: second })).status).toBe(202);
    await completes(name, loc, Buffer.concat([first, second]));
  });

  test('a chunked body longer than its Content-Range: 400, and none of its bytes are kept', async () => {
    const name = repo();
    const loc = await c.startUpload(name);
    const first = randomBytes(64);
    await c.call(loc, { method: 'PATCH', headers: OCTET, body: first });
    const res = await request(loc, {
      method: 'PATCH',
      headers: { ...OCTET, authorization: ALICE, 'content-range': '64-73' },
      body: Readable.from([randomBytes(8), randomBytes(8), randomBytes(8)]),
    });
    await res.body.dump();
    expect(res.statusCode).toBe(400);
    expect(await rangeOf(loc)).toBe('0-63');
    await completes(name, loc, first);
  });

  test('a chunk starting at the wrong offset: 416 with the current Range, nothing appended', async () => {
    const name = repo();
    const loc = await c.startUpload(name);
    const first = randomBytes(10);
    await c.call(loc, { method: 'PATCH', headers: OCTET, body: first });
    const bad = await c.call(loc, { method: 'PATCH', headers: { ...OCTET, 'content-range': '5-14' }, body: randomBytes(10) });
    expect(bad.status).toBe(416);
    expect(bad.header('range')).toBe('0-9');
    expect(await rangeOf(loc)).toBe('0-9');
    await completes(name, loc, first);
  });

  test('a client that disconnects mid-PATCH leaves no partial chunk behind', async () => {
    const name = repo();
    const loc = await c.startUpload(name);
    const first = randomBytes(32);
    await c.call(loc, { method: 'PATCH', headers: OCTET, body: first });
    const u = new URL(loc);
    const socket = connect(Number(u.port), u.hostname);
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(`PATCH ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: ${ALICE}\r\n`
      + 'Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n');
    socket.write(randomBytes(40_000));
    // Let the server write what it received before the connection goes.
    await new Promise((r) => setTimeout(r, 200));
    socket.destroy();
    // Once the server has noticed, the PATCH is over: the upload is free and back at 32 bytes.
    expect(await eventually(async () => (await rangeOf(loc)) === '0-31'
      && (await c.call(loc, { method: 'PATCH', headers: OCTET, body: Buffer.alloc(0) })).status === 202)).toBe(true);
    await completes(name, loc, first);
  });
});

describe('open uploads hold no file descriptor (finding 4)', () => {
  test('300 open uploads do not grow the process fd table', async () => {
    const name = repo();
    await c.startUpload(name); // warm: the client's connection and the index are open
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    for (let i = 0; i < 300; i++) await c.startUpload(name);
    const grown = fds() - before;
    expect(grown).toBeLessThan(20);
    expect(reg.mirror.tmpFiles().length).toBeGreaterThanOrEqual(300);
  });
});

describe('open uploads are bounded (finding 4)', () => {
  let limited: LocalRegistry;
  beforeAll(async () => {
    limited = await startLocalRegistry({ MIRROR_STORAGE_MAX_UPLOADS: '5', MIRROR_STORAGE_MAX_UPLOADS_PER_USER: '3' });
  });
  afterAll(async () => {
    await limited?.close();
  });

  test('beyond the per-user and the total limit: 429 TOOMANYREQUESTS with Retry-After; a finished upload frees its place', async () => {
    const { alice, bob } = limited;
    const mine = [];
    for (let i = 0; i < 3; i++) mine.push(await alice.startUpload('team/limits'));
    const refused = await alice.call('/v2/team/limits/blobs/uploads/', { method: 'POST' });
    expect(refused.status).toBe(429);
    expect(refused.codes()).toEqual(['TOOMANYREQUESTS']);
    expect(refused.json<{ errors: Array<{ message: string }> }>().errors[0]!.message).toMatch(/per-user limit/);
    expect(Number(refused.header('retry-after'))).toBeGreaterThan(0);

    // Another user still gets in, up to the total.
    await bob.startUpload('team/limits');
    await bob.startUpload('team/limits');
    const full = await bob.call('/v2/team/limits/blobs/uploads/', { method: 'POST' });
    expect(full.status).toBe(429);
    expect(full.json<{ errors: Array<{ message: string }> }>().errors[0]!.message).toMatch(/limit/);

    // Cancelling one and finishing another frees places.
    expect((await alice.call(mine[0]!, { method: 'DELETE' })).status).toBe(204);
    const bytes = randomBytes(10);
    const u = new URL(mine[1]!);
    u.searchParams.set('digest', sha256(bytes));
    expect((await alice.call(u.toString(), { method: 'PUT', headers: OCTET, body: bytes })).status).toBe(201);
    await alice.startUpload('team/limits');
    await alice.pushBlob('team/limits', randomBytes(5));
  });
});
