/**
 * The in-process API the hub uses (createProxy / startProxy) and the features that only exist
 * in-process or beyond CHP: port 0, labhub_strip_prefix, proxyRequest header edits, runtime flags,
 * metrics names, TLS on both sides, http+unix targets, proxy timeouts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../proxy/log.js';
import { createProxy, startProxy, type StartedProxy } from '../../proxy/proxy.js';
import { openWs, rawGet, sleep, startBackend, wsRoundTrip, type Backend } from './helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'labhub-proxy-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('startProxy (what the hub calls)', () => {
  let backend: Backend;
  let started: StartedProxy;
  beforeAll(async () => {
    backend = await startBackend('inproc');
    started = await startProxy({ authToken: 'tok' });
  });
  afterAll(async () => {
    await started.close();
    await backend.close();
  });

  it('binds free loopback ports and reports URLs', async () => {
    expect(started.publicUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(started.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(started.publicUrl).not.toBe(started.apiUrl);
    const r = await fetch(`${started.apiUrl}/api/routes`, { headers: { Authorization: 'token tok' } });
    expect(await r.json()).toEqual({});
    expect((await fetch(`${started.apiUrl}/api/routes`)).status).toBe(403);
  });

  it('addRoute / targetForReq / removeRoute in-process', async () => {
    const p = started.proxy;
    await p.addRoute('/user/x/', { target: backend.url, user: 'x' });
    expect(await p.targetForReq({ url: '/user/x/lab?y=1' })).toEqual({ prefix: '/user/x', target: backend.url });
    expect(await p.targetForReq({ url: '/user/xy' })).toBeUndefined();
    const r = await rawGet(`${started.publicUrl}/user/x/lab`);
    expect(JSON.parse(r.body).url).toBe('/user/x/lab');
    await p.removeRoute('/user/x');
    expect((await rawGet(`${started.publicUrl}/user/x/lab`)).status).toBe(404);
  });

  it('labhub_strip_prefix forwards the path without the route prefix (per route)', async () => {
    const p = started.proxy;
    await p.addRoute('/services/app', { target: `${backend.url}/base`, labhub_strip_prefix: true });
    await p.addRoute('/services/keep', { target: backend.url });
    expect(JSON.parse((await rawGet(`${started.publicUrl}/services/app/x/y?q=1`)).body).url).toBe('/base/x/y?q=1');
    expect(JSON.parse((await rawGet(`${started.publicUrl}/services/app`)).body).url).toBe('/base');
    expect(JSON.parse((await rawGet(`${started.publicUrl}/services/app?q=2`)).body).url).toBe('/base?q=2');
    expect(JSON.parse((await rawGet(`${started.publicUrl}/services/keep/x`)).body).url).toBe('/services/keep/x');
    const { ws, first } = await openWs(`${started.publicUrl.replace('http', 'ws')}/services/app/sock`);
    expect(JSON.parse(first).url).toBe('/base/sock');
    ws.close();
  });

  it('close() ends open websocket tunnels instead of waiting for them', async () => {
    const backend2 = await startBackend('ws-close');
    const s = await startProxy({});
    await s.proxy.addRoute('/', { target: backend2.url });
    const { ws } = await openWs(`${s.publicUrl.replace('http', 'ws')}/x`);
    const closed = new Promise((r) => ws.once('close', r));
    const t0 = Date.now();
    await s.close();
    await closed;
    expect(Date.now() - t0).toBeLessThan(2000);
    await backend2.close();
  });

  it("runtime flags are read per request (CHP's tests flip them)", async () => {
    const p = started.proxy;
    await p.addRoute('/flip', { target: backend.url });
    p.includePrefix = false;
    expect(JSON.parse((await rawGet(`${started.publicUrl}/flip/a`)).body).url).toBe('/a');
    p.includePrefix = true;
    expect(JSON.parse((await rawGet(`${started.publicUrl}/flip/a`)).body).url).toBe('/flip/a');
  });

  it('proxyRequest listeners may edit request headers before dispatch', async () => {
    const p = started.proxy;
    await p.addRoute('/edit', { target: backend.url });
    const listener = (req: http.IncomingMessage) => {
      req.headers['x-edited'] = 'yes';
      delete req.headers['x-remove-me'];
    };
    p.on('proxyRequest', listener);
    const h = JSON.parse((await rawGet(`${started.publicUrl}/edit/a`, { 'X-Remove-Me': '1' })).body).headers;
    p.off('proxyRequest', listener);
    expect(h['x-edited']).toBe('yes');
    expect(h['x-remove-me']).toBeUndefined();
  });
});

describe('ProxyClient (proxy/client.ts) against LabHub in-process', () => {
  it('adds, reads, lists and deletes routes, including the root route', async () => {
    const { ProxyClient } = await import('../../proxy/client.js');
    const s = await startProxy({ authToken: 't' });
    try {
      const c = new ProxyClient({ apiUrl: s.apiUrl, authToken: 't' });
      await c.addRoute('/user/a@b/', { target: 'http://127.0.0.1:1', user: 'a@b' });
      await c.addRoute('/', { target: 'http://127.0.0.1:2', hub: true });
      expect((await c.getRoute('/user/a@b'))?.user).toBe('a@b');
      expect((await c.getRoute('/'))?.hub).toBe(true);
      expect(await c.getRoute('/user/nobody')).toBeNull();
      expect(Object.keys(await c.getAllRoutes()).sort()).toEqual(['/', '/user/a@b']);
      expect(Object.keys(await c.getAllRoutes(new Date(Date.now() + 1000))).length).toBe(2);
      await c.deleteRoute('/');
      await c.deleteRoute('/user/a@b');
      await c.deleteRoute('/user/a@b'); // 404 tolerated
      expect(await c.getAllRoutes()).toEqual({});
    } finally {
      await s.close();
    }
  });
});

describe('metrics', () => {
  it("serves CHP's metric names on the metrics port; other paths 404", async () => {
    const backend = await startBackend('m');
    const p = createProxy({ ip: '127.0.0.1', port: 0, apiIp: '127.0.0.1', apiPort: 0, metricsIp: '127.0.0.1', metricsPort: 0, enableMetrics: true, log: silentLogger });
    await p.listen();
    try {
      expect(p.metricsPort).toBeGreaterThan(0);
      await fetch(`http://127.0.0.1:${p.apiPort}/api/routes/r`, { method: 'POST', body: JSON.stringify({ target: backend.url }) });
      await rawGet(`http://127.0.0.1:${p.proxyPort}/r/x`);
      await rawGet(`http://127.0.0.1:${p.proxyPort}/nothing`);
      const { ws } = await openWs(`ws://127.0.0.1:${p.proxyPort}/r/ws`);
      ws.close();
      const text = await (await fetch(`http://127.0.0.1:${p.metricsPort}/metrics`)).text();
      for (const name of ['api_route_add', 'api_route_get', 'api_route_delete', 'requests_web', 'requests_ws', 'find_target_for_req', 'last_activity_updating', 'process_cpu_user_seconds_total']) {
        expect(text).toContain(`# TYPE ${name}`);
      }
      expect(text).toMatch(/requests_proxy\{status="200"\} 1/);
      expect(text).toMatch(/requests_proxy\{status="404"\} 1/);
      expect(text).toMatch(/requests_api\{status="201"\} 1/);
      expect(text).toMatch(/requests_web 2/);
      expect(text).toMatch(/requests_ws 1/);
      const other = await fetch(`http://127.0.0.1:${p.metricsPort}/other`);
      expect([other.status, await other.text()]).toEqual([404, 'Not Found']);
    } finally {
      await p.close();
      await backend.close();
    }
  });
});

describe('TLS, unix sockets and timeouts', () => {
  let key: Buffer;
  let cert: Buffer;
  beforeAll(() => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', path.join(tmp, 'k.pem'), '-out', path.join(tmp, 'c.pem')], {
      stdio: 'ignore',
    });
    key = fs.readFileSync(path.join(tmp, 'k.pem'));
    cert = fs.readFileSync(path.join(tmp, 'c.pem'));
  });

  it('TLS on the public port, an https target (with --insecure), x-forwarded-proto https', async () => {
    const target = https.createServer({ key, cert }, (req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ url: req.url, headers: req.headers }));
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const p = createProxy({ ip: '127.0.0.1', port: 0, apiIp: '127.0.0.1', apiPort: 0, ssl: { key, cert }, insecure: true, xfwd: true, log: silentLogger });
    await p.listen();
    try {
      await p.addRoute('/', { target: `https://127.0.0.1:${(target.address() as { port: number }).port}` });
      const body = await new Promise<string>((resolve, reject) => {
        https
          .get(`https://127.0.0.1:${p.proxyPort}/secure?x=1`, { rejectUnauthorized: false }, (res) => {
            let b = '';
            res.on('data', (d) => (b += d));
            res.on('end', () => resolve(b));
          })
          .on('error', reject);
      });
      const j = JSON.parse(body);
      expect(j.url).toBe('/secure?x=1');
      expect(j.headers['x-forwarded-proto']).toBe('https');
      expect(j.headers['x-forwarded-port']).toBe(String(p.proxyPort));
    } finally {
      await p.close();
      target.closeAllConnections();
      target.close();
    }
  });

  it('without --insecure an untrusted https target is a 503', async () => {
    const target = https.createServer({ key, cert }, (_req, res) => res.end('no'));
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const p = createProxy({ ip: '127.0.0.1', port: 0, apiIp: '127.0.0.1', apiPort: 0, log: silentLogger });
    await p.listen();
    try {
      await p.addRoute('/', { target: `https://127.0.0.1:${(target.address() as { port: number }).port}` });
      expect((await rawGet(`http://127.0.0.1:${p.proxyPort}/x`)).status).toBe(503);
    } finally {
      await p.close();
      target.close();
    }
  });

  it('http+unix:// targets (CHP 5.x)', async () => {
    const sock = path.join(tmp, 'target.sock');
    const target = http.createServer((req, res) => res.end(`unix ${req.url}`));
    await new Promise<void>((r) => target.listen(sock, r));
    const p = createProxy({ ip: '127.0.0.1', port: 0, apiIp: '127.0.0.1', apiPort: 0, log: silentLogger });
    await p.listen();
    try {
      await p.addRoute('/u', { target: `http+unix://${encodeURIComponent(sock)}` });
      expect((await rawGet(`http://127.0.0.1:${p.proxyPort}/u/x`)).body).toBe('unix /u/x');
    } finally {
      await p.close();
      target.close();
    }
  });

  it('--proxy-timeout: a target that never answers → 503, others unaffected', async () => {
    const backend = await startBackend('slow');
    const hang = http.createServer(() => {
      /* never answers */
    });
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    const p = createProxy({ ip: '127.0.0.1', port: 0, apiIp: '127.0.0.1', apiPort: 0, proxyTimeout: 200, log: silentLogger });
    await p.listen();
    try {
      await p.addRoute('/hang', { target: `http://127.0.0.1:${(hang.address() as { port: number }).port}` });
      await p.addRoute('/ok', { target: backend.url });
      const t0 = Date.now();
      const [slow, ok] = await Promise.all([rawGet(`http://127.0.0.1:${p.proxyPort}/hang/x`), rawGet(`http://127.0.0.1:${p.proxyPort}/ok/x`)]);
      expect(slow.status).toBe(503);
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(ok.status).toBe(200);
    } finally {
      await p.close();
      hang.closeAllConnections();
      hang.close();
      await backend.close();
    }
  });

  it('a store given as a backend module path is loaded before listen()', async () => {
    const backend = await startBackend('lazy');
    const p = createProxy({ ip: '127.0.0.1', port: 0, apiIp: '127.0.0.1', apiPort: 0, storageBackend: 'sqlite', storagePath: path.join(tmp, 'lazy.sqlite'), log: silentLogger, defaultTarget: backend.url });
    await p.listen();
    try {
      expect(p.routes.constructor.name).toBe('SqliteStore');
      const { ws } = await openWs(`ws://127.0.0.1:${p.proxyPort}/any`);
      expect(await wsRoundTrip(ws, 'x')).toBe('x');
      ws.close();
      await sleep(10);
    } finally {
      await p.close();
      await backend.close();
    }
  });
});

describe('storage backend failures', () => {
  it('a backend module that cannot be loaded fails listen(), not the process', async () => {
    const p = createProxy({ ip: '127.0.0.1', port: 0, apiPort: 0, storageBackend: './no-such-store.cjs', log: silentLogger });
    await sleep(50); // the load has failed by now; an unhandled rejection would fail this test run
    await expect(p.listen()).rejects.toThrow();
    await p.close();
  });

  it('labhub-proxy exits 1 with a message when --storage-backend cannot be loaded', async () => {
    const { startProxyProcess, ensureBuilt } = await import('./helpers.js');
    ensureBuilt();
    await expect(startProxyProcess('labhub', ['--storage-backend', './no-such-store.cjs'])).rejects.toThrow(/Failed to start/);
  });
});

describe('backpressure', () => {
  it('a client that stops reading pauses the upstream; the body arrives whole once it reads again', async () => {
    const CHUNK = Buffer.alloc(64 * 1024, 'b');
    const TOTAL = 96 * 1024 * 1024;
    let written = 0;
    const upstream = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': TOTAL });
      const pump = () => {
        while (written < TOTAL) {
          written += CHUNK.length;
          if (!res.write(CHUNK)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const started = await startProxy({});
    try {
      await started.proxy.addRoute('/big', { target: `http://127.0.0.1:${(upstream.address() as { port: number }).port}` });
      const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
        http.get(`${started.publicUrl}/big`, resolve).once('error', reject),
      );
      res.pause();
      await sleep(500);
      // socket buffers on three loopback connections hold a few MB; without backpressure the
      // proxy would have pulled the whole body into memory by now
      const whilePaused = written;
      expect(whilePaused).toBeLessThan(40 * 1024 * 1024);
      let received = 0;
      res.on('data', (c: Buffer) => (received += c.length));
      res.resume();
      await new Promise((r) => res.once('end', r));
      expect(received).toBe(TOTAL);
      expect(written).toBe(TOTAL);
    } finally {
      await started.close();
      await new Promise((r) => upstream.close(r));
    }
  }, 30_000);
});
