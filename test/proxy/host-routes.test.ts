/**
 * --host-route-domain (LabHub extension, shared ports on subdomains): requests for a host under
 * the domain reach only that host's routes; every other request is routed by path as before, and
 * a path naming a host route never reaches it. The route-login hand-over on a share's host trades
 * a one-time code for the route cookie. The hub side is a small stand-in here (the real hub runs
 * in test/ports/subdomain-ports.test.ts); the proxy is the real one, in-process and as the binary.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type StartedProxy } from '../../proxy/proxy.js';
import { ensureBuilt, openWs, rawGet, startBackend, startProxyProcess, TOKEN, type Backend } from './helpers.js';

const DOMAIN = 'apps.test';
const SHARE = `/8050--alice.${DOMAIN}`;

/** The hub's two answers to the proxy: who may pass (check) and which token a code stands for (exchange). */
async function startHubStandIn(): Promise<{ url: string; asked: string[]; close(): Promise<void> }> {
  const asked: string[] = [];
  const codes = new Map([['good-code', 'route-token-1']]);
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    asked.push(`${u.pathname} ${u.searchParams.get('route')}`);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== 'token tok') return send(403, { status: 403 });
    if (u.pathname === '/check') return send(req.headers['x-labhub-route-token'] === 'route-token-1' ? 200 : 401, {});
    if (u.pathname === '/exchange') {
      const token = codes.get(u.searchParams.get('code') ?? '');
      codes.delete(u.searchParams.get('code') ?? '');
      return token && u.searchParams.get('route') === SHARE ? send(200, { token }) : send(403, { status: 403 });
    }
    send(404, {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, asked, close: () => new Promise((r) => server.close(() => r())) };
}

describe('host routes under --host-route-domain (in-process)', () => {
  let hubApp: Backend;
  let app: Backend;
  let hub: Awaited<ReturnType<typeof startHubStandIn>>;
  let started: StartedProxy;
  let base: string;
  const get = (host: string, path: string, headers: Record<string, string> = {}) => rawGet(`${base}${path}`, { Host: host, ...headers });

  beforeAll(async () => {
    hubApp = await startBackend('hub');
    app = await startBackend('app');
    hub = await startHubStandIn();
    started = await startProxy({ authToken: 'tok', hostRouteDomain: 'Apps.Test' });
    base = started.publicUrl;
    const p = started.proxy;
    await p.addRoute('/', { target: hubApp.url });
    await p.addRoute(SHARE, { target: app.url, labhub_strip_prefix: true });
  });
  afterAll(async () => {
    await started.close();
    await Promise.all([hubApp.close(), app.close(), hub.close()]);
  });

  it("a share's host reaches its route (any case, any port in Host), with the full path", async () => {
    for (const host of [`8050--alice.${DOMAIN}`, `8050--ALICE.apps.TEST:${started.proxy.proxyPort}`]) {
      const r = await get(host, '/x/y?q=1');
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toMatchObject({ target: 'app', url: '/x/y?q=1' });
    }
  });

  it('a path naming the host route does not reach it: the default route gets the request unchanged', async () => {
    const r = await get('127.0.0.1', `${SHARE}/x`);
    expect(JSON.parse(r.body)).toMatchObject({ target: 'hub', url: `${SHARE}/x` });
    const upper = await get('127.0.0.1', `/8050--ALICE.${DOMAIN}/x`);
    expect(JSON.parse(upper.body).target).toBe('hub');
  });

  it('an unknown host under the domain gets 404, never the hub; other hosts route by path as before', async () => {
    const r = await get(`9999--bob.${DOMAIN}`, '/hub/login');
    expect(r.status).toBe(404);
    expect(hubApp.requests.some((q) => q.url === '/hub/login')).toBe(false);
    expect(JSON.parse((await get(DOMAIN, '/hub/login')).body).target).toBe('hub');
    expect(JSON.parse((await get('other.example', '/hub/login')).body).target).toBe('hub');
    expect(JSON.parse((await get(`x.${DOMAIN}.evil`, '/hub/login')).body).target).toBe('hub');
  });

  it('--host-route-fallback: a GET for a routed host without a route goes to the fallback origin, same path; other methods 404', async () => {
    const fb = await startProxy({ authToken: 'tok', hostRouteDomain: DOMAIN, hostRouteFallback: 'https://hub.apps.example' });
    try {
      await fb.proxy.addRoute('/', { target: hubApp.url });
      await fb.proxy.addRoute(`/alice.${DOMAIN}/user/alice`, { target: app.url });
      const get = await rawGet(`${fb.publicUrl}/user/alice/x?y=1`, { Host: `bob.${DOMAIN}` });
      expect(get.status).toBe(302);
      expect(get.headers.location).toBe('https://hub.apps.example/user/alice/x?y=1');
      // alice's host, a path outside her route: the same
      expect((await rawGet(`${fb.publicUrl}/hub/home`, { Host: `alice.${DOMAIN}` })).headers.location).toBe('https://hub.apps.example/hub/home');
      expect((await rawGet(`${fb.publicUrl}/user/alice/x`, { Host: `bob.${DOMAIN}` }, 'POST')).status).toBe(404);
      expect(JSON.parse((await rawGet(`${fb.publicUrl}/user/alice/x`, { Host: `alice.${DOMAIN}` })).body).target).toBe('app');
      // hosts outside the domain are routed by path as ever
      expect(JSON.parse((await rawGet(`${fb.publicUrl}/user/alice/x`, { Host: 'hub.apps.example' })).body).target).toBe('hub');
    } finally {
      await fb.close();
    }
  });

  it('the route-login hand-over lives under the route path on a server host (cookie path = route path)', async () => {
    const auth = { check: `${hub.url}/check`, login: 'http://hub.test/hub/routes/login', exchange: `${hub.url}/exchange`, version: 1 };
    const route = `/alice.${DOMAIN}/user/alice`;
    await started.proxy.addRoute(route, { target: app.url, labhub_auth: auth });
    // the stand-in hub only knows codes for SHARE: a code for this route is refused, and nothing reaches the app
    const refused = await get(`alice.${DOMAIN}`, '/user/alice/_labhub/route-login?code=unknown-code&next=/user/alice/');
    expect(refused.status).toBe(403);
    expect(hub.asked).toContain(`/exchange ${route}`);
    // /_labhub/route-login at the host's root is not this route's: no route → 404 (no fallback here)
    expect((await get(`alice.${DOMAIN}`, '/_labhub/route-login?code=x')).status).toBe(404);
    expect(app.requests.some((q) => q.url.includes('_labhub'))).toBe(false);
    await started.proxy.removeRoute(route);
  });

  it('websockets follow the same rules', async () => {
    const { ws, first } = await openWs(`${base.replace('http', 'ws')}/sock`, { Host: `8050--alice.${DOMAIN}` });
    expect(first).toContain('app');
    ws.close();
    await expect(openWs(`${base.replace('http', 'ws')}/sock`, { Host: `1--nobody.${DOMAIN}` })).rejects.toMatchObject({ status: 404 });
  });

  it('hub auth on a host route: log in at the hub, trade the one-time code for a host-only cookie, then pass', async () => {
    const auth = { check: `${hub.url}/check`, login: 'http://hub.test/hub/routes/login', exchange: `${hub.url}/exchange`, secure: true, version: 1 };
    await started.proxy.addRoute(SHARE, { target: app.url, labhub_strip_prefix: true, labhub_auth: auth });
    const host = `8050--alice.${DOMAIN}`;
    // no cookie: a browser is sent to the hub's host to log in, with the route and the path to return to
    const first = await get(host, '/page?x=1', { Accept: 'text/html' });
    expect(first.status).toBe(302);
    expect(first.headers.location).toBe(`http://hub.test/hub/routes/login?route=${encodeURIComponent(SHARE)}&next=${encodeURIComponent('/page?x=1')}`);
    // a wrong code: 403, no cookie
    const bad = await get(host, '/_labhub/route-login?code=forged&next=/page');
    expect(bad.status).toBe(403);
    expect(bad.headers['set-cookie']).toBeUndefined();
    // the right code: cookie for this host only (no Domain), HttpOnly, Secure; next must stay on this host
    const ok = await get(host, `/_labhub/route-login?code=good-code&next=${encodeURIComponent('//evil.example/x')}`);
    expect(ok.status).toBe(302);
    expect(ok.headers.location).toBe('/');
    const cookie = ok.headers['set-cookie']![0];
    expect(cookie).toMatch(/^labhub-route-auth=route-token-1; Path=\/; HttpOnly; SameSite=Lax; Secure$/);
    expect(hub.asked).toContain(`/exchange ${SHARE}`);
    // the code was single-use
    expect((await get(host, '/_labhub/route-login?code=good-code&next=/')).status).toBe(403);
    // with the cookie the app answers, and never sees the hub credential
    const page = await get(host, '/page', { Cookie: 'labhub-route-auth=route-token-1; theme=dark' });
    expect(page.status).toBe(200);
    const seen = JSON.parse(page.body) as { url: string; headers: Record<string, string> };
    expect(seen.url).toBe('/page');
    expect(seen.headers.cookie).toBe('theme=dark');
    // the hand-over path is the proxy's own on a host route: the app never gets it
    expect(app.requests.some((q) => q.url.startsWith('/_labhub/'))).toBe(false);
  });
});

describe('labhub-proxy --host-route-domain (the binary the hub starts in subprocess mode)', () => {
  it('routes by host under the domain and by path elsewhere', async () => {
    ensureBuilt();
    const hubApp = await startBackend('hub');
    const app = await startBackend('app');
    const proxy = await startProxyProcess('labhub', ['--default-target', hubApp.url, '--host-route-domain', DOMAIN]);
    try {
      const add = await fetch(`${proxy.apiUrl}/api/routes${SHARE}`, { method: 'POST', headers: { Authorization: `token ${TOKEN}` }, body: JSON.stringify({ target: app.url }) });
      expect(add.status).toBe(201);
      const byHost = await rawGet(`${proxy.url}/a`, { Host: `8050--alice.${DOMAIN}` });
      expect(JSON.parse(byHost.body)).toMatchObject({ target: 'app', url: '/a' });
      const byPath = await rawGet(`${proxy.url}${SHARE}/a`);
      expect(JSON.parse(byPath.body).target).toBe('hub');
      expect((await rawGet(`${proxy.url}/a`, { Host: `2--bob.${DOMAIN}` })).status).toBe(404);
    } finally {
      await proxy.stop();
      await Promise.all([hubApp.close(), app.close()]);
    }
  });
});
