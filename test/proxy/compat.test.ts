/**
 * Black-box compatibility suite: every case runs against LabHub's `labhub-proxy` binary AND the
 * real configurable-http-proxy 5.3 (node_modules), started with the same command line, and asserts
 * the same observable behaviour (status, body, headers, route JSON, error pages, websockets,
 * last_activity rules). A case that passes for one implementation and fails for the other is a
 * compatibility bug.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  CHP_ERROR_DIR,
  ensureBuilt,
  freePort,
  openWs,
  rawGet,
  sleep,
  startBackend,
  startProxyProcess,
  wsRoundTrip,
  type Backend,
  type ImplName,
  type RunningProxy,
  type StartOptions,
} from './helpers.js';

let tls: { key: string; cert: string } | undefined;
function tlsFiles(): { key: string; cert: string } {
  if (tls) return tls;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-'));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  tls = { key, cert };
  return tls;
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate (CN labhub-proxy-client), all signed by the CA. */
let pkiCache: Record<'caCert' | 'serverKey' | 'serverCert' | 'clientKey' | 'clientCert' | 'encKey' | 'encCert', string> | undefined;
function pki() {
  if (pkiCache) return pkiCache;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pki-'));
  const f = (n: string) => path.join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=labhub test CA', '-keyout', f('ca.key'), '-out', f('ca.crt'));
  for (const [name, cn, ext] of [['server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1'], ['client', 'labhub-proxy-client', 'extendedKeyUsage=clientAuth']]) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    fs.writeFileSync(f(`${name}.ext`), `${ext}\n`);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f(`${name}.ext`), '-out', f(`${name}.crt`));
  }
  // a passphrase-protected key for the proxy's own TLS (CONFIGPROXY_SSL_KEY_PASSPHRASE)
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-days', '1', '-subj', '/CN=127.0.0.1', '-passout', 'pass:open-sesame', '-keyout', f('enc.key'), '-out', f('enc.crt'));
  pkiCache = { caCert: f('ca.crt'), serverKey: f('server.key'), serverCert: f('server.crt'), clientKey: f('client.key'), clientCert: f('client.crt'), encKey: f('enc.key'), encCert: f('enc.crt') };
  return pkiCache;
}

/** An HTTPS target that accepts only clients with a certificate from the test CA; echoes the client's CN. */
async function startMutualTlsBackend(): Promise<{ url: string; close(): Promise<void> }> {
  const k = pki();
  const server = https.createServer(
    { key: fs.readFileSync(k.serverKey), cert: fs.readFileSync(k.serverCert), ca: fs.readFileSync(k.caCert), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ url: req.url, clientCN: peer?.subject?.CN ?? null }));
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as import('node:net').AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

/** GET that resolves with how the response ended: complete, or cut off (with what arrived). */
function getOutcome(url: string): Promise<{ status: number; body: string; complete: boolean }> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, complete: res.complete }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body, complete: false }));
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, body, complete: false }));
    });
    req.on('error', () => resolve({ status: 0, body: '', complete: false }));
  });
}

function httpsGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { rejectUnauthorized: false, headers, agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

function unixRequest(socketPath: string, method: string, p: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: p, headers: { Host: 'localhost', ...headers }, agent: false }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const unixGet = (socketPath: string, p: string) => unixRequest(socketPath, 'GET', p);

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(25);
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const page = (name: string) => fs.readFileSync(path.join(CHP_ERROR_DIR, name), 'utf8');

beforeAll(() => ensureBuilt(), 120_000);

describe.each<ImplName>(['labhub', 'chp'])('%s', (impl) => {
  let backend: Backend;
  let other: Backend;
  let proxy: RunningProxy;
  const started: RunningProxy[] = [];
  const start = async (args: string[] = [], env?: Record<string, string | undefined>, opts?: StartOptions) => {
    const p = await startProxyProcess(impl, args, env, opts);
    started.push(p);
    return p;
  };

  beforeAll(async () => {
    backend = await startBackend('main');
    other = await startBackend('other');
    proxy = await start();
  }, 30_000);

  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop()));
    await backend?.close();
    await other?.close();
  });

  describe('REST API', () => {
    it('GET /api/routes on an empty table → 200 {} as JSON', async () => {
      const r = await api(proxy.apiUrl).get();
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/json');
      expect(await r.json()).toEqual({});
    });

    it('POST stores data verbatim + ISO last_activity; keys are normalised', async () => {
      const a = api(proxy.apiUrl);
      const r = await a.post('/user/alice/', { target: backend.url, user: 'alice', server_name: '', jupyterhub: true });
      expect(r.status).toBe(201);
      expect(await r.text()).toBe('');
      const one = await a.get('/user/alice');
      expect(one.status).toBe(200);
      expect(one.headers.get('content-type')).toBe('application/json');
      const data = (await one.json()) as Record<string, unknown>;
      expect(data).toMatchObject({ target: backend.url, user: 'alice', server_name: '', jupyterhub: true });
      expect(data.last_activity).toMatch(ISO);
      expect(Object.keys(data).sort()).toEqual(['jupyterhub', 'last_activity', 'server_name', 'target', 'user']);
      // 'user/alice' without the leading slash addresses the same key
      expect((await a.get('/user/alice/')).status).toBe(200);
      expect(Object.keys(await a.routes())).toContain('/user/alice');
      await a.del('/user/alice');
    });

    it('decodes %40 in the path: /user/b%40b is the route /user/b@b', async () => {
      const a = api(proxy.apiUrl);
      await a.add('/user/b%40b', { target: backend.url });
      expect(Object.keys(await a.routes())).toContain('/user/b@b');
      expect((await a.get('/user/b@b')).status).toBe(200);
      const del = await a.del('/user/b%40b');
      expect(del.status).toBe(204);
      expect(await del.text()).toBe('');
    });

    it('POST to /api/routes (no path) is the root route', async () => {
      const p = await start();
      const a = api(p.apiUrl);
      expect((await a.post('', { target: backend.url })).status).toBe(201);
      expect(Object.keys(await a.routes())).toEqual(['/']);
      const r = await rawGet(`${p.url}/anything`);
      expect(JSON.parse(r.body).url).toBe('/anything');
      await p.stop();
    });

    it('403 with an empty body without a token, with a wrong token, or with Bearer', async () => {
      const a = api(proxy.apiUrl);
      for (const headers of [{}, { Authorization: 'token nope' }, { Authorization: 'Bearer secret' }] as Record<string, string>[]) {
        const r = await a.get('', headers);
        expect(r.status).toBe(403);
        expect(await r.text()).toBe('');
      }
      const p = await a.post('/x', { target: backend.url }, {});
      expect(p.status).toBe(403);
      const d = await a.del('/x', {});
      expect(d.status).toBe(403);
      // the token regex is not anchored
      expect((await a.get('', { Authorization: `xtoken   ${'secret'}` })).status).toBe(200);
    });

    it('400 for invalid JSON — before the auth check — and for an empty body', async () => {
      const a = api(proxy.apiUrl);
      const bad = await a.post('/x', '{not json', {});
      expect(bad.status).toBe(400);
      expect(await bad.text()).toMatch(/^Body not valid JSON: SyntaxError: /);
      const empty = await a.post('/x', '');
      expect(empty.status).toBe(400);
      expect(await empty.text()).toBe('Body not valid JSON: SyntaxError: Unexpected end of JSON input');
    });

    it('a POSTed last_activity is replaced by the time of the POST', async () => {
      const a = api(proxy.apiUrl);
      const before = Date.now();
      expect((await a.post('/la', { target: backend.url, last_activity: '2001-01-01T00:00:00.000Z' })).status).toBe(201);
      const la = Date.parse(String((await a.routes())['/la'].last_activity));
      expect(la).toBeGreaterThanOrEqual(before - 1000);
      expect((await rawGet(`${proxy.url}/la/x`)).status).toBe(200);
      await a.del('/la');
    });

    it("400 when 'target' is not a string", async () => {
      const a = api(proxy.apiUrl);
      for (const body of [{}, { target: 5 }, null, [1]]) {
        const r = await a.post('/x', body);
        expect(r.status).toBe(400);
        expect(await r.text()).toBe("Must specify 'target' as string");
      }
      expect(Object.keys(await a.routes())).not.toContain('/x');
    });

    it('404 with an empty body for a missing route; DELETE twice → 204 then 404', async () => {
      const a = api(proxy.apiUrl);
      const g = await a.get('/nope');
      expect(g.status).toBe(404);
      expect(await g.text()).toBe('');
      // GET trims a trailing slash twice (CHP's getRoute and its store), so /%2F/ names the root route
      // (found by test/fuzz/proxy-differential)
      await a.add('/', { target: backend.url });
      expect((await a.get('/%2F/')).status).toBe(200);
      expect((await a.del('/')).status).toBe(204);
      await a.add('/gone', { target: backend.url });
      expect((await a.del('/gone')).status).toBe(204);
      const again = await a.del('/gone');
      expect(again.status).toBe(404);
      expect(await again.text()).toBe('');
    });

    it('405 for other methods on /api/routes, 404 "Not Found" elsewhere', async () => {
      const put = await fetch(`${proxy.apiUrl}/api/routes/x`, { method: 'PUT', headers: { Authorization: 'token secret' } });
      expect(put.status).toBe(405);
      expect(await put.text()).toBe('Method not supported');
      const other = await fetch(`${proxy.apiUrl}/api/other`, { headers: { Authorization: 'token secret' } });
      expect(other.status).toBe(404);
      expect(await other.text()).toBe('Not Found');
      const prefixOnly = await fetch(`${proxy.apiUrl}/api/routesx`, { headers: { Authorization: 'token secret' } });
      expect(prefixOnly.status).toBe(404);
    });

    it('inactive_since / inactiveSince filter, 400 on a bad date', async () => {
      const a = api(proxy.apiUrl);
      await a.add('/inactive', { target: backend.url });
      const bad = await a.get('?inactive_since=notadate');
      expect(bad.status).toBe(400);
      expect(await bad.text()).toBe("Invalid datestamp 'notadate' must be ISO8601.");
      const future = new Date(Date.now() + 60_000).toISOString();
      const past = new Date(Date.now() - 60_000).toISOString();
      expect(Object.keys(await a.routes(`?inactive_since=${future}`))).toContain('/inactive');
      expect(Object.keys(await a.routes(`?inactiveSince=${future}`))).toContain('/inactive');
      expect(Object.keys(await a.routes(`?inactive_since=${past}`))).not.toContain('/inactive');
      await a.del('/inactive');
    });

    it("the hub's ProxyClient (proxy/client.ts) works unchanged, including the root route", async () => {
      const { ProxyClient } = await import('../../proxy/client.js');
      const p = await start();
      const c = new ProxyClient({ apiUrl: p.apiUrl, authToken: 'secret', timeoutMs: 3000 });
      await c.addRoute('/', { target: backend.url, hub: true, jupyterhub: true });
      await c.addRoute('/user/a@b/', { target: other.url, user: 'a@b', server_name: '', jupyterhub: true });
      expect(Object.keys(await c.getAllRoutes()).sort()).toEqual(['/', '/user/a@b']);
      expect((await c.getRoute('/user/a@b'))?.user).toBe('a@b');
      expect((await c.getRoute('/'))?.hub).toBe(true);
      expect(await c.getRoute('/user/none')).toBeNull();
      await c.deleteRoute('/user/a@b');
      await c.deleteRoute('/');
      await c.deleteRoute('/user/a@b');
      expect(await c.getAllRoutes()).toEqual({});
      await p.stop();
    });

    it('re-POSTing a route replaces its data and resets last_activity', async () => {
      const a = api(proxy.apiUrl);
      await a.add('/re', { target: backend.url, extra: 1 });
      const first = (await a.routes())['/re'];
      await sleep(15);
      await a.add('/re', { target: other.url });
      const second = (await a.routes())['/re'];
      expect(second.extra).toBeUndefined();
      expect(second.target).toBe(other.url);
      expect(Date.parse(String(second.last_activity))).toBeGreaterThan(Date.parse(String(first.last_activity)));
      await a.del('/re');
    });
  });

  describe('routing', () => {
    beforeAll(async () => {
      const a = api(proxy.apiUrl);
      await a.add('/user/alice', { target: backend.url });
      await a.add('/user/alice/deeper', { target: other.url });
      await a.add('/dead', { target: 'http://127.0.0.1:1' });
      await a.add('/based', { target: `${backend.url}/base/` });
    });

    it('longest whole-segment prefix wins; the raw URL (with query) is forwarded', async () => {
      let r = await rawGet(`${proxy.url}/user/alice/x?a=1&b=%20`);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toMatchObject({ target: 'main', url: '/user/alice/x?a=1&b=%20' });
      r = await rawGet(`${proxy.url}/user/alice/deeper/y`);
      expect(JSON.parse(r.body)).toMatchObject({ target: 'other', url: '/user/alice/deeper/y' });
      r = await rawGet(`${proxy.url}/user/alice/deeperx`);
      expect(JSON.parse(r.body).target).toBe('main');
      r = await rawGet(`${proxy.url}/user/alice`);
      expect(JSON.parse(r.body).url).toBe('/user/alice');
      // an empty query is no query (WHATWG URL): the target sees no '?' (found by test/fuzz/proxy-differential)
      r = await rawGet(`${proxy.url}/user/alice/x?`);
      expect(JSON.parse(r.body).url).toBe('/user/alice/x');
    });

    it('no route → 404 with the built-in page; /user/alicex is not /user/alice', async () => {
      for (const p of ['/user/alicex', '/nothing/here']) {
        const r = await rawGet(`${proxy.url}${p}`);
        expect(r.status).toBe(404);
        expect(r.headers['content-type']).toBe('text/html');
        expect(r.body).toBe(page('404.html'));
      }
    });

    it('dead target → 503 with the built-in page', async () => {
      const r = await rawGet(`${proxy.url}/dead/x`);
      expect(r.status).toBe(503);
      expect(r.headers['content-type']).toBe('text/html');
      expect(r.body).toBe(page('503.html'));
    });

    it('a bad % escape → 500 with the generic error page', async () => {
      const r = await rawGet(`${proxy.url}/%`);
      expect(r.status).toBe(500);
      expect(r.body).toBe(page('error.html'));
    });

    it('an unusable target (not a URL, unknown scheme) → 500', async () => {
      const a = api(proxy.apiUrl);
      await a.add('/badtarget', { target: 'not a url' });
      await a.add('/ftptarget', { target: 'ftp://127.0.0.1:21' });
      for (const p of ['/badtarget/x', '/ftptarget/x']) {
        const r = await rawGet(`${proxy.url}${p}`);
        expect(r.status).toBe(500);
        expect(r.body).toBe(page('error.html'));
      }
      await a.del('/badtarget');
      await a.del('/ftptarget');
    });

    it('@ and %40 reach the same route; matching is case-sensitive', async () => {
      const a = api(proxy.apiUrl);
      await a.add('/user/c@d', { target: backend.url });
      expect((await rawGet(`${proxy.url}/user/c%40d/x`)).status).toBe(200);
      expect((await rawGet(`${proxy.url}/user/c@d/x`)).status).toBe(200);
      expect((await rawGet(`${proxy.url}/USER/c@d/x`)).status).toBe(404);
      await a.del('/user/c@d');
    });

    it('X-Forwarded-* are added (for/port/proto appended, host kept) and Host is unchanged', async () => {
      const r = await rawGet(`${proxy.url}/user/alice/xf`, {
        'X-Forwarded-For': '10.0.0.1',
        'X-Forwarded-Host': 'outer.example:443',
      });
      const h = JSON.parse(r.body).headers as Record<string, string>;
      expect(h.host).toBe(`127.0.0.1:${proxy.port}`);
      expect(h['x-forwarded-for']).toBe('10.0.0.1,127.0.0.1');
      expect(h['x-forwarded-port']).toBe(String(proxy.port));
      expect(h['x-forwarded-proto']).toBe('http');
      expect(h['x-forwarded-host']).toBe('outer.example:443');
      const plain = JSON.parse((await rawGet(`${proxy.url}/user/alice/xf`)).body).headers;
      expect(plain['x-forwarded-for']).toBe('127.0.0.1');
      expect(plain['x-forwarded-host']).toBe(`127.0.0.1:${proxy.port}`);
    });

    it('response status, headers (incl. repeated Set-Cookie) and redirects pass through unchanged', async () => {
      const r = await rawGet(`${proxy.url}/user/alice/h`);
      expect(r.headers['x-backend']).toBe('main');
      expect(r.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
      expect(r.headers['content-type']).toBe('application/json');
      const s = await rawGet(`${proxy.url}/user/alice/status/418`);
      expect(s.status).toBe(418);
      expect(s.body).toBe('status 418');
      const red = await rawGet(`${proxy.url}/user/alice/redirect`);
      expect(red.status).toBe(302);
      expect(red.headers.location).toBe(`${backend.url}/redirected`);
    });

    it('request bodies and methods are forwarded', async () => {
      const r = await fetch(`${proxy.url}/user/alice/post`, { method: 'POST', body: 'hello world', headers: { 'Content-Type': 'text/plain' } });
      const j = (await r.json()) as { method: string; body: string; headers: Record<string, string> };
      expect(j.method).toBe('POST');
      expect(j.body).toBe('hello world');
      expect(j.headers['content-type']).toBe('text/plain');
      const d = await fetch(`${proxy.url}/user/alice/del`, { method: 'DELETE' });
      expect(((await d.json()) as { method: string }).method).toBe('DELETE');
    });

    it("prependPath: the target's path is joined in front", async () => {
      const r = await rawGet(`${proxy.url}/based/x?q=1`);
      expect(JSON.parse(r.body).url).toBe('/base/based/x?q=1');
    });

    it('/_chp_healthz answers on the public port and is never proxied', async () => {
      const a = api(proxy.apiUrl);
      await a.add('/', { target: backend.url });
      const r = await rawGet(`${proxy.url}/_chp_healthz`);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('application/json');
      expect(JSON.parse(r.body)).toEqual({ status: 'OK' });
      await a.del('/');
    });

    it('keeps client connections alive', async () => {
      const r = await rawGet(`${proxy.url}/user/alice/ka`, { Connection: 'keep-alive' });
      expect(r.headers.connection).toBe('keep-alive');
    });
  });

  describe('last_activity', () => {
    const lastActivity = async (key: string) => Date.parse(String((await api(proxy.apiUrl).routes())[key].last_activity));

    it('is bumped by a 2xx response, not by 3xx/4xx/5xx or failed connections', async () => {
      const a = api(proxy.apiUrl);
      await a.add('/act', { target: backend.url });
      await a.add('/actdead', { target: 'http://127.0.0.1:1' });
      let t0 = await lastActivity('/act');
      await sleep(20);
      for (const p of ['/act/status/404', '/act/redirect', '/act/status/500']) {
        await rawGet(`${proxy.url}${p}`);
      }
      expect(await lastActivity('/act')).toBe(t0);
      const d0 = await lastActivity('/actdead');
      await rawGet(`${proxy.url}/actdead/x`);
      expect(await lastActivity('/actdead')).toBe(d0);
      await rawGet(`${proxy.url}/act/ok`);
      const t1 = await lastActivity('/act');
      expect(t1).toBeGreaterThan(t0);
      t0 = t1;
      await sleep(20);
      // websocket traffic counts
      const { ws } = await openWs(`ws://127.0.0.1:${proxy.port}/act/ws`);
      await sleep(20);
      await wsRoundTrip(ws, 'ping');
      ws.close();
      expect(await lastActivity('/act')).toBeGreaterThan(t0);
    });
  });

  describe('websockets', () => {
    it('echo through the proxy, with the same path and X-Forwarded headers', async () => {
      const a = api(proxy.apiUrl);
      await a.add('/wsroute', { target: backend.url });
      const { ws, first } = await openWs(`ws://127.0.0.1:${proxy.port}/wsroute/sock?x=1`);
      const hello = JSON.parse(first);
      expect(hello.connected).toBe('main');
      expect(hello.url).toBe('/wsroute/sock?x=1');
      expect(hello.headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(hello.headers['x-forwarded-proto']).toBe('ws');
      expect(hello.headers['x-forwarded-port']).toBe(String(proxy.port));
      expect(hello.headers['x-forwarded-host']).toBeUndefined();
      expect(await wsRoundTrip(ws, 'hello')).toBe('hello');
      const big = 'x'.repeat(200_000);
      expect(await wsRoundTrip(ws, big)).toBe(big);
      ws.close();
    });

    it('no route → 404, dead target → 503 (bare status line)', async () => {
      await expect(openWs(`ws://127.0.0.1:${proxy.port}/nows/here`)).rejects.toMatchObject({ status: 404 });
      await expect(openWs(`ws://127.0.0.1:${proxy.port}/dead/ws`)).rejects.toMatchObject({ status: 503 });
    });
  });

  describe('command-line variants', () => {
    it('--no-include-prefix / --no-prepend-path and their combination', async () => {
      const cases: [string[], string][] = [
        [[], '/base/tp/x?q=1'],
        [['--no-include-prefix'], '/base/x?q=1'],
        [['--no-prepend-path'], '/tp/x?q=1'],
        [['--no-include-prefix', '--no-prepend-path'], '/x?q=1'],
      ];
      for (const [args, expected] of cases) {
        const p = await start(args);
        await api(p.apiUrl).add('/tp', { target: `${backend.url}/base` });
        const r = await rawGet(`${p.url}/tp/x?q=1`);
        expect(JSON.parse(r.body).url, args.join(' ')).toBe(expected);
        await p.stop();
      }
    });

    it('--host-routing: the Host header is the first routing level; route data gets host', async () => {
      const p = await start(['--host-routing']);
      const a = api(p.apiUrl);
      await a.add('/alice.example.com', { target: backend.url });
      await a.add('/bob.example.com/sub', { target: other.url });
      expect((await a.routes())['/alice.example.com'].host).toBe('alice.example.com');
      let r = await rawGet(`${p.url}/some/path`, { Host: `alice.example.com:${p.port}` });
      expect(JSON.parse(r.body)).toMatchObject({ target: 'main', url: '/some/path' });
      r = await rawGet(`${p.url}/sub/x`, { Host: 'bob.example.com' });
      expect(JSON.parse(r.body)).toMatchObject({ target: 'other', url: '/sub/x' });
      r = await rawGet(`${p.url}/some/path`, { Host: 'carol.example.com' });
      expect(r.status).toBe(404);
      await p.stop();
    });

    it('--default-target adds the / route, listed by GET /api/routes', async () => {
      const p = await start(['--default-target', backend.url]);
      const routes = await api(p.apiUrl).routes();
      expect(routes['/'].target).toBe(backend.url);
      expect(String(routes['/'].last_activity)).toMatch(ISO);
      expect(JSON.parse((await rawGet(`${p.url}/any/where`)).body).url).toBe('/any/where');
      expect(p.output()).toContain(`Route added / -> ${backend.url}`);
      await p.stop();
    });

    it('--error-target: GET <target>/<code>?url=<escaped url>, original status kept', async () => {
      const seen: string[] = [];
      const errServer = http.createServer((req, res) => {
        seen.push(req.url ?? '');
        res.writeHead(200, { 'Content-Type': 'text/x-error' });
        res.end(`custom ${req.url}`);
      });
      await new Promise<void>((r) => errServer.listen(0, '127.0.0.1', r));
      const errUrl = `http://127.0.0.1:${(errServer.address() as { port: number }).port}/hub/error`;
      const p = await start(['--error-target', errUrl]);
      await api(p.apiUrl).add('/dead', { target: 'http://127.0.0.1:1' });
      let r = await rawGet(`${p.url}/foo?a=b`);
      expect(r.status).toBe(404);
      expect(r.headers['content-type']).toBe('text/x-error');
      expect(r.body).toBe('custom /hub/error/404?url=%2Ffoo%3Fa%3Db');
      r = await rawGet(`${p.url}/dead/x`);
      expect(r.status).toBe(503);
      expect(r.body).toBe('custom /hub/error/503?url=%2Fdead%2Fx');
      r = await rawGet(`${p.url}/%`);
      expect(r.status).toBe(500);
      expect(r.body).toBe('custom /hub/error/500?url=%2F%25');
      await p.stop();
      errServer.closeAllConnections();
      await new Promise((r2) => errServer.close(r2));
    });

    it('--error-path: <code>.html, else error.html', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'errpages-'));
      fs.writeFileSync(path.join(dir, '404.html'), '<p>custom 404</p>');
      fs.writeFileSync(path.join(dir, 'error.html'), '<p>custom error</p>');
      const p = await start(['--error-path', dir]);
      await api(p.apiUrl).add('/dead', { target: 'http://127.0.0.1:1' });
      let r = await rawGet(`${p.url}/missing`);
      expect([r.status, r.headers['content-type'], r.body]).toEqual([404, 'text/html', '<p>custom 404</p>']);
      r = await rawGet(`${p.url}/dead/x`);
      expect([r.status, r.body]).toEqual([503, '<p>custom error</p>']);
      await p.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('--custom-header is added to proxied requests; --no-x-forward drops X-Forwarded-*', async () => {
      const p = await start(['--custom-header', ' X-Custom : yes ', '--custom-header', 'X-Two:2', '--no-x-forward']);
      await api(p.apiUrl).add('/', { target: backend.url });
      const h = JSON.parse((await rawGet(`${p.url}/h`)).body).headers;
      expect(h['x-custom']).toBe('yes');
      expect(h['x-two']).toBe('2');
      expect(h['x-forwarded-for']).toBeUndefined();
      await p.stop();
    });

    it('--change-origin sets Host to the target; --auto-rewrite rewrites Location', async () => {
      const p = await start(['--change-origin', '--auto-rewrite']);
      await api(p.apiUrl).add('/', { target: backend.url });
      const h = JSON.parse((await rawGet(`${p.url}/h`)).body).headers;
      expect(h.host).toBe(`127.0.0.1:${backend.port}`);
      const red = await rawGet(`${p.url}/redirect`, { Host: 'public.example:8443' });
      expect(red.headers.location).toBe('http://public.example:8443/redirected');
      await p.stop();
    });

    it('without CONFIGPROXY_AUTH_TOKEN the API is open and says so', async () => {
      const p = await start([], { CONFIGPROXY_AUTH_TOKEN: '' });
      expect((await fetch(`${p.apiUrl}/api/routes`)).status).toBe(200);
      expect(p.output()).toContain('REST API is not authenticated.');
      await p.stop();
    });

    it('prints the startup lines and exits with 2 on SIGTERM', async () => {
      const p = await start();
      expect(p.output()).toMatch(/Proxying http:\/\/\S+ to \(no default\)/);
      expect(p.output()).toMatch(/Proxy API at http:\/\/\S+\/api\/routes/);
      expect(await p.stop()).toBe(2);
      expect(p.output()).toContain('Terminated');
    });

    it('--keep-alive-timeout is announced to clients (documented difference)', async () => {
      const p = await start(['--keep-alive-timeout', '7000']);
      await api(p.apiUrl).add('/', { target: backend.url });
      const r = await rawGet(`${p.url}/ka`, { Connection: 'keep-alive' });
      // Keep-Alive is hop-by-hop: LabHub announces its own timeout; CHP copies the upstream's
      // header (the Node backend's default timeout=5) although it keeps the connection for 7 s.
      expect(r.headers['keep-alive']).toBe(impl === 'labhub' ? 'timeout=7' : 'timeout=5');
      await p.stop();
    });

    it('--ssl-key/--ssl-cert with --redirect-port: HTTPS proxy, HTTP answers 301 to https', async () => {
      const { key, cert } = tlsFiles();
      const redirectPort = await freePort();
      const p = await start(['--ssl-key', key, '--ssl-cert', cert, '--redirect-port', String(redirectPort)], undefined, {
        ready: async (rp) => (await httpsGet(`https://127.0.0.1:${rp.port}/_chp_healthz`)).status === 200,
      });
      await api(p.apiUrl).add('/', { target: backend.url });
      const r = await httpsGet(`https://127.0.0.1:${p.port}/secure/x`);
      expect(JSON.parse(r.body)).toMatchObject({ url: '/secure/x' });
      expect(JSON.parse(r.body).headers['x-forwarded-proto']).toBe('https');
      await until(() => p.output().includes(`Added HTTP to HTTPS redirection from ${redirectPort} to ${p.port}`));
      const red = await rawGet(`http://127.0.0.1:${redirectPort}/a/b?c=d`, { Host: 'hub.example:80' });
      expect(red.status).toBe(301);
      expect(red.headers.location).toBe(`https://hub.example:${p.port}/a/b?c=d`);
      expect(p.output()).toMatch(/Proxying https:\/\//);
      await p.stop();
    });

    it('--redirect-port without certificates exits 1', async () => {
      await expect(startProxyProcess(impl, ['--redirect-port', '1'])).rejects.toThrow(/HTTPS redirection specified but certificates not provided/);
    });

    it('--api-ssl-key/--api-ssl-cert: the REST API over TLS', async () => {
      const { key, cert } = tlsFiles();
      const p = await start(['--api-ssl-key', key, '--api-ssl-cert', cert], undefined, {
        ready: async (rp) => (await httpsGet(`https://127.0.0.1:${rp.apiPort}/api/routes`, { Authorization: 'token secret' })).status === 200,
      });
      expect(p.output()).toMatch(/Proxy API at https:\/\//);
      const r = await httpsGet(`https://127.0.0.1:${p.apiPort}/api/routes`, { Authorization: 'token secret' });
      expect([r.status, r.body]).toEqual([200, '{}']);
      await p.stop();
    });

    it('--socket / --api-socket: listening on unix sockets', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sock-'));
      const sock = path.join(dir, 'proxy.sock');
      const apiSock = path.join(dir, 'api.sock');
      const p = await start([], undefined, {
        listenArgs: ['--socket', sock, '--api-socket', apiSock],
        ready: async () => (await unixGet(sock, '/_chp_healthz')).status === 200,
      });
      const add = await unixRequest(apiSock, 'POST', '/api/routes/u', { Authorization: 'token secret' }, JSON.stringify({ target: backend.url }));
      expect(add.status).toBe(201);
      const r = await unixGet(sock, '/u/x');
      expect(JSON.parse(r.body).url).toBe('/u/x');
      await p.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('--redirect-to: the HTTP redirect names that port instead of the proxy port', async () => {
      const { key, cert } = tlsFiles();
      const redirectPort = await freePort();
      const p = await start(['--ssl-key', key, '--ssl-cert', cert, '--redirect-port', String(redirectPort), '--redirect-to', '8443'], undefined, {
        ready: async (rp) => (await httpsGet(`https://127.0.0.1:${rp.port}/_chp_healthz`)).status === 200,
      });
      await until(() => p.output().includes(`Added HTTP to HTTPS redirection from ${redirectPort} to 8443`));
      expect(p.output()).toContain(`Added HTTP to HTTPS redirection from ${redirectPort} to 8443`);
      const red = await rawGet(`http://127.0.0.1:${redirectPort}/hub/login?next=%2Fx`, { Host: 'hub.example' });
      expect(red.status).toBe(301);
      expect(red.headers.location).toBe('https://hub.example:8443/hub/login?next=%2Fx');
      await p.stop();
    });

    it('CONFIGPROXY_SSL_KEY_PASSPHRASE / CONFIGPROXY_API_SSL_KEY_PASSPHRASE unlock encrypted keys', async () => {
      const k = pki();
      const p = await start(['--ssl-key', k.encKey, '--ssl-cert', k.encCert], { CONFIGPROXY_AUTH_TOKEN: 'secret', CONFIGPROXY_SSL_KEY_PASSPHRASE: 'open-sesame' }, {
        ready: async (rp) => (await httpsGet(`https://127.0.0.1:${rp.port}/_chp_healthz`)).status === 200,
      });
      await api(p.apiUrl).add('/', { target: backend.url });
      expect(JSON.parse((await httpsGet(`https://127.0.0.1:${p.port}/enc`)).body)).toMatchObject({ url: '/enc' });
      await p.stop();
      // and CONFIGPROXY_API_SSL_KEY_PASSPHRASE for the REST API's key
      const a = await start(['--api-ssl-key', k.encKey, '--api-ssl-cert', k.encCert], { CONFIGPROXY_AUTH_TOKEN: 'secret', CONFIGPROXY_API_SSL_KEY_PASSPHRASE: 'open-sesame' }, {
        ready: async (rp) => (await httpsGet(`https://127.0.0.1:${rp.apiPort}/api/routes`, { Authorization: 'token secret' })).status === 200,
      });
      expect(await httpsGet(`https://127.0.0.1:${a.apiPort}/api/routes`, { Authorization: 'token secret' })).toEqual({ status: 200, body: '{}' });
      await a.stop();
      // without it the key cannot be read and the proxy does not come up
      await expect(startProxyProcess(impl, ['--ssl-key', k.encKey, '--ssl-cert', k.encCert], { CONFIGPROXY_AUTH_TOKEN: 'secret' }, {
        ready: async (rp) => (await httpsGet(`https://127.0.0.1:${rp.port}/_chp_healthz`)).status === 200,
      })).rejects.toThrow();
    });

    it('--client-ssl-key/--client-ssl-cert/--client-ssl-ca: the proxy shows its certificate to an HTTPS target that requires one, and verifies the target', async () => {
      const k = pki();
      const target = await startMutualTlsBackend();
      try {
        const p = await start(['--client-ssl-key', k.clientKey, '--client-ssl-cert', k.clientCert, '--client-ssl-ca', k.caCert]);
        await api(p.apiUrl).add('/', { target: target.url });
        const r = await rawGet(`${p.url}/mtls/x`);
        expect(r.status).toBe(200);
        expect(JSON.parse(r.body)).toEqual({ url: '/mtls/x', clientCN: 'labhub-proxy-client' });
        await p.stop();
        // only the CA (no client certificate): the target refuses the handshake → 503
        const noCert = await start(['--client-ssl-ca', k.caCert]);
        await api(noCert.apiUrl).add('/', { target: target.url });
        expect((await rawGet(`${noCert.url}/mtls/x`)).status).toBe(503);
        await noCert.stop();
        // a client certificate but no CA for the target's certificate: verification fails → 503
        const noCa = await start(['--client-ssl-key', k.clientKey, '--client-ssl-cert', k.clientCert]);
        await api(noCa.apiUrl).add('/', { target: target.url });
        expect((await rawGet(`${noCa.url}/mtls/x`)).status).toBe(503);
        await noCa.stop();
      } finally {
        await target.close();
      }
    });

    it('--protocol-rewrite rewrites the scheme of redirects to the target (with --auto-rewrite also the host)', async () => {
      const p = await start(['--protocol-rewrite', 'https']);
      await api(p.apiUrl).add('/', { target: backend.url });
      expect(p.output()).toContain('ProtocolRewrite enabled. Rewriting to https');
      const red = await rawGet(`${p.url}/redirect`, { Host: 'public.example:8443' });
      expect(red.status).toBe(302);
      expect(red.headers.location).toBe(`https://127.0.0.1:${backend.port}/redirected`);
      await p.stop();
      const both = await start(['--protocol-rewrite', 'https', '--auto-rewrite']);
      await api(both.apiUrl).add('/', { target: backend.url });
      expect((await rawGet(`${both.url}/redirect`, { Host: 'public.example:8443' })).headers.location).toBe('https://public.example:8443/redirected');
      await both.stop();
    });

    it('--timeout drops a client connection that stays silent that long; other requests are unaffected', async () => {
      const p = await start(['--timeout', '300']);
      await api(p.apiUrl).add('/', { target: backend.url });
      // /stream sends headers and one chunk, then nothing: the proxy cuts the connection
      const cut = await getOutcome(`${p.url}/stream`);
      expect(cut).toMatchObject({ status: 200, body: 'tick', complete: false });
      const ok = await getOutcome(`${p.url}/fine`);
      expect(ok.complete).toBe(true);
      expect(JSON.parse(ok.body).url).toBe('/fine');
      await p.stop();
    });

    it('--metrics-socket: Prometheus metrics on a unix socket', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'msock-'));
      const sock = path.join(dir, 'metrics.sock');
      const p = await start(['--metrics-socket', sock]);
      await api(p.apiUrl).add('/', { target: backend.url });
      await rawGet(`${p.url}/counted`);
      await until(() => fs.existsSync(sock));
      const m = await unixGet(sock, '/metrics');
      expect(m.status).toBe(200);
      expect(m.body).toMatch(/^requests_proxy\{status="200"\} [1-9]/m);
      expect(m.body).toMatch(/^requests_api\{status="201"\} 1$/m);
      await p.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('an invalid --custom-header exits 1 with "A colon was expected"', async () => {
      await expect(startProxyProcess(impl, ['--custom-header', 'nocolon'])).rejects.toThrow(/A colon was expected in custom header: nocolon/);
    });

    it('--error-target together with --error-path exits 1', async () => {
      await expect(startProxyProcess(impl, ['--error-target', 'http://127.0.0.1:1', '--error-path', '/tmp'])).rejects.toThrow(
        /Cannot specify both error-target and error-path/,
      );
    });
  });
});
