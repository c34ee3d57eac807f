/**
 * Issue 7 end to end: the real `labhub` CLI with the Docker spawner (YAML config) on a real dockerd and on Podman's Docker API,
 * Debian's jupyterhub-singleuser inside the container (image built by test/setup/docker.sh from
 * images/jupyterlab/Dockerfile), reached through LabHub's proxy with the OAuth dance; homes that
 * survive stop/start and container removal; /shared between two users; cgroup limits; the git
 * credential flow against a local HTTP git server that requires the token; and a container that
 * exits at start, whose last log lines reach the progress stream.
 */
import Database from 'better-sqlite3';
import Docker from 'dockerode';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Crypter } from '../../hub/crypto.js';
import { parseCryptKey } from '../../hub/secrets.js';
import { testPort } from '../helpers/test-ports.js';
import { Browser } from '../helpers/browser.js';
import { cleanupTestObjects, engineProblem, leftovers, readDockerEnv, requireEngine, dockerExec } from '../helpers/docker-env.js';
import { makeRepo, startGitHttpServer, type GitHttpServer } from '../helpers/git-http-server.js';
import { runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';

const env = readDockerEnv();
let problem = await engineProblem(env?.DOCKER_SOCK);
if (!problem && !env?.LABHUB_TEST_IMAGE_JUPYTER) problem = 'no jupyterhub test image (setup ran with SKIP_JUPYTER_IMAGE=1)';
const run = requireEngine('docker spawner end to end', problem);
const podmanProblem = await engineProblem(env?.PODMAN_SOCK);
const RUN = `e2e-${process.pid}`;
const PASSWORD = 'admin-test-password';
const GIT_TOKEN = `ghp_${'s3cr3t'.repeat(5)}${process.pid}`;

const exec = (docker: Docker, id: string, cmd: string[]) => dockerExec(docker, id, cmd, 60_000);

async function gatewayIp(docker: Docker, network: string): Promise<string> {
  const net = await docker.getNetwork(network).inspect();
  const cfg = net.IPAM!.Config![0] as { Gateway?: string; Subnet: string };
  if (cfg.Gateway) return cfg.Gateway;
  const [a, b, c, d] = cfg.Subnet.split('/')[0].split('.').map(Number); // dockerd 20.10 omits it: the first host address
  return `${a}.${b}.${c}.${d + 1}`;
}

async function startHub(config: (hubPort: number) => Record<string, unknown>): Promise<{ hub: HubProcess; token: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'labhub-docker-e2e-'));
  const file = join(dir, 'labhub.yaml');
  let hub: HubProcess | undefined;
  // free ports are picked before they are bound, and other suites run in parallel: retry a lost race on fresh ports
  for (let attempt = 1; !hub; attempt++) {
    const hubPort = await testPort();
    writeFileSync(file, JSON.stringify(config(hubPort), null, 2)); // JSON is YAML
    try {
      hub = await startHubProcess({ dataDir: dir, hubPort, adminPassword: PASSWORD, args: ['--config', file] });
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String(err))) throw err;
    }
  }
  const r = await runLabhub(['token', 'admin', '--data-dir', dir]);
  if (r.code !== 0) throw new Error(r.stderr);
  return { hub, token: r.stdout.trim() };
}

function api(hub: HubProcess, token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${hub.publicUrl}/hub/api${path}`, {
    method,
    headers: { Authorization: `token ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

type ServerModel = { ready: boolean; pending: string | null; state: Record<string, unknown> };
async function serverModel(hub: HubProcess, token: string, user: string): Promise<ServerModel | undefined> {
  const r = await api(hub, token, 'GET', `/users/${user}`);
  const m = (await r.json()) as { servers: Record<string, ServerModel> };
  return m.servers?.[''];
}

async function startServer(hub: HubProcess, token: string, user: string, timeoutMs = 150_000, options?: Record<string, unknown>): Promise<ServerModel> {
  const r = await api(hub, token, 'POST', `/users/${user}/server`, options);
  expect([201, 202], await r.text()).toContain(r.status);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = await serverModel(hub, token, user);
    if (s?.ready) return s;
    if (!s) {
      const progress = await api(hub, token, 'GET', `/users/${user}/server/progress`).then((x) => x.text());
      throw new Error(`${user}'s server stopped while starting: ${progress.slice(-1500)}\n${hub.output().slice(-1500)}`);
    }
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error(`${user}'s server not ready within ${timeoutMs} ms:\n${hub.output().slice(-2000)}`);
}

async function stopServer(hub: HubProcess, token: string, user: string): Promise<void> {
  const r = await api(hub, token, 'DELETE', `/users/${user}/server`);
  expect([202, 204]).toContain(r.status);
  for (let i = 0; i < 120 && (await serverModel(hub, token, user)); i++) await new Promise((res) => setTimeout(res, 250));
  expect(await serverModel(hub, token, user)).toBeUndefined();
}

const engines = [
  { engine: 'dockerd', SOCK: env?.DOCKER_SOCK, network: 'bridge', enabled: run },
  // the same image, copied into Podman's storage by the setup script; containers reach the hub on Podman's bridge
  { engine: 'podman', SOCK: env?.PODMAN_SOCK, network: 'podman', enabled: run && requireEngine('docker spawner end to end on podman', podmanProblem) },
];
for (const { engine, SOCK, network, enabled } of engines) {
  const RUN = `e2e-${engine}-${process.pid}`;
  describe.runIf(enabled)(`docker spawner end to end: labhub + ${engine} + jupyterhub-singleuser`, () => {
    const docker = new Docker({ socketPath: SOCK ?? '' });
    let hub: HubProcess;
    let token: string;
    let git: GitHttpServer;
    let gw: string;
    const repoUrl = () => `${git.url}/lab.git`;

    beforeAll(async () => {
      gw = await gatewayIp(docker, network);
      const root = mkdtempSync(join(tmpdir(), 'labhub-git-root-'));
      makeRepo(root, 'lab.git', { 'README.md': 'lab repository\n', 'data/numbers.csv': '1,2,3\n' });
      git = await startGitHttpServer({ host: gw, root, username: 'admin-git', password: GIT_TOKEN });
      ({ hub, token } = await startHub((hubPort) => ({
        hubIp: gw, // containers on the bridge reach the hub at the gateway address
        hubConnectUrl: `http://${gw}:${hubPort}`,
        startTimeoutSeconds: 120,
        httpTimeoutSeconds: 90,
        spawner: {
          kind: 'docker',
          hosts: [{ url: `unix://${SOCK}`, name: `ci-${engine}` }],
          image: env!.LABHUB_TEST_IMAGE_JUPYTER,
          pullPolicy: 'never',
          uid: 1000,
          gid: 100,
          home: { type: 'volume', source: `labhub-home-{username}-${RUN}` },
          // read-only except for the hub group 'teachers' (groups come from the hub's database)
          sharedMounts: [{ source: `labhub-shared-${RUN}`, target: '/shared', readOnly: true, readWriteGroups: ['teachers'] }],
          limits: { memory: '512M', cpus: 1 },
          labels: { 'labhub.test': RUN },
          namePrefix: `labhub-t${process.pid}`, // other runs of this file may share the engine
          stopTimeoutSeconds: 3,
          remove: !process.env.LABHUB_TEST_KEEP,
          git: { userEmail: '{username}@lab.example', repos: [{ url: `${git.url}/lab.git` }] },
        },
      })));
      // the login's auth state (what a GitHub/OIDC login stores), written encrypted like the hub does
      const key = parseCryptKey(readFileSync(join(hub.dataDir, 'labhub_crypt_key'), 'utf8').split(';')[0]);
      const db = new Database(join(hub.dataDir, 'labhub.sqlite'));
      db.pragma('busy_timeout = 5000');
      const blob = new Crypter([key]).encryptJson({ git_credentials: [{ host: `${gw}:${new URL(git.url).port}`, username: 'admin-git', password: GIT_TOKEN }] });
      expect(db.prepare("UPDATE users SET auth_state = ? WHERE name = 'admin'").run(blob).changes).toBe(1);
      db.close();
      expect((await api(hub, token, 'POST', '/users/bob')).status).toBe(201);
      expect((await api(hub, token, 'POST', '/groups/teachers', { users: ['admin'] })).status).toBe(201);
    }, 60_000);

    afterAll(async () => {
      if (hub && token && hub.child.exitCode === null) {
        for (const u of ['admin', 'bob']) await api(hub, token, 'DELETE', `/users/${u}/server`).catch(() => undefined);
        for (let i = 0; i < 40; i++) {
          const a = await serverModel(hub, token, 'admin').catch(() => undefined);
          const b = await serverModel(hub, token, 'bob').catch(() => undefined);
          if (!a && !b) break;
          await new Promise((res) => setTimeout(res, 250));
        }
      }
      await hub?.stop();
      await git?.close();
      if (process.env.LABHUB_TEST_KEEP) return;
      await cleanupTestObjects(docker, RUN);
      expect(await leftovers(docker, RUN)).toEqual([]);
    }, 60_000);

    it('starts jupyterhub-singleuser in a container; a browser reaches it through the proxy with OAuth', async () => {
      const server = await startServer(hub, token, 'admin');
      expect(server.state).toMatchObject({ containerName: `labhub-t${process.pid}-admin`, host: `unix://${SOCK}` });
      const browser = new Browser(hub.publicUrl);
      const login = await browser.login('admin', PASSWORD, '/user/admin/');
      expect(login.status).toBe(200);
      expect(login.chain.some((u) => u.includes('/hub/api/oauth2/authorize'))).toBe(true);
      expect(login.chain.some((u) => u.includes('/user/admin/oauth_callback'))).toBe(true);
      expect(new URL(login.url).pathname).toMatch(/^\/user\/admin\/(tree|lab)/);
      const apiStatus = await browser.get('/user/admin/api/status');
      expect(apiStatus.status).toBe(200);
      expect(JSON.parse(apiStatus.text)).toHaveProperty('started');
      // an anonymous client is sent to the hub's login
      const anon = await fetch(`${hub.publicUrl}/user/admin/tree`, { redirect: 'manual' });
      expect(anon.status).toBe(302);
    }, 200_000);

    it('git: repos cloned at start with a token fetched from the hub; git clone in the container works; no token in docker inspect', async () => {
      const id = String((await serverModel(hub, token, 'admin'))!.state.containerId);
      expect(await exec(docker, id, ['cat', '/home/jovyan/lab/README.md'])).toEqual({ code: 0, out: 'lab repository\n' });
      // as a terminal in Jupyter would: the server's environment, then plain git
      const sh = `set -a; . /opt/labhub/env; set +a; cd /tmp && rm -rf c && git clone -q ${repoUrl()} c && cat c/data/numbers.csv && git -C c config user.email`;
      expect(await exec(docker, id, ['sh', '-c', sh])).toEqual({ code: 0, out: '1,2,3\nadmin@lab.example\n' });
      expect(git.stats.ok).toBeGreaterThan(0);
      expect(git.stats.rejected).toBeGreaterThan(0); // the first request of each clone carries no credential
      // without the hub's help (no server token), git has no credential: the server really requires it
      const anon = await exec(docker, id, ['sh', '-c', `cd /tmp && GIT_TERMINAL_PROMPT=0 git clone -q ${repoUrl()} anon 2>&1; echo rc=$?`]);
      expect(anon.out).toMatch(/rc=128/);
      const inspect = JSON.stringify(await docker.getContainer(id).inspect());
      const apiToken = /JUPYTERHUB_API_TOKEN='([^']+)'/.exec((await exec(docker, id, ['cat', '/opt/labhub/env'])).out)?.[1];
      expect(apiToken).toMatch(/^\S{20,}$/);
      expect(inspect).not.toContain(GIT_TOKEN);
      expect(inspect).not.toContain(apiToken!);
      // the credential endpoint answers only the server's own token
      const cred = await fetch(`${hub.publicUrl}/hub/api/users/admin/git-credentials?host=${gw}:${new URL(git.url).port}`, { headers: { Authorization: `token ${apiToken}` } });
      expect(cred.status).toBe(200);
      expect(await cred.json()).toEqual({ username: 'admin-git', password: GIT_TOKEN });
      const byAdminToken = await fetch(`${hub.publicUrl}/hub/api/users/admin/git-credentials?host=github.com`, { headers: { Authorization: `token ${token}` } });
      expect(byAdminToken.status).toBe(403);
      const otherHost = await fetch(`${hub.publicUrl}/hub/api/users/admin/git-credentials?host=github.com`, { headers: { Authorization: `token ${apiToken}` } });
      expect(otherHost.status).toBe(404);
    }, 120_000);

    it('limits are applied inside the container', async () => {
      const id = String((await serverModel(hub, token, 'admin'))!.state.containerId);
      const mem = await exec(docker, id, ['sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max']);
      expect(mem.out.trim()).toBe(String(512 * 1024 * 1024));
      const cpu = await exec(docker, id, ['sh', '-c', 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max']);
      expect(cpu.out.trim().split(' ')[0]).toBe('100000');
    }, 60_000);

    it('the home survives stop/start and container removal; /shared is visible to two users (rw only for the group teachers); homes are private', async () => {
      const first = String((await serverModel(hub, token, 'admin'))!.state.containerId);
      expect(await exec(docker, first, ['sh', '-c', 'id -u; echo my-notes > ~/notes.txt; echo from-admin > /shared/hello.txt'])).toEqual({ code: 0, out: '1000\n' });
      await stopServer(hub, token, 'admin');
      await expect(docker.getContainer(first).inspect()).rejects.toMatchObject({ statusCode: 404 });
      const again = await startServer(hub, token, 'admin');
      const second = String(again.state.containerId);
      expect(second).not.toBe(first);
      expect(await exec(docker, second, ['cat', '/home/jovyan/notes.txt'])).toEqual({ code: 0, out: 'my-notes\n' });
      const bob = await startServer(hub, token, 'bob', 150_000, { groups: ['teachers'] });
      const bid = String(bob.state.containerId);
      expect(await exec(docker, bid, ['cat', '/shared/hello.txt'])).toEqual({ code: 0, out: 'from-admin\n' });
      const bobWrites = await exec(docker, bid, ['sh', '-c', 'echo x > /shared/bob.txt']);
      expect(bobWrites.code).not.toBe(0); // bob is not in 'teachers': read-only, even if he asks for it in user options
      expect(bobWrites.out).toMatch(/Read-only file system/);
      expect((await exec(docker, bid, ['ls', '-A', '/home/jovyan'])).out).not.toContain('notes.txt');
      const bobMounts = (await docker.getContainer(bid).inspect()).Mounts.map((m) => m.Name).sort();
      expect(bobMounts).toEqual([`labhub-home-bob-${RUN}`, `labhub-shared-${RUN}`]);
      expect((await exec(docker, bid, ['sh', '-c', 'ls /home; cat /proc/mounts | grep -c labhub-home-admin'])).out).toBe('jovyan\n0\n');
    }, 300_000);

    it('orphans: a container labelled for this hub that no server row names is listed (never a server\'s) and an admin removes it', async () => {
      const running = String((await serverModel(hub, token, 'admin'))!.state.containerId);
      const hubLabel = (await docker.getContainer(running).inspect()).Config.Labels['labhub.hub'];
      // what a crash between create and save, or a user deleted while the engine was down, leaves behind
      const ghost = await docker.createContainer({
        Image: env!.LABHUB_TEST_IMAGE_JUPYTER,
        Cmd: ['sleep', '300'],
        name: `labhub-t${process.pid}-ghost-${engine}`,
        Labels: { 'labhub.hub': hubLabel, 'labhub.user': 'ghost', 'labhub.server': '', 'labhub.test': RUN },
      });
      try {
        await ghost.start();
        const listed = (await (await api(hub, token, 'GET', '/orphans')).json()) as { orphans: Array<Record<string, unknown>>; errors: unknown[] };
        expect(listed.errors).toEqual([]);
        expect(listed.orphans).toEqual([expect.objectContaining({ kind: 'docker', id: ghost.id, user: 'ghost', server: '', state: 'running', running: true, where: `unix://${SOCK}` })]);
        const metric = async () => /^labhub_orphan_workloads\{kind="docker"\} (\d+)$/m.exec(await (await fetch(`${hub.publicUrl}/hub/metrics`, { headers: { Authorization: `token ${token}` } })).text())?.[1];
        expect(await metric()).toBe('1'); // the gauge follows each check
        const bobToken = (await runLabhub(['token', 'bob', '--data-dir', hub.dataDir])).stdout.trim();
        expect((await api(hub, bobToken, 'GET', '/orphans')).status).toBe(403);
        expect((await api(hub, bobToken, 'DELETE', `/orphans/docker/${ghost.id}`)).status).toBe(403);
        expect((await api(hub, token, 'DELETE', `/orphans/docker/${running}`)).status).toBe(404); // a server's container: never
        expect((await docker.getContainer(running).inspect()).State.Running).toBe(true);
        expect((await api(hub, token, 'DELETE', `/orphans/docker/${ghost.id}`)).status).toBe(204);
        await expect(ghost.inspect()).rejects.toThrow(/no such container/i);
        expect((await api(hub, token, 'DELETE', `/orphans/docker/${ghost.id}`)).status).toBe(404);
        expect((await (await api(hub, token, 'GET', '/orphans')).json()).orphans).toEqual([]);
        expect(await metric()).toBe('0');
        const audit = (await (await api(hub, token, 'GET', '/audit?action=orphan-removed')).json()) as Array<Record<string, unknown>>;
        expect(audit[0]).toMatchObject({ actor: 'admin', action: 'orphan-removed', target: 'user:ghost' });

        // the same from the admin console: the page lists a leftover, its Remove form takes it away
        const ghost2 = await docker.createContainer({ Image: env!.LABHUB_TEST_IMAGE_JUPYTER, Cmd: ['sleep', '300'], name: `labhub-t${process.pid}-ghost2-${engine}`, Labels: { 'labhub.hub': hubLabel, 'labhub.user': 'ghost2', 'labhub.test': RUN } });
        const browser = new Browser(hub.publicUrl);
        await browser.login('admin', PASSWORD, '/hub/admin');
        expect((await browser.get('/hub/admin')).text).toContain('href="/hub/admin/orphans"');
        const page = await browser.get('/hub/admin/orphans');
        expect(page.status).toBe(200);
        expect(page.text).toContain(`data-id="${ghost2.id}"`);
        expect(page.text).not.toContain(`data-id="${running}"`);
        const xsrf = /name="_xsrf" value="([^"]+)"/.exec(page.text)![1];
        const form = (id: string, withXsrf = true) => ({ method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ ...(withXsrf ? { _xsrf: xsrf } : {}), kind: 'docker', id }).toString() });
        expect((await browser.request('/hub/admin/orphans/remove', form(ghost2.id, false), false)).status).toBe(403); // no _xsrf: refused
        expect((await ghost2.inspect()).Id).toBe(ghost2.id);
        const done = await browser.request('/hub/admin/orphans/remove', form(ghost2.id));
        expect(done.status).toBe(200);
        expect(done.text).toMatch(/id="orphans-flash"[^>]*>Removed docker [0-9a-f]{12} \(ghost2\)/);
        expect(done.text).toContain('id="no-orphans"');
        await expect(ghost2.inspect()).rejects.toThrow(/no such container/i);
      } finally {
        await ghost.remove({ force: true }).catch(() => undefined);
      }
    });

    it('after a hub crash (SIGKILL) the restarted hub re-attaches to the running containers', async () => {
      const before = String((await serverModel(hub, token, 'admin'))!.state.containerId);
      const { dataDir, port, hubPort } = hub;
      await hub.stop('SIGKILL');
      expect((await docker.getContainer(before).inspect()).State.Running).toBe(true); // servers outlive the hub
      // a leftover the restarted hub must report in its log (it never removes one on its own)
      const hubLabel = (await docker.getContainer(before).inspect()).Config.Labels['labhub.hub'];
      const leftover = await docker.createContainer({ Image: env!.LABHUB_TEST_IMAGE_JUPYTER, Cmd: ['sleep', '300'], name: `labhub-t${process.pid}-left-${engine}`, Labels: { 'labhub.hub': hubLabel, 'labhub.user': 'gone', 'labhub.test': RUN } });
      await leftover.start();
      let restarted: HubProcess | undefined;
      for (let attempt = 1; !restarted; attempt++) {
        try {
          restarted = await startHubProcess({ dataDir, port, hubPort, adminPassword: PASSWORD, args: ['--config', join(dataDir, 'labhub.yaml')] });
        } catch (err) {
          if (attempt >= 3) throw err;
          await new Promise((res) => setTimeout(res, 500));
        }
      }
      hub = restarted;
      for (let i = 0; i < 100 && !hub.output().includes('not accounted for by its database'); i++) await new Promise((res) => setTimeout(res, 100));
      expect(hub.output()).toContain('1 workload(s) (containers, VMs, jobs) of this hub are not accounted for by its database: see GET /hub/api/orphans');
      expect(hub.output()).toContain(`docker:${leftover.id.slice(0, 12)} gone/ running on unix://${SOCK}`);
      expect((await leftover.inspect()).State.Running).toBe(true);
      await leftover.remove({ force: true });
      const after = await serverModel(hub, token, 'admin');
      expect(after).toMatchObject({ ready: true, state: { containerId: before } });
      const browser = new Browser(hub.publicUrl);
      await browser.login('admin', PASSWORD, '/user/admin/');
      const status = await browser.get('/user/admin/api/status');
      expect(status.status).toBe(200);
    }, 120_000);
  });
}

describe.runIf(run)('docker spawner end to end: a container that exits at start', () => {
  const docker = new Docker({ socketPath: env?.DOCKER_SOCK ?? '' });
  const runId = `${RUN}-fail`;
  let hub: HubProcess;
  let token: string;

  beforeAll(async () => {
    ({ hub, token } = await startHub(() => ({
      startTimeoutSeconds: 60,
      httpTimeoutSeconds: 30,
      spawner: {
        kind: 'docker',
        hosts: [{ url: `unix://${env!.DOCKER_SOCK}` }],
        image: env!.LABHUB_TEST_IMAGE_BB,
        pullPolicy: 'never',
        cmd: ['sh', '-c', 'echo "loading settings"; echo "fatal: cannot read /etc/jupyter/config.py" >&2; exit 7'],
        home: { type: 'none' },
        namePrefix: `labhub-f${process.pid}`,
        labels: { 'labhub.test': runId },
      },
    })));
  }, 60_000);

  afterAll(async () => {
    await hub?.stop();
    await cleanupTestObjects(docker, runId);
    expect(await leftovers(docker, runId)).toEqual([]);
  }, 60_000);

  it('its last log lines reach the progress stream and the error page; nothing is left behind', async () => {
    const r = await api(hub, token, 'POST', '/users/admin/server');
    expect([201, 202, 500]).toContain(r.status);
    let failed: { message: string } | undefined;
    for (let i = 0; i < 120 && !failed; i++) {
      const res = await api(hub, token, 'GET', '/users/admin/server/progress');
      if (res.status === 200) {
        const text = await res.text();
        const events = text
          .split('\n\n')
          .filter((b) => b.startsWith('data: '))
          .map((b) => JSON.parse(b.slice(6)) as { failed?: boolean; message: string });
        failed = events.find((e) => e.failed);
        if (failed) expect(events.map((e) => e.message)).toContain('Limits: none');
      } else await res.arrayBuffer();
      if (!failed) await new Promise((res) => setTimeout(res, 250));
    }
    expect(failed?.message).toMatch(/^Spawn failed: /);
    expect(failed?.message).toContain('fatal: cannot read /etc/jupyter/config.py');
    // and the error page a browser lands on after the failed spawn
    const browser = new Browser(hub.publicUrl);
    await browser.login('admin', PASSWORD);
    const page = await browser.get('/hub/spawn-pending/admin');
    expect(page.status).toBe(500);
    expect(page.text).toContain('fatal: cannot read /etc/jupyter/config.py');
    expect(await serverModel(hub, token, 'admin')).toBeUndefined();
    const left = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`labhub.test=${runId}`] }) } as object);
    expect(left).toEqual([]);
  }, 120_000);
});
