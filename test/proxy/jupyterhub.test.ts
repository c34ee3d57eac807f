/**
 * Debian's real JupyterHub 3.0 drives labhub-proxy as its proxy
 * (c.ConfigurableHTTPProxy.command = [dist/proxy/main.js]): the hub starts it, registers its own
 * route, spawns a single-user server (SimpleLocalProcessSpawner, works as root), the server is
 * reachable through LabHub's proxy, and stopping it removes the route.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, freePort, LABHUB_BIN, sleep } from './helpers.js';

const JUPYTERHUB = '/usr/bin/jupyterhub';
const PYTHON = '/usr/bin/python3';
const available = fs.existsSync(JUPYTERHUB) && fs.existsSync(PYTHON);
const SERVICE_TOKEN = 'labhub-test-service-token-0123456789';
const PROXY_TOKEN = 'labhub-test-proxy-token-0123456789';

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

// CI installs Debian's jupyterhub: there a missing one is a failure, not a skip
if (!available && process.env.CI === 'true') throw new Error('Debian jupyterhub (/usr/bin/jupyterhub) is required in CI for the JupyterHub + labhub-proxy test');
if (!available) console.warn('[proxy/jupyterhub] SKIPPED: /usr/bin/jupyterhub is not installed (apt-get install jupyterhub)');

describe.skipIf(!available)('real JupyterHub 3.0 with labhub-proxy', () => {
  let dir: string;
  let hub: ChildProcess | undefined;
  let log = '';
  let publicUrl: string;
  let apiUrl: string;
  let proxyPid = 0;
  const hubApi = (p: string, init: RequestInit = {}) =>
    fetch(`${publicUrl}/hub/api${p}`, { ...init, headers: { Authorization: `token ${SERVICE_TOKEN}`, ...(init.headers ?? {}) } });
  const proxyRoutes = async () => {
    const r = await fetch(`${apiUrl}/api/routes`, { headers: { Authorization: `token ${PROXY_TOKEN}` } });
    return (await r.json()) as Record<string, Record<string, unknown>>;
  };

  beforeAll(async () => {
    ensureBuilt();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labhub-jh-'));
    const [port, apiPort, hubPort] = [await freePort(), await freePort(), await freePort()];
    publicUrl = `http://127.0.0.1:${port}`;
    apiUrl = `http://127.0.0.1:${apiPort}`;
    const config = `
c = get_config()
c.JupyterHub.ip = '127.0.0.1'
c.JupyterHub.port = ${port}
c.JupyterHub.hub_ip = '127.0.0.1'
c.JupyterHub.hub_port = ${hubPort}
c.ConfigurableHTTPProxy.api_url = '${apiUrl}'
c.ConfigurableHTTPProxy.command = [${JSON.stringify(LABHUB_BIN)}]
c.ConfigurableHTTPProxy.auth_token = '${PROXY_TOKEN}'
c.ConfigurableHTTPProxy.pid_file = ${JSON.stringify(path.join(dir, 'proxy.pid'))}
c.JupyterHub.authenticator_class = 'dummy'
c.JupyterHub.spawner_class = 'simple'
c.Spawner.cmd = ['/usr/bin/jupyterhub-singleuser']
c.Spawner.args = ['--allow-root']
c.Spawner.start_timeout = 30
c.Spawner.http_timeout = 30
c.JupyterHub.db_url = 'sqlite:///${path.join(dir, 'jupyterhub.sqlite')}'
c.JupyterHub.cookie_secret_file = ${JSON.stringify(path.join(dir, 'cookie_secret'))}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.services = [{'name': 'tester', 'api_token': '${SERVICE_TOKEN}'}]
c.JupyterHub.load_roles = [{'name': 'tester-role', 'scopes': ['admin:users', 'admin:servers', 'access:servers', 'list:users', 'read:users'], 'services': ['tester']}]
`;
    fs.writeFileSync(path.join(dir, 'jupyterhub_config.py'), config);
    hub = spawn(PYTHON, [JUPYTERHUB, '-f', path.join(dir, 'jupyterhub_config.py')], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: '1', CONFIGPROXY_AUTH_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: false,
    });
    hub.stdout!.on('data', (d) => (log += d));
    hub.stderr!.on('data', (d) => (log += d));
    await until(
      'JupyterHub to start',
      async () => {
        if (hub!.exitCode !== null) throw new Error(`hub exited: ${log}`);
        return log.includes('JupyterHub is now running');
      },
      30_000,
    );
    proxyPid = Number(fs.readFileSync(path.join(dir, 'proxy.pid'), 'utf8'));
  }, 45_000);

  afterAll(async () => {
    if (hub && hub.exitCode === null) {
      const exited = new Promise((r) => hub!.once('exit', r));
      hub.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (hub.exitCode === null) hub.kill('SIGKILL');
    }
    // the hub stops the proxy it started; make sure of it
    if (proxyPid && isAlive(proxyPid)) process.kill(proxyPid, 'SIGKILL');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 20_000);

  it('the hub started labhub-proxy and registered its own route', async () => {
    expect(log).toMatch(/\[ConfigProxy\] info: Proxying http:\/\/127\.0\.0\.1:\d+ to \(no default\)/);
    expect(isAlive(proxyPid)).toBe(true);
    const routes = await proxyRoutes();
    expect(routes['/']).toMatchObject({ hub: true, jupyterhub: true });
    const r = await fetch(`${publicUrl}/hub/api/`);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { version: string }).version).toMatch(/^3\./);
  });

  it("spawns alice's server, reachable through the proxy; stopping it removes the route", async () => {
    expect((await hubApi('/users/alice', { method: 'POST' })).status).toBe(201);
    const start = await hubApi('/users/alice/server', { method: 'POST' });
    expect([201, 202]).toContain(start.status);
    await until(
      "alice's server to be ready",
      async () => {
        const u = (await (await hubApi('/users/alice')).json()) as { servers: Record<string, { ready: boolean }> };
        return u.servers['']?.ready;
      },
      40_000,
    );
    const routes = await proxyRoutes();
    expect(routes['/user/alice']).toMatchObject({ user: 'alice', server_name: '', jupyterhub: true });
    expect(String(routes['/user/alice'].target)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(String(routes['/user/alice'].last_activity)).toMatch(/Z$/);

    // through LabHub's proxy to the notebook server
    const api = await fetch(`${publicUrl}/user/alice/api`);
    expect(api.status).toBe(200);
    expect(((await api.json()) as { version: string }).version).toMatch(/^\d+\.\d+/);
    // an authenticated request with the service token (access:servers)
    const status = await fetch(`${publicUrl}/user/alice/api/status`, { headers: { Authorization: `token ${SERVICE_TOKEN}` } });
    expect(status.status).toBe(200);
    // a browser without a session is redirected to the hub login, via the proxy
    const tree = await fetch(`${publicUrl}/user/alice/tree`, { redirect: 'manual' });
    expect(tree.status).toBe(302);

    const stop = await hubApi('/users/alice/server', { method: 'DELETE' });
    expect([202, 204]).toContain(stop.status);
    await until('the route to be removed', async () => !('/user/alice' in (await proxyRoutes())), 20_000);
    // the hub now answers for /user/alice (its route '/' is the longest match left)
    const after = await fetch(`${publicUrl}/user/alice/api`, { redirect: 'manual' });
    expect(after.status).not.toBe(200);
  }, 60_000);
});
