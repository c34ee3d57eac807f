/**
 * LabHub's images end to end through the Docker spawner (the real `labhub` CLI, YAML config, a real
 * dockerd; images built by test/setup/images.sh):
 * - JupyterLab image (jupyterhub-singleuser behind images/common/labhub-entrypoint, `entrypoint: image`):
 *   the user logs in through LabHub's OAuth and uses the notebook contents API; the configured repo was
 *   cloned at start by the entrypoint with a token the hub handed out (local git HTTP server that
 *   requires it); started as root (profile), the entrypoint remaps the user to NB_UID/NB_GID before the
 *   clone and the app; the container stops in < 2 s on SIGTERM.
 * - code-server image in a profile with `app: {hubAuth: true, stripPrefix: true}`, with the proxy in the
 *   hub and as a separate process (labhub-proxy from dist/): anonymous requests are sent to log in, the
 *   owner gets the workbench HTML and its WebSocket, another user gets 403 on both; proxy traffic is the
 *   server's activity (the entrypoint's own reporter switched off).
 */
import Database from 'better-sqlite3';
import Docker from 'dockerode';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Crypter } from '../../hub/crypto.js';
import { parseCryptKey } from '../../hub/secrets.js';
import { testPort } from '../helpers/test-ports.js';
import { Browser } from '../helpers/browser.js';
import { cleanupTestObjects, leftovers, dockerExec } from '../helpers/docker-env.js';
import { makeRepo, startGitHttpServer, type GitHttpServer } from '../helpers/git-http-server.js';
import { runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { demux, requireImages } from './images-env.js';

const { run, docker: denv, images } = await requireImages('images: end to end', ['LABHUB_IMAGE_JUPYTERLAB', 'LABHUB_IMAGE_CODE_SERVER']);
const PASSWORD = 'admin-test-password';
const GIT_TOKEN = `ghp_${'imgs3cr3t'.repeat(3)}${process.pid}`;

async function gatewayIp(docker: Docker): Promise<string> {
  const net = await docker.getNetwork('bridge').inspect();
  const cfg = net.IPAM!.Config![0] as { Gateway?: string; Subnet: string };
  if (cfg.Gateway) return cfg.Gateway;
  const [a, b, c, d] = cfg.Subnet.split('/')[0].split('.').map(Number);
  return `${a}.${b}.${c}.${d + 1}`;
}

const exec = (docker: Docker, id: string, cmd: string[]) => dockerExec(docker, id, cmd, 30_000);

class Hub {
  hub!: HubProcess;
  token!: string;
  constructor(readonly docker: Docker) {}

  async start(config: Record<string, unknown>, hubPort: number): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'labhub-images-e2e-'));
    const file = join(dir, 'labhub.yaml');
    writeFileSync(file, JSON.stringify(config, null, 2)); // JSON is YAML
    for (let attempt = 1; !this.hub; attempt++) {
      try {
        this.hub = await startHubProcess({ dataDir: dir, hubPort, adminPassword: PASSWORD, args: ['--config', file] });
      } catch (err) {
        if (attempt >= 3 || !/EADDRINUSE/.test(String(err))) throw err;
      }
    }
    const r = await runLabhub(['token', 'admin', '--data-dir', dir]);
    if (r.code !== 0) throw new Error(r.stderr);
    this.token = r.stdout.trim();
  }

  api(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${this.hub.publicUrl}/hub/api${path}`, {
      method,
      headers: { Authorization: `token ${this.token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async server(user: string): Promise<{ ready: boolean; state: Record<string, unknown>; last_activity: string | null } | undefined> {
    const m = (await (await this.api('GET', `/users/${user}`)).json()) as { servers?: Record<string, { ready: boolean; state: Record<string, unknown>; last_activity: string | null }> };
    return m.servers?.[''];
  }

  async startServer(user: string, options?: Record<string, unknown>, timeoutMs = 150_000): Promise<{ state: Record<string, unknown> }> {
    const r = await this.api('POST', `/users/${user}/server`, options);
    expect([201, 202], await r.text()).toContain(r.status);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const s = await this.server(user);
      if (s?.ready) return s;
      if (!s) {
        const progress = await this.api('GET', `/users/${user}/server/progress`).then((x) => x.text());
        throw new Error(`${user}'s server stopped while starting: ${progress.slice(-1500)}\n${this.hub.output().slice(-1500)}`);
      }
      await new Promise((res) => setTimeout(res, 500));
    }
    throw new Error(`${user}'s server not ready within ${timeoutMs} ms:\n${this.hub.output().slice(-2000)}`);
  }

  async stop(): Promise<void> {
    if (this.hub && this.token && this.hub.child.exitCode === null) {
      for (const u of ['admin', 'bob']) await this.api('DELETE', `/users/${u}/server`).catch(() => undefined);
      for (let i = 0; i < 40; i++) {
        const a = await this.server('admin').catch(() => undefined);
        const b = await this.server('bob').catch(() => undefined);
        if (!a && !b) break;
        await new Promise((res) => setTimeout(res, 250));
      }
    }
    await this.hub?.stop();
  }
}

function spawnerConfig(sock: string, runId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: 'docker',
    hosts: [{ url: `unix://${sock}` }],
    image: images!.LABHUB_IMAGE_JUPYTERLAB,
    pullPolicy: 'never',
    entrypoint: 'image', // LabHub images bring their own entrypoint (it sources /opt/labhub/env)
    uid: 1000,
    gid: 100,
    home: { type: 'volume', source: `labhub-home-{username}-${runId}` },
    labels: { 'labhub.test': runId },
    namePrefix: `labhub-i${process.pid}${runId.slice(-1)}`,
    stopTimeoutSeconds: 3,
    ...extra,
  };
}

describe.runIf(run)('images end to end: JupyterLab image through the Docker spawner', () => {
  const docker = new Docker({ socketPath: denv?.DOCKER_SOCK ?? '' });
  const RUN = `img-e2e-${process.pid}-j`;
  const h = new Hub(docker);
  let git: GitHttpServer;
  let gw: string;

  beforeAll(async () => {
    gw = await gatewayIp(docker);
    const root = mkdtempSync(join(tmpdir(), 'labhub-img-git-'));
    makeRepo(root, 'course.git', { 'README.md': 'course material\n' });
    git = await startGitHttpServer({ host: gw, root, username: 'admin-git', password: GIT_TOKEN });
    const hubPort = await testPort();
    await h.start(
      {
        hubIp: gw,
        hubConnectUrl: `http://${gw}:${hubPort}`,
        startTimeoutSeconds: 120,
        httpTimeoutSeconds: 90,
        spawner: spawnerConfig(denv!.DOCKER_SOCK, RUN, { git: { repos: [{ url: `${git.url}/course.git` }] } }),
        profiles: [
          { slug: 'jupyter', displayName: 'Jupyter', default: true },
          // started as root: the entrypoint remaps jovyan to NB_UID/NB_GID and drops privileges
          { slug: 'root-start', displayName: 'Jupyter (root start)', spawner: { extraCreate: { User: '0:0' }, environment: { NB_UID: '1234', NB_GID: '1234' } } },
        ],
      },
      hubPort,
    );
    // the login's auth state (what a GitHub/OIDC login stores), written encrypted like the hub does
    const key = parseCryptKey(readFileSync(join(h.hub.dataDir, 'labhub_crypt_key'), 'utf8').split(';')[0]);
    const db = new Database(join(h.hub.dataDir, 'labhub.sqlite'));
    db.pragma('busy_timeout = 5000');
    expect((await h.api('POST', '/users/bob')).status).toBe(201);
    expect((await h.api('POST', '/users/bob/password', { password: 'bob-password-123' })).status).toBeLessThan(300);
    const blob = new Crypter([key]).encryptJson({ git_credentials: [{ host: `${gw}:${new URL(git.url).port}`, username: 'admin-git', password: GIT_TOKEN }] });
    expect(db.prepare("UPDATE users SET auth_state = ? WHERE name IN ('admin', 'bob')").run(blob).changes).toBe(2);
    db.close();
  }, 60_000);

  afterAll(async () => {
    await h.stop();
    await git?.close();
    await cleanupTestObjects(docker, RUN);
    expect(await leftovers(docker, RUN)).toEqual([]);
  }, 60_000);

  it('starts; the user logs in through OAuth and makes notebook API calls', async () => {
    const s = await h.startServer('admin');
    const info = await docker.getContainer(String(s.state.containerId)).inspect();
    expect(info.Config.Entrypoint).toEqual(['/usr/local/bin/labhub-entrypoint']);
    expect(info.Config.Cmd).toEqual(['jupyterhub-singleuser']);
    const browser = new Browser(h.hub.publicUrl);
    const login = await browser.login('admin', PASSWORD, '/user/admin/');
    expect(login.status).toBe(200);
    expect(login.chain.some((u) => u.includes('/hub/api/oauth2/authorize'))).toBe(true);
    expect(login.chain.some((u) => u.includes('/user/admin/oauth_callback'))).toBe(true);
    const status = await browser.get('/user/admin/api/status');
    expect(status.status).toBe(200);
    expect(JSON.parse(status.text)).toHaveProperty('started');
    // a notebook written and read back through the contents API (cookie auth + XSRF, like the web UI)
    const xsrf = (await browser.jar.getCookies(`${h.hub.publicUrl}/user/admin/`)).find((c) => c.key === '_xsrf')?.value;
    expect(xsrf).toMatch(/^\S{8,}$/);
    const nb = { type: 'notebook', content: { cells: [{ cell_type: 'code', source: 'print(6*7)', metadata: {}, outputs: [], execution_count: null }], metadata: {}, nbformat: 4, nbformat_minor: 5 } };
    const put = await browser.request('/user/admin/api/contents/hello.ipynb', { method: 'PUT', headers: { 'Content-Type': 'application/json', 'X-XSRFToken': xsrf! }, body: JSON.stringify(nb) }, false);
    expect(put.status, put.text).toBe(201);
    const got = JSON.parse((await browser.get('/user/admin/api/contents/hello.ipynb')).text) as { content: { cells: Array<{ source: string }> } };
    expect(got.content.cells[0].source).toBe('print(6*7)');
    const listing = JSON.parse((await browser.get('/user/admin/api/contents')).text) as { content: Array<{ name: string }> };
    expect(listing.content.map((c) => c.name)).toEqual(expect.arrayContaining(['hello.ipynb', 'course']));
    const specs = JSON.parse((await browser.get('/user/admin/api/kernelspecs')).text) as { kernelspecs: Record<string, unknown> };
    expect(Object.keys(specs.kernelspecs)).toContain('python3');
    // anonymous: sent to the hub's login
    const anon = await fetch(`${h.hub.publicUrl}/user/admin/api/contents`, { redirect: 'manual' });
    expect([302, 403]).toContain(anon.status);
  }, 200_000);

  it('the entrypoint cloned the configured repo at start with the token the hub handed out (the git server requires it)', async () => {
    const id = String((await h.server('admin'))!.state.containerId);
    expect(await exec(docker, id, ['sh', '-c', 'cat ~/course/README.md; stat -c %u:%g ~/course/README.md; id -u'])).toEqual({ code: 0, out: 'course material\n1000:100\n1000\n' });
    expect(git.stats.ok).toBeGreaterThan(0);
    expect(git.stats.rejected).toBeGreaterThan(0); // the first request carries no credential: the server really asks
    const logs = demux((await docker.getContainer(id).logs({ stdout: true, stderr: true })) as unknown as Buffer);
    expect(logs).toContain(`labhub: git clone ${git.url}/course.git`);
    expect(logs).not.toContain(GIT_TOKEN);
    expect(JSON.stringify(await docker.getContainer(id).inspect())).not.toContain(GIT_TOKEN);
  }, 60_000);

  it('started as root through the spawner: the entrypoint remaps the user to NB_UID/NB_GID, gives it the new home, clones as that user; the app works', async () => {
    const s = await h.startServer('bob', { profile: 'root-start' });
    const id = String(s.state.containerId);
    expect((await docker.getContainer(id).inspect()).Config.User).toBe('0:0');
    const ps = await exec(docker, id, ['ps', '-eo', 'uid=,gid=,args=']);
    // the app itself (not docker-init, whose arguments name it too)
    const app = ps.out.split('\n').filter((l) => /jupyterhub-singleuser/.test(l) && !/docker-init|labhub-entrypoint/.test(l));
    expect(app.length, ps.out).toBe(1);
    expect(app[0].trim().split(/\s+/).slice(0, 2)).toEqual(['1234', '1234']);
    const own = await exec(docker, id, ['stat', '-c', '%u:%g %n', '/home/jovyan', '/home/jovyan/.labhub/home-initialized', '/home/jovyan/course/README.md']);
    expect(own.out).toBe('1234:1234 /home/jovyan\n1234:1234 /home/jovyan/.labhub/home-initialized\n1234:1234 /home/jovyan/course/README.md\n');
    const browser = new Browser(h.hub.publicUrl);
    expect((await browser.login('bob', 'bob-password-123', '/user/bob/')).status).toBe(200);
    const status = await browser.get('/user/bob/api/status');
    expect(status.status).toBe(200);
  }, 200_000);

  it('jupyterhub-singleuser stops on SIGTERM in < 2 s (docker stop with a 10 s grace period)', async () => {
    const id = String((await h.server('admin'))!.state.containerId);
    const t0 = Date.now();
    await docker.getContainer(id).stop({ t: 10 });
    const ms = Date.now() - t0;
    expect(ms).toBeLessThan(2000);
    const st = (await docker.getContainer(id).inspect().catch(() => null))?.State;
    if (st) expect(st.ExitCode).not.toBe(137);
  }, 60_000);
});

for (const proxyMode of ['inprocess', 'subprocess'] as const) {
  describe.runIf(run)(`images end to end: code-server behind hub authentication (proxy ${proxyMode})`, () => {
    const docker = new Docker({ socketPath: denv?.DOCKER_SOCK ?? '' });
    const RUN = `img-e2e-${process.pid}-${proxyMode === 'inprocess' ? 'c' : 's'}`;
    const h = new Hub(docker);
    let apiPort = 0;

    beforeAll(async () => {
      const gw = await gatewayIp(docker);
      const hubPort = await testPort();
      apiPort = await testPort();
      await h.start(
        {
          hubIp: gw,
          hubConnectUrl: `http://${gw}:${hubPort}`,
          startTimeoutSeconds: 120,
          httpTimeoutSeconds: 90,
          ...(proxyMode === 'subprocess' ? { proxy: { mode: 'subprocess', command: ['labhub-proxy'], apiPort } } : {}),
          // the culler pulls the proxy's per-route activity (idle timeout far away: nothing is culled)
          culling: { idleTimeoutSeconds: 3600, intervalSeconds: 1 },
          spawner: spawnerConfig(denv!.DOCKER_SOCK, RUN),
          profiles: [
            { slug: 'jupyter', displayName: 'Jupyter', default: true },
            {
              slug: 'code',
              displayName: 'VS Code',
              spawner: { image: images!.LABHUB_IMAGE_CODE_SERVER, environment: { LABHUB_ACTIVITY: 'off' } },
              app: { hubAuth: true, stripPrefix: true },
            },
          ],
        },
        hubPort,
      );
      expect((await h.api('POST', '/users/bob')).status).toBe(201);
      expect((await h.api('POST', '/users/bob/password', { password: 'bob-password-123' })).status).toBeLessThan(300);
      await h.startServer('admin', { profile: 'code' });
    }, 240_000);

    afterAll(async () => {
      await h.stop();
      await cleanupTestObjects(docker, RUN);
      expect(await leftovers(docker, RUN)).toEqual([]);
    }, 60_000);

    const wsOpen = (cookie: string | undefined, origin: string) =>
      new Promise<string | number>((resolve) => {
        const url = `${h.hub.publicUrl.replace('http', 'ws')}/user/admin/?reconnectionToken=${crypto.randomUUID()}&reconnection=false&skipWebSocketFrames=false`;
        const ws = new WebSocket(url, { headers: { ...(cookie ? { Cookie: cookie } : {}), Origin: origin } });
        const timer = setTimeout(() => (ws.terminate(), resolve('timeout')), 20_000);
        ws.on('open', () => {
          clearTimeout(timer);
          ws.close();
          resolve('open');
        });
        ws.on('unexpected-response', (_req, res) => {
          clearTimeout(timer);
          resolve(res.statusCode ?? 0);
        });
        ws.on('error', () => {
          clearTimeout(timer);
          resolve(-1);
        });
      });

    if (proxyMode === 'subprocess') {
      it('the proxy is a separate process (labhub-proxy from dist/) whose route carries labhub_auth and labhub_strip_prefix', async () => {
        const children = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(h.hub.child.pid)], { encoding: 'utf8' });
        expect(children).toMatch(/dist\/proxy\/main\.js/);
        const token = readFileSync(join(h.hub.dataDir, 'labhub_proxy_token'), 'utf8').trim();
        const routes = (await (await fetch(`http://127.0.0.1:${apiPort}/api/routes`, { headers: { Authorization: `token ${token}` } })).json()) as Record<string, Record<string, unknown>>;
        expect(routes['/user/admin']).toMatchObject({ user: 'admin', labhub_strip_prefix: true, labhub_auth: { login: '/hub/routes/login' } });
      });
    }

    it('anonymous requests are sent to log in (HTML and WebSocket)', async () => {
      const anon = await fetch(`${h.hub.publicUrl}/user/admin/`, { redirect: 'manual', headers: { Accept: 'text/html' } });
      expect(anon.status).toBe(302);
      expect(anon.headers.get('location')).toMatch(/\/hub\/(routes\/)?login/);
      expect(await wsOpen(undefined, h.hub.publicUrl)).not.toBe('open');
    });

    it('the owner gets the workbench HTML (served at / behind the stripped prefix) and its WebSocket after hub login; traffic is activity', async () => {
      const b = new Browser(h.hub.publicUrl);
      expect((await b.login('admin', PASSWORD)).status).toBe(200);
      await new Promise((res) => setTimeout(res, 1100)); // proxy timestamps have ms resolution; keep clear of the start
      const trafficFrom = Date.now();
      const page = await b.get('/user/admin/', { headers: { Accept: 'text/html' } });
      expect(page.status, page.text.slice(0, 500)).toBe(200);
      expect(page.chain.some((u) => u.includes('/hub/routes/login'))).toBe(true);
      expect(page.text).toContain('vscode-workbench-web-configuration');
      // relative asset URLs resolve under the prefix and load through the proxy
      const asset = /src="((?!\/|https?:)[^"]+?workbench\.js)"/.exec(page.text)?.[1];
      expect(asset).toMatch(/workbench\.js$/);
      const a = await b.get(new URL(asset!, `${h.hub.publicUrl}/user/admin/`).pathname);
      expect(a.status).toBe(200);
      const cookie = await b.jar.getCookieString(`${h.hub.publicUrl}/user/admin/`);
      expect(cookie).toContain('labhub-route-auth');
      expect(await wsOpen(cookie, h.hub.publicUrl)).toBe('open');
      // proxy activity (the entrypoint's reporter is off in this profile) reaches the server's last_activity
      let after = 0;
      for (let i = 0; i < 40 && after < trafficFrom; i++) {
        await new Promise((res) => setTimeout(res, 500));
        after = Date.parse((await h.server('admin'))!.last_activity ?? '') || 0;
      }
      expect(after).toBeGreaterThanOrEqual(trafficFrom);
    }, 60_000);

    it('another logged-in user gets 403 (HTML and WebSocket)', async () => {
      const b = new Browser(h.hub.publicUrl);
      expect((await b.login('bob', 'bob-password-123')).status).toBe(200);
      const page = await b.get('/user/admin/', { headers: { Accept: 'text/html' } });
      expect(page.status).toBe(403);
      expect(page.text).not.toContain('vscode-workbench-web-configuration');
      const cookie = await b.jar.getCookieString(`${h.hub.publicUrl}/user/admin/`);
      expect(await wsOpen(cookie || undefined, h.hub.publicUrl)).toBe(403);
    }, 60_000);
  });
}
