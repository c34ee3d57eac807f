/**
 * Per-user origins (`subdomainHost`, JupyterHub's subdomain_host), end to end with real parts: the
 * `labhub` CLI, LabHub's proxy and Debian's unmodified jupyterhub-singleuser. alice's servers live
 * at http://alice.hub.localhost:<port>/user/alice/…; the hub (and logins) at http://hub.localhost:<port>.
 * Nothing of alice's server is ever served on the hub's origin; the hub's cookies never reach
 * alice's host; bob cannot get in; a stopped server's host sends the browser to the hub. Checked
 * with a cookie-keeping HTTP client (every host name resolved to 127.0.0.1, as a wildcard DNS record
 * would) and in headless Chromium, which resolves *.localhost to loopback by itself.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser as Chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, loopbackFetch } from '../helpers/browser.js';
import { launchChromium } from '../helpers/chromium.js';
import { hubApi, hubToken, startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { testPort, testPortPair } from '../helpers/test-ports.js';
import { whoamiServiceYaml } from '../helpers/test-hub.js';

const browserAt = (base: string) => Browser.onLoopback(base);

describe('per-user subdomains with the real jupyterhub-singleuser', () => {
  let hub: HubProcess;
  let port: number;
  let hubOrigin: string;
  let aliceOrigin: string;
  let admin: string;
  let alice: string;
  const api = (token: string, method: string, path: string, body?: unknown) => hubApi(hub, token, method, path, body);
  const tokenFor = (user: string) => hubToken(hub, user);
  const loggedIn = (user: string) => Browser.loggedIn(browserAt(hubOrigin), user, `${user}-password-123`);
  const routes = async () => {
    const token = readFileSync(join(hub.dataDir, 'labhub_proxy_token'), 'utf8').trim();
    return (await (await fetch(`http://127.0.0.1:${port + 1}/api/routes`, { headers: { Authorization: `token ${token}` } })).json()) as Record<string, { target: string }>;
  };
  const waitReady = async (server: string) => {
    for (let i = 0; i < 150; i++) {
      const model = (await (await api(admin, 'GET', '/users/alice')).json()) as { servers: Record<string, { ready: boolean }> };
      if (model.servers[server]?.ready) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`alice's server '${server}' did not become ready`);
  };

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'labhub-subdomains-'));
    port = await testPortPair();
    hubOrigin = `http://hub.localhost:${port}`;
    aliceOrigin = `http://alice.hub.localhost:${port}`;
    const servicePort = await testPort();
    writeFileSync(
      join(dir, 'labhub.yaml'),
      [
        `subdomainHost: ${hubOrigin}`,
        'allowNamedServers: true',
        // JupyterHub's own HubOAuth client code as a hub-managed service (on the services' host)
        ...whoamiServiceYaml(servicePort),
        '',
      ].join('\n'),
    );
    hub = await startHubProcess({ port, args: ['--config', join(dir, 'labhub.yaml')], dataDir: join(dir, 'data') });
    admin = await tokenFor('admin');
    expect((await api(admin, 'POST', '/users', { usernames: ['alice', 'bob'] })).status).toBe(201);
    for (const u of ['alice', 'bob']) await api(admin, 'POST', `/users/${u}/password`, { password: `${u}-password-123` }).then(async (r) => expect(r.status, await r.text()).toBeLessThan(300));
    alice = await tokenFor('alice');
    expect([201, 202]).toContain((await api(alice, 'POST', '/users/alice/server')).status);
    await waitReady('');
  }, 90_000);

  afterAll(async () => {
    if (admin) for (const s of ['', 'dash']) await api(admin, 'DELETE', `/users/alice/servers/${s}`).catch(() => undefined);
    await hub?.stop();
  });

  it("routes the server on alice's host only, and the models give its full URL (JupyterHub 5 url/full_url)", async () => {
    const r = await routes();
    expect(r['/alice.hub.localhost/user/alice']).toMatchObject({ user: 'alice', server_name: '', jupyterhub: true });
    expect(r['/user/alice']).toBeUndefined();
    const model = (await (await api(admin, 'GET', '/users/alice')).json()) as { server: string; servers: Record<string, Record<string, unknown>> };
    expect(model.server).toBe(`${aliceOrigin}/user/alice/`);
    expect(model.servers['']).toMatchObject({
      url: `${aliceOrigin}/user/alice/`,
      full_url: `${aliceOrigin}/user/alice/`,
      progress_url: '/hub/api/users/alice/server/progress',
      full_progress_url: `${hubOrigin}/hub/api/users/alice/server/progress`,
    });
  });

  it("alice opens her server: OAuth through the hub's host, her server's cookie on her host only, no hub cookie there", async () => {
    const b = await loggedIn('alice');
    const page = await b.get(`${aliceOrigin}/user/alice/`);
    expect(page.status).toBe(200);
    const hosts = page.chain.map((u) => new URL(u).host);
    expect(hosts[0]).toBe(`alice.hub.localhost:${port}`);
    expect(page.chain.some((u) => u.startsWith(`${hubOrigin}/hub/api/oauth2/authorize`))).toBe(true);
    expect(page.chain.some((u) => u.startsWith(`${aliceOrigin}/user/alice/oauth_callback?code=`))).toBe(true);
    expect(new URL(page.url).host).toBe(`alice.hub.localhost:${port}`);
    const status = await b.get(`${aliceOrigin}/user/alice/api/status`);
    expect(status.status).toBe(200);
    expect(JSON.parse(status.text)).toHaveProperty('started');
    const onAlice = (await b.jar.getCookies(`${aliceOrigin}/user/alice/`)).map((c) => c.key);
    expect(onAlice).toContain('jupyterhub-user-alice');
    // the hub's login and session cookies stay on the hub's host: all host-only (no Domain=hub.localhost),
    // so alice's host sees only cookies of its own (here also the Jupyter server's _xsrf)
    const hubCookies = await b.jar.getCookies(`${hubOrigin}/hub/`);
    expect(hubCookies.length).toBeGreaterThan(0);
    expect(hubCookies.every((c) => c.hostOnly && c.domain === 'hub.localhost')).toBe(true);
    const seenByAlice = await b.jar.getCookies(`${aliceOrigin}/hub/`);
    expect(seenByAlice.every((c) => c.domain === 'alice.hub.localhost')).toBe(true);
    expect((await b.jar.getCookies(`${hubOrigin}/user/alice/`)).map((c) => c.key)).not.toContain('jupyterhub-user-alice');
  });

  it("the server's path on the hub's host only redirects to alice's host: nothing of hers is served on the hub's origin", async () => {
    const b = await loggedIn('alice');
    await b.get(`${aliceOrigin}/user/alice/`);
    const viaHub = await b.get(`${hubOrigin}/user/alice/api/status`);
    expect(viaHub.status).toBe(200);
    const firstOnAlice = viaHub.chain.findIndex((u) => u.startsWith(aliceOrigin));
    expect(firstOnAlice).toBeGreaterThan(0);
    // every hop before it was a redirect by the hub, never the server's answer
    expect(viaHub.chain.slice(0, firstOnAlice).every((u) => u.startsWith(hubOrigin))).toBe(true);
    expect(JSON.parse(viaHub.text)).toHaveProperty('started');
    // a path naming alice's host goes to the hub, not to her server
    const named = await b.get(`${hubOrigin}/alice.hub.localhost/user/alice/api/status`);
    expect(named.text).not.toContain('"started"');
  });

  it('bob is refused by the hub when he tries to reach alice\u2019s server on her host', async () => {
    const b = await loggedIn('bob');
    const r = await b.get(`${aliceOrigin}/user/alice/api/status`, { headers: { Accept: 'text/html' } });
    expect(r.status).toBe(403);
    expect(r.text).not.toContain('"started"');
    const tree = await b.get(`${aliceOrigin}/user/alice/`);
    expect(tree.status).toBe(403);
  });

  it("named servers share alice's host; the spawn page, home page and progress stream point there", async () => {
    expect([201, 202]).toContain((await api(alice, 'POST', '/users/alice/servers/dash')).status);
    await waitReady('dash');
    expect((await routes())['/alice.hub.localhost/user/alice/dash']).toMatchObject({ server_name: 'dash' });
    const b = await loggedIn('alice');
    const home = await b.get('/hub/home');
    expect(home.text).toContain(`${aliceOrigin}/user/alice/dash/`);
    // a running server's spawn page sends the browser straight to it, on alice's host
    const spawn = await b.get('/hub/spawn/alice/dash');
    expect(spawn.chain[1]).toBe(`${aliceOrigin}/user/alice/dash/`);
    const progress = await loopbackFetch(`${hubOrigin}/hub/api/users/alice/servers/dash/progress`, { headers: { Authorization: `token ${alice}` } });
    expect(await progress.text()).toContain(`"url":"${aliceOrigin}/user/alice/dash/"`);
    const dash = await b.get(`${aliceOrigin}/user/alice/dash/api/status`);
    expect(dash.status).toBe(200);
  });

  it("in headless Chromium: login at the hub's host, the server on alice's own origin, which cannot read the hub", async () => {
    let chromium: Chromium | undefined;
    try {
      chromium = await launchChromium();
      const page = await chromium.newPage();
      await page.goto(`${aliceOrigin}/user/alice/`);
      await page.waitForURL(/^http:\/\/hub\.localhost:\d+\/hub\/login/);
      await page.fill('#username', 'alice');
      await page.fill('#password', 'alice-password-123');
      await Promise.all([page.waitForURL(new RegExp(`^${aliceOrigin.replace(/\./g, '\\.')}/user/alice/`)), page.click('#login_submit')]);
      expect(await page.evaluate(() => location.origin)).toBe(aliceOrigin);
      // scripts on alice's origin cannot read hub pages: /hub/… there redirects to the hub's origin, which CORS blocks
      const read = await page.evaluate(() =>
        fetch('/hub/home', { credentials: 'include' }).then(
          (r) => `read ${r.status}`,
          () => 'blocked',
        ),
      );
      expect(read).toBe('blocked');
    } finally {
      await chromium?.close();
    }
  });

  it("services live on the services' host (as in JupyterHub): JupyterHub's HubOAuth service logs alice in through the hub's host", async () => {
    const serviceUrl = `http://services.hub.localhost:${port}/services/whoami/`;
    expect((await routes())['/services.hub.localhost/services/whoami']).toMatchObject({ service: 'whoami' });
    expect((await routes())['/services/whoami']).toBeUndefined();
    const b = await loggedIn('alice');
    let r = await b.get(serviceUrl);
    for (let i = 0; i < 50 && r.status >= 500; i++) {
      await new Promise((res) => setTimeout(res, 200)); // the managed service is still importing tornado
      r = await b.get(serviceUrl);
    }
    expect(r.status, r.text.slice(0, 300)).toBe(200);
    expect(JSON.parse(r.text)).toMatchObject({ name: 'alice' });
    expect(r.chain.some((u) => u.startsWith(`${hubOrigin}/hub/api/oauth2/authorize?client_id=service-whoami`))).toBe(true);
    expect(r.chain.some((u) => u.startsWith(`${serviceUrl}oauth_callback?code=`))).toBe(true);
    expect((await b.jar.getCookies(`http://services.hub.localhost:${port}/hub/`)).every((c) => c.domain === 'services.hub.localhost')).toBe(true);
    // 'services' is that host: no user gets it
    expect((await api(admin, 'POST', '/users', { usernames: ['services'] })).status).toBe(201);
    const refused = await api(admin, 'POST', '/users/services/server');
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { message: string }).message).toContain("'services' is the services' host");
  });

  it("a stopped server's host sends the browser to the hub, which offers to start it again", async () => {
    const stop = await api(alice, 'DELETE', '/users/alice/server');
    expect([202, 204]).toContain(stop.status);
    for (let i = 0; i < 50 && (await routes())['/alice.hub.localhost/user/alice']; i++) await new Promise((r) => setTimeout(r, 200));
    expect((await routes())['/alice.hub.localhost/user/alice']).toBeUndefined();
    const b = await loggedIn('alice');
    const r = await b.get(`${aliceOrigin}/user/alice/tree`, { headers: { Accept: 'text/html' } });
    expect(r.chain[1]).toBe(`${hubOrigin}/user/alice/tree`);
    expect(r.status).toBe(424);
    expect(new URL(r.url).host).toBe(`hub.localhost:${port}`);
    expect(r.text).toContain('/hub/spawn/alice');
  });
});
