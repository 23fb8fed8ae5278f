/**
 * HTTP/1.1 requests written byte for byte on a socket: the method, target and headers go
 * out exactly as given (lowercase methods, bad escapes, duplicate headers), which no HTTP
 * client library allows. `Connection: close`, so the answer is everything until EOF.
 */
import { connect } from 'node:net';

export interface RawRequest {
  method: string;
  target: string;
  /** Header lines in order; duplicates allowed. Host and Connection are added. */
  headers?: ReadonlyArray<readonly [string, string]>;
  body?: Buffer | string;
}

export interface RawResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

export function rawRequest(port: number, r: RawRequest, timeoutMs = 10_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer to ${r.method} ${r.target} within ${timeoutMs} ms`)));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err) => reject(new Error(`${r.method} ${r.target.slice(0, 200)}: ${err.message}`)));
    socket.on('close', () => {
      try {
        resolve(parseResponse(Buffer.concat(chunks), r.method));
      } catch (err) {
        reject(new Error(`${r.method} ${r.target.slice(0, 200)}: ${(err as Error).message}`));
      }
    });
    const body = r.body === undefined ? undefined : Buffer.from(r.body);
    const lines = [`${r.method} ${r.target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
    for (const [k, v] of r.headers ?? []) lines.push(`${k}: ${v}`);
    if (body && !(r.headers ?? []).some(([k]) => /^(content-length|transfer-encoding)$/i.test(k))) lines.push(`Content-Length: ${body.length}`);
    socket.write(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body ?? Buffer.alloc(0)]));
  });
}

function parseResponse(raw: Buffer, method: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no complete response head (${raw.length} bytes received)`);
  const [statusLine, ...headerLines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine!);
  if (!m) throw new Error(`bad status line: ${statusLine}`);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const i = line.indexOf(':');
    const k = line.slice(0, i).trim().toLowerCase();
    const v = line.slice(i + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  let body = raw.subarray(end + 4);
  if (method === 'HEAD') body = Buffer.alloc(0);
  else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  return { status: Number(m[1]), headers, body };
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', pos);
    if (eol === -1) break;
    const size = parseInt(b.subarray(pos, eol).toString('latin1'), 16);
    if (!size) break;
    out.push(b.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}
