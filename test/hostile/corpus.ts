/**
 * The hostile corpus: requests an anonymous client (or a pusher with junk) can send, for
 * every route of the mirror. A fast-check arbitrary builds them from hostile parts — bad
 * percent-escapes, odd methods, huge and duplicate headers, bad names, digests and
 * references, junk bodies and Content-Type/Content-Range/Range headers — mixed with good
 * parts, so that requests reach deep into each handler (a good name with a bad digest, a
 * cached tag with a bad `?ns=`) and both the cached-manifest fast path and the full path.
 * HAND_LIST holds the cases found by hand (issue 7) that must stay covered whatever the seed.
 */
import fc from 'fast-check';
import type { RawRequest } from './raw-http.js';

/** What the corpus needs to know about the server's content. */
export interface CorpusContext {
  /** A mirrored repository whose `latest` tag is cached and fresh (the fast path answers it). */
  cachedRepo: string;
  /** A digest that exists (a layer of cachedRepo). */
  knownDigest: string;
  /** An upload session location (path) that exists in a local repository. */
  uploadPath: string;
  /** Authorization of a user who may push to `localRepo`. */
  pusher: string;
  localRepo: string;
}

const HEX64 = 'a'.repeat(64);

export const BAD_ESCAPES = ['%', '%2', '%zz', '%E0%A4%A', '%C0%AF', '%00', '%FF%FE', '%%', '%u0041', '%25%'];

const BAD_NAMES = [
  'Library/Alpine', 'UPPER', '..', 'a/../b', '../../etc/passwd', 'a'.repeat(300), `${'ab/'.repeat(100)}c`,
  'caf\u00e9', '%E2%9C%93', 'a%2Fb', 'a%2fb', 'a//b', '/a', 'a/', '-a', 'a.', 'a..b', 'a__-b', '_a', 'a b', 'a%20b',
  'a%00b', '.', '%2e%2e', 'a:b', 'a@b', '', 'x'.repeat(256),
];

const BAD_DIGESTS = [
  'sha256:short', `sha256:${HEX64.toUpperCase()}`, `sha256:${'g'.repeat(64)}`, 'sha512:junk', `sha512:${'a'.repeat(128)}`,
  'sha256:../..', 'sha256:..%2F..', 'sha256:', ':', 'sha256', `md5:${'a'.repeat(32)}`, `sha256:${HEX64}a`,
  `SHA256:${HEX64}`, `sha256+b64:${HEX64}`, `sha256:${'0'.repeat(64)}`, 'sha256:%00', `${'x'.repeat(200)}:${'y'.repeat(200)}`,
];

const BAD_REFS = [
  '.INVALID_MANIFEST_NAME', '-tag', 't'.repeat(129), 'a:b', '..', '%', '%zz', 'tag%00', 'ta g', 'tag%2F..', 'caf\u00e9',
  ...BAD_DIGESTS,
];

const ODD_METHODS = [
  'PROPFIND', 'TRACE', 'OPTIONS', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH', 'PURGE', 'LINK', 'UNLINK',
  'REPORT', 'M-SEARCH', 'get', 'Post', 'head', 'FOO', 'GETT', 'CONNECT',
];

const JUNK_VALUES = [
  '', ' ', 'null', 'undefined', '-1', '0', '1e309', 'NaN', '99999999999999999999999', '0x10', '=', '&&', '\u00ff\u00fe',
  'a'.repeat(5000), '<script>alert(1)</script>', '{"a":', ...BAD_ESCAPES,
];

const QUERY_KEYS = ['ns', 'n', 'last', 'digest', 'mount', 'from', 'artifactType', 'service', 'scope', 'account', 'x'];

/** Latin-1 only: header values travel as bytes; CR/LF would end the header, so they are out. */
const headerText = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 60 });

const junkValue = fc.oneof(fc.constantFrom(...JUNK_VALUES), headerText.map(encodeURIComponent), fc.constantFrom(...BAD_ESCAPES));

function nameArb(ctx: CorpusContext) {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(ctx.cachedRepo, ctx.cachedRepo, ctx.localRepo, 'library/alpine', 'alpine', 'team/other') },
    { weight: 3, arbitrary: fc.constantFrom(...BAD_NAMES) },
    { weight: 1, arbitrary: fc.stringMatching(/^[a-zA-Z0-9._%\/-]{0,40}$/) },
  );
}

function digestArb(ctx: CorpusContext) {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(ctx.knownDigest, ctx.knownDigest, `sha256:${HEX64}`) },
    { weight: 3, arbitrary: fc.constantFrom(...BAD_DIGESTS) },
    { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9+._%:-]{0,80}$/) },
  );
}

function refArb(ctx: CorpusContext) {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('latest', 'latest', 'v1', ctx.knownDigest) },
    { weight: 3, arbitrary: fc.constantFrom(...BAD_REFS) },
    { weight: 1, arbitrary: fc.stringMatching(/^[a-zA-Z0-9._%:-]{0,140}$/) },
  );
}

/** A path for every route; most with hostile parts, some with good ones (to reach deep). */
function pathArb(ctx: CorpusContext) {
  const name = nameArb(ctx);
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('/v2/', '/v2', '/v2/_catalog', '/auth/token', '/healthz', '/metrics', '/admin/stats', ctx.uploadPath) },
    // The cached fresh tag: the fast path, unless something else in the request sends it on.
    { weight: 3, arbitrary: fc.constant(`/v2/${ctx.cachedRepo}/manifests/latest`) },
    { weight: 4, arbitrary: fc.tuple(name, refArb(ctx)).map(([n, r]) => `/v2/${n}/manifests/${r}`) },
    { weight: 3, arbitrary: fc.tuple(name, digestArb(ctx)).map(([n, d]) => `/v2/${n}/blobs/${d}`) },
    { weight: 2, arbitrary: name.map((n) => `/v2/${n}/blobs/uploads/`) },
    { weight: 2, arbitrary: fc.tuple(name, fc.oneof(fc.constantFrom(...BAD_REFS), fc.uuid())).map(([n, id]) => `/v2/${n}/blobs/uploads/${id}`) },
    { weight: 2, arbitrary: name.map((n) => `/v2/${n}/tags/list`) },
    { weight: 2, arbitrary: fc.tuple(name, digestArb(ctx)).map(([n, d]) => `/v2/${n}/referrers/${d}`) },
    { weight: 1, arbitrary: fc.constantFrom('/', '/v2/../healthz', '/v2/%2e%2e/x', '//v2//', '/v2/_catalog/', '/admin', '/auth', '/favicon.ico', '/v1/_ping') },
    { weight: 1, arbitrary: fc.stringMatching(/^\/[\x21-\x7e]{0,80}$/).filter((p) => !p.includes('#')) },
  );
}

function queryArb() {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant('') },
    { weight: 2, arbitrary: fc.constantFrom('?ns=docker.io', '?ns=registry-1.docker.io', '?ns=', '?ns=ghcr.io', '?ns=%', '?ns=%zz&ns=%') },
    {
      weight: 3,
      arbitrary: fc.array(fc.tuple(fc.constantFrom(...QUERY_KEYS), junkValue), { minLength: 1, maxLength: 4 })
        .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`),
    },
    { weight: 1, arbitrary: fc.constantFrom('?', '??', '?&', '?=', '?=x', '?ns', '?%=%', '?n=1&n=2&n=x') },
  );
}

const CONTENT_TYPES = [
  'application/octet-stream', 'application/vnd.oci.image.manifest.v1+json', 'text/html', 'application/json; charset=%',
  'junk', '', 'multipart/form-data; boundary=', `application/${'x'.repeat(500)}`,
];
const RANGES = ['bytes=0-0', 'bytes=-0', 'bytes=5-1', 'bytes=0-0,1-2', 'bytes=99999999999999999999-', 'bytes=--1', 'items=0-1', 'bytes=0-'];
const CONTENT_RANGES = ['0-0', '5-1', '-1-2', 'bytes 0-2/3', '99999999999999999999-99999999999999999999', 'junk', '0-', '1-2/*', 'bytes=0-9007199254740993'];

function headersArb(ctx: CorpusContext) {
  const one = fc.oneof(
    fc.constantFrom(...CONTENT_TYPES).map((v) => ['Content-Type', v] as [string, string]),
    fc.constantFrom(...RANGES).map((v) => ['Range', v] as [string, string]),
    fc.constantFrom(...CONTENT_RANGES).map((v) => ['Content-Range', v] as [string, string]),
    fc.constantFrom(
      ctx.pusher, 'Basic !!!', 'Basic ', `Basic ${Buffer.from('alice').toString('base64')}`, `Basic ${Buffer.from(':').toString('base64')}`,
      'Bearer junk', 'Bearer ', 'Negotiate x', `Basic ${'A'.repeat(1000)}`,
    ).map((v) => ['Authorization', v] as [string, string]),
    fc.constantFrom('X-Forwarded-Host', 'X-Forwarded-Proto', 'Accept', 'Accept-Encoding', 'If-None-Match', 'Cookie')
      .chain((k) => headerText.map((v) => [k, v] as [string, string])),
    headerText.map((v) => ['X-Junk', v] as [string, string]),
  );
  return fc.oneof(
    { weight: 12, arbitrary: fc.array(one, { maxLength: 4 }) },
    // Duplicates of one header, and headers past Node's 16 KiB limit.
    { weight: 2, arbitrary: one.map((h) => [h, h, h]) },
    { weight: 1, arbitrary: fc.constant([['X-Huge', 'h'.repeat(20_000)] as [string, string]]) },
    { weight: 1, arbitrary: fc.constant(Array.from({ length: 200 }, (_, i) => [`X-Many-${i}`, 'v'] as [string, string])) },
  );
}

function bodyArb() {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '{}', '[]', 'null', '{"schemaVersion":2}', '{"schemaVersion":2,"mediaType":"text/html\\r\\nX: y"}',
        `${'['.repeat(5000)}${']'.repeat(5000)}`, '{"layers":[{"digest":"sha256:../.."}]}', '\u0000\u0001',
      ),
    },
  );
}

const methodArb = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE') },
  { weight: 1, arbitrary: fc.constantFrom(...ODD_METHODS) },
);

/** One hostile request. */
export function hostileRequest(ctx: CorpusContext): fc.Arbitrary<RawRequest> {
  return fc.record({
    method: methodArb,
    path: pathArb(ctx),
    query: queryArb(),
    headers: headersArb(ctx),
    body: bodyArb(),
  }).map(({ method, path, query, headers, body }) => ({ method, target: path + query, headers, body }));
}

/** The cases found by hand that every run must include. */
export function handList(ctx: CorpusContext): RawRequest[] {
  const cached = `/v2/${ctx.cachedRepo}/manifests/latest`;
  return [
    ...BAD_ESCAPES.flatMap((e) => [
      { method: 'GET', target: `/v2/?ns=${e}` },
      { method: 'GET', target: `${cached}?ns=${e}` },
      { method: 'HEAD', target: `${cached}?ns=${e}` },
      { method: 'GET', target: `/healthz?ns=${e}` },
      { method: 'GET', target: `/v2/${ctx.cachedRepo}/tags/list?n=${e}&last=${e}` },
      { method: 'GET', target: `/auth/token?scope=${e}&service=${e}` },
    ]),
    { method: 'GET', target: `/v2/${ctx.cachedRepo}/manifests/.INVALID_MANIFEST_NAME` },
    { method: 'GET', target: `/v2/${ctx.cachedRepo}/blobs/sha256:../..` },
    { method: 'GET', target: `/v2/${ctx.localRepo}/blobs/sha256:short` },
    { method: 'PROPFIND', target: cached },
    { method: 'TRACE', target: cached },
    { method: 'get', target: cached },
    { method: 'CONNECT', target: '127.0.0.1:22' },
    { method: 'OPTIONS', target: '*' },
    { method: 'GET', target: 'http://evil.example/v2/' },
    { method: 'GET', target: `http://user:pw@127.0.0.1${cached}` },
    { method: 'GET', target: cached, headers: [['X-Huge', 'h'.repeat(20_000)]] },
    { method: 'GET', target: cached, headers: [['Host', 'a'], ['Host', 'b']] },
    { method: 'GET', target: `/v2/${ctx.knownDigest}`, headers: [['Range', 'bytes=5-1']] },
    { method: 'GET', target: `/v2/${ctx.cachedRepo}/blobs/${ctx.knownDigest}`, headers: [['Range', 'bytes=99999999999999999999-']] },
    { method: 'PATCH', target: ctx.uploadPath, headers: [['Authorization', ctx.pusher], ['Content-Range', '5-1']], body: 'abc' },
    { method: 'PUT', target: `${ctx.uploadPath}?digest=sha256:../..`, headers: [['Authorization', ctx.pusher]], body: 'abc' },
    { method: 'PUT', target: `/v2/${ctx.localRepo}/manifests/v1`, headers: [['Authorization', ctx.pusher], ['Content-Type', 'text/html']], body: '[[[[' },
    { method: 'POST', target: `/v2/${ctx.localRepo}/blobs/uploads/?mount=sha256:../..`, headers: [['Authorization', ctx.pusher]] },
    { method: 'POST', target: `/v2/${ctx.localRepo}/blobs/uploads/?digest=${ctx.knownDigest}`, headers: [['Authorization', ctx.pusher]], body: 'not it' },
    { method: 'GET', target: `/v2/${'a/'.repeat(200)}a/manifests/latest` },
    { method: 'GET', target: `/v2/${ctx.cachedRepo}/manifests/latest?${'ns=docker.io&'.repeat(500)}` },
  ];
}
