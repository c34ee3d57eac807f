/**
 * Issue "Foundation", end to end with real parts: the `labhub` CLI, LabHub's proxy, and Debian's
 * unmodified jupyterhub-singleuser started by the local-process spawner.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import { isPidAlive, runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';

const ADMIN_PASSWORD = 'admin-test-password';

async function apiToken(hub: HubProcess, user = 'admin'): Promise<string> {
  const r = await runLabhub(['token', user, '--data-dir', hub.dataDir]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

async function api(hub: HubProcess, token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${hub.publicUrl}/hub/api${path}`, {
    method,
    headers: { Authorization: `token ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function proxyRoutes(hub: HubProcess): Promise<Record<string, { target: string }>> {
  const token = readFileSync(join(hub.dataDir, 'labhub_proxy_token'), 'utf8').trim();
  const res = await fetch(`http://127.0.0.1:${hub.port + 1}/api/routes`, { headers: { Authorization: `token ${token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, { target: string }>;
}

function serverPid(hub: HubProcess, token: string): Promise<number> {
  return api(hub, token, 'GET', '/users/admin').then(async (r) => {
    const model = (await r.json()) as { servers: Record<string, { state: { pid: number } }> };
    return model.servers[''].state.pid;
  });
}

describe('foundation: hub + proxy + real jupyterhub-singleuser', () => {
  let hub: HubProcess;
  let token: string;

  beforeAll(async () => {
    hub = await startHubProcess({ adminPassword: ADMIN_PASSWORD });
    token = await apiToken(hub);
  });

  afterAll(async () => {
    if (token && hub && hub.child.exitCode === null) await api(hub, token, 'DELETE', '/users/admin/server').catch(() => undefined);
    await hub?.stop();
  });

  it('answers the version check single-user servers make at startup', async () => {
    const res = await fetch(`${hub.hubUrl}/hub/api`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-jupyterhub-version')).toMatch(/^5\./);
    expect(await res.json()).toEqual({ version: res.headers.get('x-jupyterhub-version') });
  });

  it('starts a real jupyterhub-singleuser through the REST API and a browser reaches it through OAuth', async () => {
    const start = await api(hub, token, 'POST', '/users/admin/server');
    expect([201, 202]).toContain(start.status);
    // wait for ready (202 = still starting)
    for (let i = 0; i < 100; i++) {
      const model = (await (await api(hub, token, 'GET', '/users/admin')).json()) as { servers: Record<string, { ready: boolean }> };
      if (model.servers['']?.ready) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const routes = await proxyRoutes(hub);
    expect(routes['/user/admin']).toMatchObject({ user: 'admin', server_name: '', jupyterhub: true });
    expect(routes['/']).toMatchObject({ hub: true, target: hub.hubUrl });

    const browser = new Browser(hub.publicUrl);
    const login = await browser.login('admin', ADMIN_PASSWORD, '/user/admin/');
    // login → /user/admin/ → single-user server → hub authorize → oauth_callback → /user/admin/tree
    expect(login.status).toBe(200);
    expect(login.chain.some((u) => u.includes('/hub/api/oauth2/authorize'))).toBe(true);
    expect(login.chain.some((u) => u.includes('/user/admin/oauth_callback?code='))).toBe(true);
    expect(login.url).toMatch(/\/user\/admin\//);
    const status = await browser.get('/user/admin/api/status');
    expect(status.status).toBe(200);
    expect(JSON.parse(status.text)).toHaveProperty('started');
    // the single-user server's own auth cookie was set, scoped to its prefix
    const cookies = await browser.jar.getCookies(`${hub.publicUrl}/user/admin/`);
    expect(cookies.map((c) => c.key)).toContain('jupyterhub-user-admin');
  });

  it('keeps the server running and reachable when the hub restarts (graceful and kill -9)', async () => {
    const pid = await serverPid(hub, token);
    expect(isPidAlive(pid)).toBe(true);
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      await hub.stop(signal);
      expect(isPidAlive(pid)).toBe(true);
      hub = await startHubProcess({ dataDir: hub.dataDir, port: hub.port, hubPort: hub.hubPort, adminPassword: ADMIN_PASSWORD });
      expect(await serverPid(hub, token)).toBe(pid); // same process re-attached, tokens still valid
      const routes = await proxyRoutes(hub);
      expect(routes['/user/admin']).toBeDefined();
      const browser = new Browser(hub.publicUrl);
      await browser.login('admin', ADMIN_PASSWORD, '/user/admin/');
      const status = await browser.get('/user/admin/api/status');
      expect(status.status).toBe(200);
    }
  });

  it('stops the server: the process is gone and the route removed', async () => {
    const pid = await serverPid(hub, token);
    const res = await api(hub, token, 'DELETE', '/users/admin/server');
    expect([202, 204]).toContain(res.status);
    for (let i = 0; i < 50 && isPidAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    expect(isPidAlive(pid)).toBe(false);
    const routes = await proxyRoutes(hub);
    expect(routes['/user/admin']).toBeUndefined();
    // a request for the stopped server lands on the hub's not-running page (424), not a loop
    const browser = new Browser(hub.publicUrl);
    await browser.login('admin', ADMIN_PASSWORD);
    const page = await browser.get('/user/admin/tree');
    expect(page.status).toBe(424);
    expect(page.text).toContain('/hub/spawn/admin');
    // stopping again is fine (204)
    expect((await api(hub, token, 'DELETE', '/users/admin/server')).status).toBe(204);
  });

  it('answers bad API input with JSON {status, message} and keeps running', async () => {
    const cases: Array<[string, string, unknown, number]> = [
      ['POST', '/users', '{not json', 400],
      ['POST', '/users', { usernames: 'alice' }, 400],
      ['POST', '/users', { usernames: ['../etc'] }, 400],
      ['POST', '/users/admin', {}, 409],
      ['GET', '/users/nobody-here', undefined, 404],
      ['POST', '/users/admin/server', '[1,2]', 400],
      ['POST', '/users/admin/servers/named', {}, 400],
      ['GET', '/no/such/endpoint', undefined, 404],
    ];
    for (const [method, path, body, status] of cases) {
      const res = await api(hub, token, method, path, body);
      expect(res.status, `${method} ${path}`).toBe(status);
      const json = (await res.json()) as { status: number; message: string };
      expect(json.status).toBe(status);
      expect(typeof json.message).toBe('string');
      expect(json.message.length).toBeGreaterThan(0);
    }
    const noAuth = await fetch(`${hub.publicUrl}/hub/api/users`);
    expect(noAuth.status).toBe(403);
    const badToken = await fetch(`${hub.publicUrl}/hub/api/user`, { headers: { Authorization: 'token nope' } });
    expect(badToken.status).toBe(403);
    expect(hub.child.exitCode).toBeNull();
    expect((await fetch(`${hub.hubUrl}/hub/health`)).status).toBe(200);
  });
});

describe('foundation: configuration errors', () => {
  it('bad config: names the key and the problem, exits 2, creates nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'labhub-badcfg-'));
    const dataDir = join(dir, 'data');
    const file = join(dir, 'labhub.yaml');
    writeFileSync(file, `port: 99999\nspawner:\n  kind: local\n  cmd: []\nhubPortt: 1\ndataDir: ${dataDir}\n`);
    const r = await runLabhub(['--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('port:');
    expect(r.stderr).toContain('spawner.cmd:');
    expect(r.stderr).toContain("unknown key 'hubPortt'");
    expect(existsSync(dataDir)).toBe(false);
    expect(readdirSync(dir)).toEqual(['labhub.yaml']);

    const check = await runLabhub(['config', 'check', file]);
    expect(check.code).toBe(2);
    expect(check.stderr).toContain('spawner.cmd');

    writeFileSync(file, 'port: [unclosed\n');
    const yamlErr = await runLabhub(['config', 'check', file]);
    expect(yamlErr.code).toBe(2);
    expect(yamlErr.stderr).toContain('not valid YAML');

    const badFlag = await runLabhub(['--port', 'abc', '--data-dir', dataDir]);
    expect(badFlag.code).not.toBe(0);
    expect(badFlag.stderr).toContain('--port');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('prints help and version', async () => {
    const help = await runLabhub(['--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--config', '--ip', '--port', '--hub-port', '--db', '--data-dir']) expect(help.stdout).toContain(flag);
    const version = await runLabhub(['--version']);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')).version);
  });
});
