/**
 * Shared fixtures for the proxy tests: loopback backends (HTTP echo + websocket echo), free ports,
 * and a launcher that runs either LabHub's `labhub-proxy` (dist/proxy/main.js) or the real
 * configurable-http-proxy with the same command line.
 */
import { testPort } from '../helpers/test-ports.js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, WebSocket } from 'ws';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const LABHUB_BIN = path.join(ROOT, 'dist/proxy/main.js');
export const CHP_BIN = path.join(ROOT, 'node_modules/configurable-http-proxy/bin/configurable-http-proxy');
export const CHP_ERROR_DIR = path.join(ROOT, 'node_modules/configurable-http-proxy/lib/error');
export const TOKEN = 'secret';

/**
 * Compile proxy/ into dist/ when dist is missing or older than the sources (tests exercise the
 * real binary). Only proxy/ is compiled, so unrelated folders can't break these tests.
 */
export function ensureBuilt(): void {
  const srcDir = path.join(ROOT, 'proxy');
  const errDist = path.join(ROOT, 'dist/proxy/error');
  const fresh = () =>
    fs.existsSync(LABHUB_BIN) && fs.statSync(LABHUB_BIN).mtimeMs >= newestMtime(srcDir) && fs.existsSync(errDist);
  if (!fresh()) {
    // test files run in parallel workers: one builds, the others wait for it
    const lock = path.join(ROOT, 'dist/.proxy-build.lock');
    fs.mkdirSync(path.dirname(lock), { recursive: true });
    let mine = false;
    for (let i = 0; i < 1200 && !mine; i++) {
      try {
        fs.mkdirSync(lock);
        mine = true;
      } catch {
        if (fs.existsSync(lock) && Date.now() - fs.statSync(lock).mtimeMs > 120_000) fs.rmSync(lock, { recursive: true, force: true });
        execFileSync('sleep', ['0.1']);
      }
    }
    try {
      if (!fresh()) {
        execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'test/proxy/tsconfig.build-proxy.json')], {
          cwd: ROOT,
          stdio: 'inherit',
        });
        fs.cpSync(path.join(ROOT, 'proxy/error'), errDist, { recursive: true });
      }
    } finally {
      if (mine) fs.rmSync(lock, { recursive: true, force: true });
    }
  }
  // JupyterHub execs the file directly; `tsc` writes it without the executable bit
  fs.chmodSync(LABHUB_BIN, 0o755);
}

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

/** Ports named before the proxy binds them: see test/helpers/test-ports.ts for why not listen(0). */
export const freePort = (): Promise<number> => testPort();

export interface Backend {
  name: string;
  port: number;
  url: string;
  server: http.Server;
  wss: WebSocketServer;
  requests: { url: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

/**
 * A target like CHP's testutil addTarget: echoes {target, url, method, headers, body} as JSON.
 * `/status/NNN` answers NNN, `/redirect` answers 302, `/stream` sends a chunk and stalls,
 * `/die` sends headers + a chunk and then destroys the socket. Websockets: echo server.
 */
export async function startBackend(name = 'backend'): Promise<Backend> {
  const requests: Backend['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? '', headers: req.headers });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '';
      const st = /\/status\/(\d{3})/.exec(url);
      if (st) {
        res.writeHead(Number(st[1]), { 'Content-Type': 'text/plain' });
        res.end(`status ${st[1]}`);
        return;
      }
      if (url.includes('/redirect')) {
        res.writeHead(302, { Location: `http://127.0.0.1:${port}/redirected` });
        res.end();
        return;
      }
      if (url.includes('/die')) {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('partial');
        setTimeout(() => res.socket?.destroy(), 50);
        return;
      }
      if (url.includes('/stream')) {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('tick');
        return; // left open; closed by the test
      }
      const body = JSON.stringify({
        target: name,
        url,
        method: req.method,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'X-Backend': name,
        'Set-Cookie': ['a=1; Path=/', 'b=2; Path=/'],
      });
      res.end(body);
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    ws.send(JSON.stringify({ connected: name, url: req.url, headers: req.headers }));
    ws.on('message', (m, isBinary) => ws.send(m, { binary: isBinary }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    server,
    wss,
    requests,
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export type ImplName = 'labhub' | 'chp';

export interface RunningProxy {
  impl: ImplName;
  proc: ChildProcess;
  port: number;
  apiPort: number;
  url: string;
  apiUrl: string;
  output(): string;
  stop(): Promise<number | null>;
}

/** Start an implementation with CHP's command line; resolves once /_chp_healthz and the API answer. */
export interface StartOptions {
  /** replace the default --ip/--port/--api-ip/--api-port arguments */
  listenArgs?: string[];
  /** custom readiness probe (default: /_chp_healthz and /api/routes over plain HTTP) */
  ready?: (p: RunningProxy) => Promise<boolean>;
}

export async function startProxyProcess(
  impl: ImplName,
  extraArgs: string[] = [],
  env: Record<string, string | undefined> = { CONFIGPROXY_AUTH_TOKEN: TOKEN },
  opts: StartOptions = {},
): Promise<RunningProxy> {
  const port = await freePort();
  const apiPort = await freePort();
  const bin = impl === 'labhub' ? LABHUB_BIN : CHP_BIN;
  const listen = opts.listenArgs ?? ['--ip', '127.0.0.1', '--port', String(port), '--api-ip', '127.0.0.1', '--api-port', String(apiPort)];
  const proc = spawn(process.execPath, [bin, ...listen, ...extraArgs], {
    env: { ...process.env, ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const running: RunningProxy = {
    impl,
    proc,
    port,
    apiPort,
    url: `http://127.0.0.1:${port}`,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    output: () => out,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`${impl} exited early: ${out}`);
    if (opts.ready) {
      if (await opts.ready(running).catch(() => false)) return running;
      await sleep(50);
      continue;
    }
    try {
      const a = await fetch(`${running.url}/_chp_healthz`);
      await a.arrayBuffer();
      const b = await fetch(`${running.apiUrl}/api/routes`, { headers: { Authorization: `token ${TOKEN}` } });
      await b.arrayBuffer();
      if (a.status === 200) return running;
    } catch {
      /* not up yet */
    }
    await sleep(50);
  }
  await running.stop();
  throw new Error(`${impl} did not come up: ${out}`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Api {
  get(path?: string, headers?: Record<string, string>): Promise<Response>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  del(path: string, headers?: Record<string, string>): Promise<Response>;
  routes(query?: string): Promise<Record<string, Record<string, unknown>>>;
  add(path: string, data: Record<string, unknown>): Promise<void>;
}

export function api(apiUrl: string, token = TOKEN): Api {
  const auth = { Authorization: `token ${token}` };
  const a: Api = {
    get: (p = '', headers = auth) => fetch(`${apiUrl}/api/routes${p}`, { headers }),
    post: (p, body, headers = auth) =>
      fetch(`${apiUrl}/api/routes${p}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) }),
    del: (p, headers = auth) => fetch(`${apiUrl}/api/routes${p}`, { method: 'DELETE', headers }),
    async routes(query = '') {
      const r = await a.get(query);
      if (r.status !== 200) throw new Error(`GET routes: ${r.status}`);
      return (await r.json()) as Record<string, Record<string, unknown>>;
    },
    async add(p, data) {
      const r = await a.post(p, data);
      await r.arrayBuffer();
      if (r.status !== 201) throw new Error(`POST ${p}: ${r.status}`);
    },
  };
  return a;
}

/** Raw HTTP GET with full control over headers (fetch forbids Host). */
export function rawGet(
  url: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<{ status: number; headers: http.IncomingHttpHeaders; rawHeaders: string[]; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Open a websocket; resolves with the socket and its first message, or rejects with the HTTP status. */
export function openWs(url: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; first: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('message', (m) => resolve({ ws, first: m.toString() }));
    ws.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`unexpected response ${res.statusCode}`), { status: res.statusCode }));
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

export function wsRoundTrip(ws: WebSocket, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.once('message', (m) => resolve(m.toString()));
    ws.once('error', reject);
    ws.send(msg);
  });
}
