/**
 * Shared ports end to end (real labhub CLI, LabHub's proxy, a tiny HTTP + WebSocket app running in
 * alice's server): the owner reaches it after hub login, another user gets 403 until it is shared
 * with them, anonymous users are sent to log in until it is public, revocation applies at once,
 * WebSockets pass; nobody can share a port that isn't theirs, and traversal/header tricks fail.
 */
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Browser } from '../helpers/browser.js';
import { testPort } from '../helpers/test-ports.js';
import { hubApi, hubToken, startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { FAKE_SINGLEUSER, isExtraApp } from '../helpers/test-hub.js';
import { wsPingOnce } from '../helpers/ws-echo.js';

describe('shared ports', () => {
  let hub: HubProcess;
  let admin: string;
  let appPort: number;
  let bobAppPort: number;
  const api = (token: string, method: string, path: string, body?: unknown) => hubApi(hub, token, method, path, body);
  const tokenFor = (user: string) => hubToken(hub, user);
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'labhub-ports-'));
    appPort = await testPort();
    bobAppPort = await testPort();
    // each user's server runs the small app on its own port (alice: appPort, bob: bobAppPort)
    writeFileSync(
      join(dir, 'labhub.yaml'),
      [
        'spawner:',
        '  kind: local',
        `  cmd: [${process.execPath}, ${FAKE_SINGLEUSER}]`,
        'profiles:',
        '  - slug: alice-app',
        '    displayName: with app',
        '    groups: [app-a]',
        `    spawner: { environment: { FAKE_EXTRA_APP_PORT: "${appPort}" } }`,
        '  - slug: bob-app',
        '    displayName: with app',
        '    groups: [app-b]',
        `    spawner: { environment: { FAKE_EXTRA_APP_PORT: "${bobAppPort}" } }`,
        'groups:',
        '  app-a: { users: [alice] }',
        '  app-b: { users: [bob] }',
        '',
      ].join('\n'),
    );
    hub = await startHubProcess({ args: ['--config', join(dir, 'labhub.yaml')], dataDir: join(dir, 'data') });
    admin = await tokenFor('admin');
    expect((await api(admin, 'POST', '/users', { usernames: ['carol'] })).status).toBe(201);
    for (const u of ['alice', 'bob', 'carol']) await api(admin, 'POST', `/users/${u}/password`, { password: `${u}-password-123` }).then(async (r) => expect(r.status, await r.text()).toBeLessThan(300));
    alice = await tokenFor('alice');
    bob = await tokenFor('bob');
    expect((await api(alice, 'POST', '/users/alice/server')).status).toBe(201);
    expect((await api(bob, 'POST', '/users/bob/server')).status).toBe(201);
  });

  afterAll(async () => {
    if (admin) for (const u of ['alice', 'bob']) await api(admin, 'DELETE', `/users/${u}/server`).catch(() => undefined);
    await hub?.stop();
  });

  const url = () => `/user/alice/ports/${appPort}/hello?x=1`;
  const loggedIn = async (user: string) => {
    const b = new Browser(hub.publicUrl);
    const r = await b.login(user, `${user}-password-123`);
    expect(r.status).toBe(200);
    return b;
  };
  const wsEcho = (cookie: string | undefined) => wsPingOnce(`${hub.publicUrl.replace('http', 'ws')}/user/alice/ports/${appPort}/ws`, cookie ? { Cookie: cookie } : {});

  it('validates share requests and refuses ports that are not yours', async () => {
    expect((await api(alice, 'PUT', '/users/alice/ports/0', { level: 'owner' })).status).toBe(400);
    expect((await api(alice, 'PUT', '/users/alice/ports/70000', { level: 'owner' })).status).toBe(400);
    expect((await api(alice, 'PUT', `/users/alice/ports/${appPort}`, { level: 'everyone' })).status).toBe(400);
    expect((await api(alice, 'PUT', `/users/alice/ports/${appPort}`, { level: 'users', users: ['nobody'] })).status).toBe(400);
    // bob's app port is his: alice can't expose it through her server, nor share bob's server
    const steal = await api(alice, 'PUT', `/users/alice/ports/${bobAppPort}`, { level: 'public' });
    expect(steal.status).toBe(400);
    expect(((await steal.json()) as { message: string }).message).toContain('listens on port');
    expect((await api(alice, 'PUT', `/users/bob/ports/${bobAppPort}`, { level: 'public' })).status).toBe(404);
    // nor the hub's own ports
    expect((await api(alice, 'PUT', `/users/alice/ports/${hub.hubPort}`, { level: 'public' })).status).toBe(400);
  });

  it('owner only: the owner reaches the app after hub login, others get 403, anonymous must log in', async () => {
    const share = await api(alice, 'PUT', `/users/alice/ports/${appPort}`, { level: 'owner' });
    expect(share.status, await share.clone().text()).toBe(200);
    expect(await share.json()).toMatchObject({ port: appPort, level: 'owner', url: `/user/alice/ports/${appPort}/` });
    const a = await loggedIn('alice');
    const page = await a.get(url(), { headers: { Accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.chain.some((u) => u.includes('/hub/routes/login'))).toBe(true);
    const body = JSON.parse(page.text) as { path: string; cookie: string | null };
    expect(body.path).toBe('/hello?x=1'); // prefix stripped
    expect(body.cookie ?? '').not.toContain('labhub-route-auth'); // the hub credential never reaches the app
    const b = await loggedIn('bob');
    const denied = await b.get(url(), { headers: { Accept: 'text/html' } });
    expect(denied.status).toBe(403);
    const anon = new Browser(hub.publicUrl);
    const redirect = await anon.get(url(), { headers: { Accept: 'text/html' } });
    expect(redirect.url).toContain('/hub/login');
    expect(redirect.status).toBe(200);
    const apiCall = await fetch(`${hub.publicUrl}${url()}`);
    expect(apiCall.status).toBe(401);
  });

  it('sharing with a user lets them in at once; public lets everyone in; WebSockets pass', async () => {
    const b = await loggedIn('bob');
    expect((await b.get(url(), { headers: { Accept: 'text/html' } })).status).toBe(403);
    expect((await api(alice, 'PUT', `/users/alice/ports/${appPort}`, { level: 'users', users: ['bob'] })).status).toBe(200);
    const now = await b.get(url(), { headers: { Accept: 'text/html' } });
    expect(now.status).toBe(200);
    expect(isExtraApp(now.text)).toBe(true);
    const bobCookie = await b.jar.getCookieString(`${hub.publicUrl}/user/alice/ports/${appPort}/ws`);
    expect(await wsEcho(bobCookie)).toBe('echo:ping');
    const c = await loggedIn('carol');
    expect((await c.get(url(), { headers: { Accept: 'text/html' } })).status).toBe(403);
    expect(await wsEcho(await c.jar.getCookieString(`${hub.publicUrl}/user/alice/ports/${appPort}/ws`))).toBe(403);
    expect(await wsEcho(undefined)).toBe(403);
    expect((await api(alice, 'PUT', `/users/alice/ports/${appPort}`, { level: 'public' })).status).toBe(200);
    const anon = await fetch(`${hub.publicUrl}${url()}`);
    expect(anon.status).toBe(200);
    expect(isExtraApp(await anon.text())).toBe(true);
    expect(await wsEcho(undefined)).toBe('echo:ping');
    const list = await api(alice, 'GET', '/users/alice/ports');
    expect(((await list.json()) as Array<{ port: number; level: string }>).map((p) => [p.port, p.level])).toEqual([[appPort, 'public']]);
  });

  it('revocation takes effect immediately', async () => {
    expect((await api(alice, 'DELETE', `/users/alice/ports/${appPort}`)).status).toBe(204);
    const anon = await fetch(`${hub.publicUrl}${url()}`);
    expect(isExtraApp(await anon.text())).toBe(false);
    const b = await loggedIn('bob');
    expect(isExtraApp((await b.get(url())).text)).toBe(false);
    expect((await api(alice, 'DELETE', `/users/alice/ports/${appPort}`)).status).toBe(404);
  });

  it('path traversal and header tricks do not get past the check', async () => {
    expect((await api(alice, 'PUT', `/users/alice/ports/${appPort}`, { level: 'owner' })).status).toBe(200);
    const raw = (path: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const u = new URL(hub.publicUrl);
        const req = http.request({ host: u.hostname, port: u.port, path, headers }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    // dot segments and encoded slashes stay inside the app's own route or are refused
    for (const path of [`/user/alice/ports/${appPort}/../../../hub/api/users`, `/user/alice/ports/${appPort}/..%2F..%2F..%2Fuser%2Fbob%2F`, `/user/bob/ports/${bobAppPort}/`, `/user/alice/ports/${appPort}%2F/x`]) {
      const r = await raw(path);
      expect(isExtraApp(r.body), path).toBe(false);
    }
    // a forged route token, a forged check header, other hosts: still 401/403
    expect((await raw(url(), { Cookie: 'labhub-route-auth=forged' })).status).toBe(401);
    expect((await raw(url(), { 'X-LabHub-Route-Token': alice })).status).toBe(401);
    expect((await raw(url(), { Host: 'evil.example', 'X-Forwarded-Host': 'evil.example' })).status).toBe(401);
    // bob's own hub token is a credential the proxy accepts, but bob has no access
    expect((await raw(url(), { Authorization: `token ${bob}` })).status).toBe(403);
    // alice's API token works for scripts
    expect((await raw(url(), { Authorization: `token ${alice}` })).status).toBe(200);
    // the check endpoint itself answers only the proxy
    expect((await fetch(`${hub.hubUrl}/hub/api/routes/authorize?route=/user/alice/ports/${appPort}`, { headers: { Authorization: `token ${alice}` } })).status).toBe(403);
  });
});
