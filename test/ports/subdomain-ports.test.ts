/**
 * Shared ports on subdomains (`subdomainHost`), end to end: the real labhub CLI with LabHub's
 * proxy, a tiny HTTP + WebSocket app in alice's server. A share lives at
 * http://<port>--alice.hub.localhost:<port>/ — its own origin — and nowhere else: not at its
 * path, not through the hub's host. Logging in happens at the hub's host, and a one-time code
 * carries the login to the share's host, where the proxy sets a host-only cookie. Checked with a
 * cookie-keeping HTTP client (host names resolved to 127.0.0.1) and in headless Chromium, which
 * resolves *.localhost to loopback by itself.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser as Chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Browser, loopbackFetch } from '../helpers/browser.js';
import { launchChromium } from '../helpers/chromium.js';
import { hubApi, hubToken, startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { testPort, testPortPair } from '../helpers/test-ports.js';
import { FAKE_SINGLEUSER, isExtraApp } from '../helpers/test-hub.js';
import { wsPingOnce } from '../helpers/ws-echo.js';

const browserAt = (base: string) => Browser.onLoopback(base);

describe('shared ports on subdomains', () => {
  let hub: HubProcess;
  let port: number;
  let hubHost: string;
  let appPort: number;
  let admin: string;
  let alice: string;
  let shareUrl: string;
  const api = (token: string, method: string, path: string, body?: unknown) => hubApi(hub, token, method, path, body);
  const tokenFor = (user: string) => hubToken(hub, user);
  const loggedIn = (user: string) => Browser.loggedIn(browserAt(hubHost), user, `${user}-password-123`);

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'labhub-subports-'));
    port = await testPortPair();
    hubHost = `http://hub.localhost:${port}`;
    appPort = await testPort();
    writeFileSync(
      join(dir, 'labhub.yaml'),
      [
        `subdomainHost: ${hubHost}`,
        'spawner:',
        '  kind: local',
        `  cmd: [${process.execPath}, ${FAKE_SINGLEUSER}]`,
        `  environment: { FAKE_EXTRA_APP_PORT: "${appPort}" }`,
        // the server itself is an app without its own login (like code-server): the proxy asks the hub
        'app: { hubAuth: true }',
        '',
      ].join('\n'),
    );
    hub = await startHubProcess({ port, args: ['--config', join(dir, 'labhub.yaml')], dataDir: join(dir, 'data') });
    admin = await tokenFor('admin');
    expect((await api(admin, 'POST', '/users', { usernames: ['alice', 'bob'] })).status).toBe(201);
    for (const u of ['alice', 'bob']) await api(admin, 'POST', `/users/${u}/password`, { password: `${u}-password-123` }).then(async (r) => expect(r.status, await r.text()).toBeLessThan(300));
    alice = await tokenFor('alice');
    expect((await api(alice, 'POST', '/users/alice/server')).status).toBe(201);
    const share = await api(alice, 'PUT', `/users/alice/ports/${appPort}`, { level: 'owner' });
    expect(share.status, await share.clone().text()).toBe(200);
    shareUrl = ((await share.json()) as { url: string }).url;
  });

  afterAll(async () => {
    if (admin) await api(admin, 'DELETE', '/users/alice/server').catch(() => undefined);
    await hub?.stop();
  });

  it('the share gets its own host: the API and the home page give that address', async () => {
    expect(shareUrl).toBe(`http://${appPort}--alice.hub.localhost:${port}/`);
    const listed = (await (await api(alice, 'GET', '/users/alice/ports')).json()) as Array<{ url: string }>;
    expect(listed.map((p) => p.url)).toEqual([shareUrl]);
    const home = await (await loggedIn('alice')).get('/hub/home');
    expect(home.text).toContain(`href="${shareUrl}"`);
    expect(home.text).toContain(`http://&lt;port&gt;--alice.hub.localhost:${port}/`);
  });

  it('the owner logs in at the hub host and lands in the app on the share host; the cookie stays on that host', async () => {
    const a = await loggedIn('alice');
    const page = await a.get(`${shareUrl}hello?x=1`, { headers: { Accept: 'text/html' } });
    expect(page.status, page.text).toBe(200);
    expect(isExtraApp(page.text)).toBe(true);
    expect(page.chain.map((u) => new URL(u).host)).toEqual([`${appPort}--alice.hub.localhost:${port}`, `hub.localhost:${port}`, `${appPort}--alice.hub.localhost:${port}`, `${appPort}--alice.hub.localhost:${port}`]);
    expect(page.url).toBe(`${shareUrl}hello?x=1`);
    const body = JSON.parse(page.text) as { path: string; cookie: string | null };
    expect(body.path).toBe('/hello?x=1');
    expect(body.cookie ?? '').not.toContain('labhub-route-auth');
    const onShare = await a.jar.getCookies(shareUrl);
    expect(onShare.map((c) => [c.key, c.hostOnly, c.httpOnly])).toEqual([['labhub-route-auth', true, true]]);
    expect((await a.jar.getCookies(`${hubHost}/`)).some((c) => c.key === 'labhub-route-auth')).toBe(false);
    // the hub's own cookies never travel to the share's host
    expect((await a.jar.getCookies(`${shareUrl}hub/`)).map((c) => c.key)).toEqual(['labhub-route-auth']);
  });

  it('others: bob gets 403, anonymous browsers are sent to log in at the hub host, API clients get 401', async () => {
    const b = await loggedIn('bob');
    expect((await b.get(shareUrl, { headers: { Accept: 'text/html' } })).status).toBe(403);
    const anon = browserAt(hubHost);
    const r = await anon.get(shareUrl, { headers: { Accept: 'text/html' } });
    expect(new URL(r.url).host).toBe(`hub.localhost:${port}`);
    expect(r.url).toContain('/hub/login');
    expect((await loopbackFetch(shareUrl)).status).toBe(401);
  });

  it('the share is not reachable by path, nor through the hub host, nor on a made-up host', async () => {
    const a = await loggedIn('alice');
    for (const path of [`/user/alice/ports/${appPort}/`, `/${appPort}--alice.hub.localhost/`]) {
      const r = await a.get(`${hubHost}${path}`, { headers: { Accept: 'text/html' } });
      expect(isExtraApp(r.text), path).toBe(false);
    }
    // a host with no share: the proxy sends the browser to the hub's host (same path), never to an app
    const other = await loopbackFetch(`http://${appPort}--bob.hub.localhost:${port}/x`, { redirect: 'manual' });
    expect(other.status).toBe(302);
    expect(other.headers.get('location')).toBe(`${hubHost}/x`);
    expect((await loopbackFetch(`http://${appPort}--bob.hub.localhost:${port}/x`, { method: 'POST', redirect: 'manual' })).status).toBe(404);
    // a forged code is refused and sets nothing
    const forged = await loopbackFetch(`${shareUrl}_labhub/route-login?code=forged&next=/`, { redirect: 'manual' });
    expect(forged.status).toBe(403);
    expect(forged.headers.get('set-cookie')).toBeNull();
  });

  it('WebSockets pass with the host cookie; public opens it to everyone; revoking removes the host at once', async () => {
    const a = await loggedIn('alice');
    await a.get(shareUrl, { headers: { Accept: 'text/html' } });
    const cookie = await a.jar.getCookieString(shareUrl);
    const echo = (headers: Record<string, string>) => wsPingOnce(`ws://127.0.0.1:${port}/ws`, { Host: `${appPort}--alice.hub.localhost:${port}`, ...headers });
    expect(await echo({ Cookie: cookie })).toBe('echo:ping');
    expect(await echo({})).toBe(403);
    expect((await api(alice, 'PUT', `/users/alice/ports/${appPort}`, { level: 'public' })).status).toBe(200);
    expect(isExtraApp(await (await loopbackFetch(shareUrl)).text())).toBe(true);
    expect((await api(alice, 'DELETE', `/users/alice/ports/${appPort}`)).status).toBe(204);
    const gone = await loopbackFetch(shareUrl, { redirect: 'manual' });
    expect(gone.status).toBe(302);
    expect(gone.headers.get('location')).toBe(`${hubHost}/`);
    expect((await api(alice, 'PUT', `/users/alice/ports/${appPort}`, { level: 'owner' })).status).toBe(200);
  });

  it("an app without its own login (app.hubAuth) on alice's host: the same hand-over, under the server's path", async () => {
    const serverUrl = `http://alice.hub.localhost:${port}/user/alice/`;
    const a = await loggedIn('alice');
    const page = await a.get(`${serverUrl}x`, { headers: { Accept: 'text/html' } });
    expect(page.status, page.text).toBe(200);
    expect(JSON.parse(page.text)).toMatchObject({ path: '/user/alice/x', user: 'alice' });
    expect(page.chain.some((u) => u.startsWith(`${serverUrl}_labhub/route-login?code=`))).toBe(true);
    const cookie = (await a.jar.getCookies(serverUrl)).find((c) => c.key === 'labhub-route-auth')!;
    expect([cookie.domain, cookie.path, cookie.hostOnly, cookie.httpOnly]).toEqual(['alice.hub.localhost', '/user/alice/', true, true]);
    const b = await loggedIn('bob');
    expect((await b.get(serverUrl, { headers: { Accept: 'text/html' } })).status).toBe(403);
    expect((await loopbackFetch(serverUrl)).status).toBe(401);
  });

  it('in headless Chromium: *.localhost resolves by itself; login at the hub host, then the app on its own origin', async () => {
    let chromium: Chromium | undefined;
    try {
      chromium = await launchChromium();
      const page = await chromium.newPage();
      await page.goto(shareUrl);
      // (the login form's redirect chain ends on the share's host: the hub's CSP form-action must allow it)
      await page.waitForURL(/hub\.localhost:\d+\/hub\/login/);
      await page.fill('#username', 'alice');
      await page.fill('#password', 'alice-password-123');
      await Promise.all([page.waitForURL(new RegExp(`^http://${appPort}--alice\\.hub\\.localhost:${port}/$`)), page.click('#login_submit')]);
      expect(isExtraApp((await page.textContent('body')) ?? '')).toBe(true);
      // the route cookie is HttpOnly and host-only: the app's scripts can't read it
      expect(await page.evaluate(() => document.cookie)).not.toContain('labhub-route-auth');
      expect(await page.evaluate(() => location.origin)).toBe(`http://${appPort}--alice.hub.localhost:${port}`);
    } finally {
      await chromium?.close();
    }
  });
});

describe('subdomains with labhub-proxy as a subprocess (proxy.mode subprocess)', () => {
  let hub: HubProcess;
  let port: number;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'labhub-subports-sp-'));
    port = await testPortPair();
    const apiPort = await testPort();
    writeFileSync(
      join(dir, 'labhub.yaml'),
      [`subdomainHost: http://hub.localhost:${port}`, 'spawner:', '  kind: local', `  cmd: [${process.execPath}, ${FAKE_SINGLEUSER}]`, 'proxy:', '  mode: subprocess', `  apiPort: ${apiPort}`, ''].join('\n'),
    );
    hub = await startHubProcess({ port, args: ['--config', join(dir, 'labhub.yaml')], dataDir: join(dir, 'data') });
    const admin = await hubToken(hub, 'admin');
    expect((await hubApi(hub, admin, 'POST', '/users', { usernames: ['alice'] })).status).toBe(201);
    expect((await hubApi(hub, admin, 'POST', '/users/alice/server')).status).toBe(201);
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('the hub hands labhub-proxy --host-route-domain/--host-route-fallback: alice is served on her host, other hosts go to the hub', async () => {
    const r = await loopbackFetch(`http://alice.hub.localhost:${port}/user/alice/api`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ user: 'alice' });
    const byPath = await loopbackFetch(`http://hub.localhost:${port}/user/alice/api`, { redirect: 'manual' });
    expect(byPath.status).toBe(302); // not served on the hub's host: the hub redirects (/hub/user/alice/… → alice's host)
    expect(byPath.headers.get('location')).toBe('/hub/user/alice/api');
    const other = await loopbackFetch(`http://bob.hub.localhost:${port}/user/bob/`, { redirect: 'manual' });
    expect(other.status).toBe(302);
    expect(other.headers.get('location')).toBe(`http://hub.localhost:${port}/user/bob/`);
  });
});
