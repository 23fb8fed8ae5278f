/**
 * A token server for Distribution's token auth, the way Docker Hub's
 * auth.docker.io works (see shared/PROTOCOL.md, "A real token-auth upstream").
 *
 * At startup it makes an RSA key and a self-signed certificate with the
 * `openssl` CLI; Distribution trusts CERT.pem (`auth.token.rootcertbundle`)
 * and finds the signing certificate in each JWT's `x5c` header.
 *
 * GET /token?service=S&scope=repository:NAME:pull,push (one `scope` per scope)
 * answers `{token, access_token, expires_in, issued_at}`. Anyone gets `pull`;
 * every other action (push, delete, *) only with Basic credentials of a known
 * user. Wrong credentials get 401, as on Docker Hub.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

export interface TokenServerOptions {
  /** `iss` claim; must equal Distribution's `auth.token.issuer`. */
  issuer?: string;
  /** Users allowed more than pull: name → password. Default `{ pusher: 'secret' }`. */
  users?: Record<string, string>;
  /** `expires_in` in seconds (default 300). */
  expiresIn?: number;
}

/** One access entry of a token, as Distribution reads it. */
export interface Access {
  type: string;
  name: string;
  actions: string[];
}

/** What the server saw on one token request. */
export interface TokenRequest {
  service: string | null;
  scopes: string[];
  /** The Basic user, or undefined for anonymous requests. */
  user: string | undefined;
  granted: Access[];
}

export interface TokenServer {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  readonly url: string;
  /** The realm to configure: `${url}/token` */
  readonly realm: string;
  readonly issuer: string;
  /** Path of the self-signed certificate (PEM) that verifies the tokens. */
  readonly certPath: string;
  readonly users: Readonly<Record<string, string>>;
  /** Every token request so far, oldest first. */
  readonly requests: TokenRequest[];
  /** How many token requests were answered (including 401s). */
  requestCount(): number;
  /** Sign a token directly, without HTTP (e.g. to hand a client a ready token). */
  issueToken(service: string, access: Access[], subject?: string): string;
  stop(): Promise<void>;
}

export const DEFAULT_ISSUER = 'registry-mirror-test-token-issuer';

export async function startTokenServer(options: TokenServerOptions = {}): Promise<TokenServer> {
  const issuer = options.issuer ?? DEFAULT_ISSUER;
  const users = options.users ?? { pusher: 'secret' };
  const expiresIn = options.expiresIn ?? 300;

  const dir = mkdtempSync(join(tmpdir(), 'token-server-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'CERT.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
    '-subj', '/CN=registry-mirror test token signer',
    '-keyout', keyPath, '-out', certPath,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  const key = createPrivateKey(readFileSync(keyPath));
  const certDer = new X509Certificate(readFileSync(certPath)).raw.toString('base64');

  const issueToken = (service: string, access: Access[], subject = ''): string =>
    signJwt(key, certDer, {
      iss: issuer, sub: subject, aud: service, access,
      ...timeClaims(expiresIn), jti: randomUUID(),
    });

  const requests: TokenRequest[] = [];
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' || url.pathname !== '/token') {
      return sendJson(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] });
    }
    const service = url.searchParams.get('service');
    const scopes = url.searchParams.getAll('scope');
    const creds = parseBasic(req.headers.authorization);
    const record: TokenRequest = { service, scopes, user: creds?.user, granted: [] };
    requests.push(record);
    if (creds && users[creds.user] !== creds.password) {
      res.setHeader('WWW-Authenticate', 'Basic realm="token"');
      return sendJson(res, 401, { details: 'incorrect username or password' });
    }
    record.granted = scopes.map(parseScope).filter((a): a is Access => a !== undefined)
      .map((a) => ({ ...a, actions: creds ? a.actions : a.actions.filter((x) => x === 'pull') }));
    const token = issueToken(service ?? '', record.granted, creds?.user ?? '');
    sendJson(res, 200, {
      token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString(),
    });
  };

  const server = createServer(handle);
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${port}`;

  return {
    url, realm: `${url}/token`, issuer, certPath, users, requests,
    requestCount: () => requests.length,
    issueToken,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `repository:library/alpine:pull,push` → {type, name, actions}; names may contain ':'. */
export function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope.slice(last + 1).split(',').filter(Boolean),
  };
}

function timeClaims(expiresIn: number): { iat: number; nbf: number; exp: number } {
  const now = Math.floor(Date.now() / 1000);
  // nbf a little in the past: Distribution allows little clock skew.
  return { iat: now, nbf: now - 10, exp: now + expiresIn };
}

function signJwt(key: KeyObject, certDer: string, claims: Record<string, unknown>): string {
  const header = { alg: 'RS256', typ: 'JWT', x5c: [certDer] };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

function b64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}

function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': bytes.length });
  res.end(bytes);
}
