/**
 * The ceiling for Node itself: a bare node:http server (its own process, like the
 * mirror) answering every request with the mirror's own manifest response, bytes and
 * headers. The mirror cannot beat it; the gap is what routing, lookups and bookkeeping cost.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../test/helpers/free-port.js';
import { spawnProcess, waitForHttp, type ProcessHandle } from '../test/helpers/processes.js';

/** Headers that belong to one connection or one moment, not to the response. */
const SKIP = new Set(['connection', 'keep-alive', 'date', 'transfer-encoding']);

const SERVER = `
const { readFileSync } = require('node:fs');
const { createServer } = require('node:http');
const body = readFileSync(process.env.BODY_FILE);
const headers = JSON.parse(process.env.HEADERS_JSON);
createServer((req, res) => { res.writeHead(200, headers); res.end(body); })
  .listen(Number(process.env.PORT), '127.0.0.1');
`;

export interface CapturedResponse {
  /** The body, written to a file (nginx serves the same file). */
  bodyFile: string;
  headers: Record<string, string>;
}

/** One GET of `url` (with `accept`), its body saved in `dir`. */
export async function captureResponse(url: string, accept: string, dir: string): Promise<CapturedResponse> {
  const res = await fetch(url, { headers: { accept } });
  if (res.status !== 200) throw new Error(`capturing ${url}: HTTP ${res.status}`);
  const bodyFile = join(dir, 'captured-body');
  writeFileSync(bodyFile, Buffer.from(await res.arrayBuffer()));
  return { bodyFile, headers: Object.fromEntries([...res.headers].filter(([k]) => !SKIP.has(k))) };
}

export interface NodeCeiling {
  url: string;
  process: ProcessHandle;
}

/** A bare node:http process answering every request with `response`. */
export async function startNodeCeiling(response: CapturedResponse): Promise<NodeCeiling> {
  const port = await freePort();
  const proc = spawnProcess('node:http ceiling', process.execPath, ['-e', SERVER], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin', BODY_FILE: response.bodyFile,
      HEADERS_JSON: JSON.stringify(response.headers), PORT: String(port),
    },
  });
  const url = `http://127.0.0.1:${port}/`;
  try {
    await waitForHttp(url, { process: proc, accept: (s) => s === 200 });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { url, process: proc };
}
