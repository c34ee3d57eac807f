/**
 * Issue 9 end to end on a REAL one-node Slurm cluster (test/setup/slurm.sh): the `labhub` CLI with the
 * slurm spawner runs Debian's unmodified /usr/bin/jupyterhub-singleuser (--allow-root) as a batch job;
 * the job's wrapper reports host:port to the hub (POST /hub/api/batchspawner); the proxy routes to it;
 * a browser logs in through OAuth. Also: stop → scancel, a job killed outside LabHub, a queued job
 * cancelled from the spawn-pending page, and bad input reaching the progress stream and error page.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import { runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { holdQueue, jobState, loadSlurmEnv, slurmCmd, type SlurmTestEnv } from '../helpers/slurm-env.js';

const ADMIN_PASSWORD = 'admin-test-password';
const { env: slurm, reason } = loadSlurmEnv();

interface Ev {
  progress: number;
  message: string;
  ready?: boolean;
  failed?: boolean;
}

async function api(hub: HubProcess, token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${hub.publicUrl}/hub/api${path}`, {
    method,
    headers: { Authorization: `token ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Reads the SSE progress stream until the terminal event (or until `until` matches), bounded in time. */
async function progress(hub: HubProcess, token: string, until?: (e: Ev) => boolean, timeoutMs = 120_000, user = 'admin'): Promise<Ev[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const events: Ev[] = [];
  try {
    const res = await fetch(`${hub.publicUrl}/hub/api/users/${user}/server/progress`, { headers: { Authorization: `token ${token}` }, signal: ac.signal });
    if (res.status !== 200) throw new Error(`progress: ${res.status} ${await res.text()}`);
    const reader = res.body!.getReader();
    let buf = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += Buffer.from(value).toString();
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const chunk = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = chunk.split('\n').find((l) => l.startsWith('data: '));
        if (!data) continue;
        const e = JSON.parse(data.slice(6)) as Ev;
        events.push(e);
        if (e.ready || e.failed || until?.(e)) {
          ac.abort();
          return events;
        }
      }
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
  }
  return events;
}

/** Starts admin's default server through the API and follows its progress until it is ready. */
async function startReady(hub: HubProcess, token: string, body?: unknown): Promise<Ev[]> {
  const start = await api(hub, token, 'POST', '/users/admin/server', body);
  expect([201, 202]).toContain(start.status);
  const events = await progress(hub, token);
  expect(events.at(-1), events.map((e) => e.message).join('\n')).toMatchObject({ ready: true });
  return events;
}

async function proxyRoutes(hub: HubProcess): Promise<Record<string, { target: string }>> {
  const token = readFileSync(join(hub.dataDir, 'labhub_proxy_token'), 'utf8').trim();
  const res = await fetch(`http://127.0.0.1:${hub.port + 1}/api/routes`, { headers: { Authorization: `token ${token}` } });
  return (await res.json()) as Record<string, { target: string }>;
}

async function serverModel(hub: HubProcess, token: string): Promise<{ ready?: boolean; pending?: string | null; state?: { jobId?: string } } | undefined> {
  const model = (await (await api(hub, token, 'GET', '/users/admin')).json()) as { servers: Record<string, { ready: boolean; pending: string | null; state: { jobId?: string } }> };
  return model.servers[''];
}

async function until<T>(what: string, fn: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await fn();
  while (!ok(v)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 250));
    v = await fn();
  }
  return v;
}

function writeConfig(s: SlurmTestEnv, extra = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'labhub-slurm-hub-'));
  const file = join(dir, 'labhub.yaml');
  writeFileSync(
    file,
    `startTimeoutSeconds: 150
httpTimeoutSeconds: 90
slowSpawnTimeoutSeconds: 2
pollIntervalSeconds: 1
spawner:
  kind: slurm
  workload:
    kind: local
    cmd: [/usr/bin/jupyterhub-singleuser, --allow-root]
  # auto: users with a system account (labhubhpc, made by test/setup/slurm.sh) get jobs as themselves; admin runs as root
  runAs: auto
  homeTemplate: ${s.homes}/{username}
  bindIp: 127.0.0.1
  time: '00:20:00'
  warnBeforeEndMinutes: 30
  queuePollSeconds: 0.5
  # keeps every job PENDING (reason BeginTime) for a moment, so the queue phase is always observable
  extraDirectives: ['--begin=now+4']
  partitions:
    debug: { maxTime: '2:00:00' }
    short: { maxTime: '00:30:00' }
    ghost: { maxTime: '1:00:00', description: 'in LabHub config but not in Slurm' }
  commandEnv:
    SLURM_CONF: ${s.SLURM_CONF}
${extra}`,
  );
  return file;
}

if (!slurm) {
  if (process.env.CI === 'true') {
    describe('slurm + hub', () => {
      it('needs the Slurm test cluster (CI=true: not skipped)', () => {
        throw new Error(`Slurm test cluster unavailable: ${reason}`);
      });
    });
  } else {
    console.warn(`[slurm-hub] SKIPPED: ${reason}`);
    describe.skip(`slurm + hub (skipped: ${reason})`, () => it('needs slurm', () => undefined));
  }
} else {
  const s = slurm;
  describe('slurm spawner through LabHub with the real jupyterhub-singleuser', () => {
    let hub: HubProcess;
    let token: string;
    let configFile: string;
    const resv = `labhub-hub-test-${process.pid}`;

    beforeAll(async () => {
      configFile = writeConfig(s);
      hub = await startHubProcess({ adminPassword: ADMIN_PASSWORD, args: ['--config', configFile] });
      const r = await runLabhub(['token', 'admin', '--data-dir', hub.dataDir]);
      expect(r.code, r.stderr).toBe(0);
      token = r.stdout.trim();
    });

    afterAll(async () => {
      if (token && hub && hub.child.exitCode === null) await api(hub, token, 'DELETE', '/users/admin/server').catch(() => undefined);
      await hub?.stop();
      try {
        slurmCmd(s, ['scontrol', 'delete', `ReservationName=${resv}`]);
      } catch {
        /* not created or already deleted */
      }
      // nothing of ours may be left in the queue
      try {
        slurmCmd(s, ['scancel', '--name=labhub-admin']);
      } catch {
        /* none */
      }
    });

    it('spawn → queued → running on the node → server reachable through the proxy with OAuth → stop → scancel → job gone', { timeout: 240_000 }, async () => {
      const events = await startReady(hub, token, { time: '00:15:00' });
      const msgs = events.map((e) => e.message);
      const iSubmitted = msgs.findIndex((m) => /Batch job \d+ submitted/.test(m));
      const iQueued = msgs.findIndex((m) => /Job \d+ queued \(position \d+, reason BeginTime\)/.test(m));
      const iRunning = msgs.findIndex((m) => /running on node \S+ \(time limit 00:15:00, ends /.test(m));
      const iStarting = msgs.indexOf('starting server');
      expect(iSubmitted).toBeGreaterThan(0);
      expect(iQueued).toBeGreaterThan(iSubmitted);
      expect(iRunning).toBeGreaterThan(iQueued);
      expect(iStarting).toBeGreaterThan(iRunning);
      const jobId = (await serverModel(hub, token))?.state?.jobId;
      expect(jobId).toMatch(/^\d+$/);
      expect(jobState(s, jobId!)).toBe('RUNNING');
      expect(slurmCmd(s, ['squeue', '-h', '-j', jobId!, '-o', '%j'])).toContain('labhub-admin');

      // the proxy routes to the address the job reported; a browser gets in through the OAuth dance
      const routes = await proxyRoutes(hub);
      expect(routes['/user/admin']?.target).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const browser = new Browser(hub.publicUrl);
      const login = await browser.login('admin', ADMIN_PASSWORD, '/user/admin/');
      expect(login.status).toBe(200);
      expect(login.chain.some((u) => u.includes('/hub/api/oauth2/authorize'))).toBe(true);
      expect(login.chain.some((u) => u.includes('/user/admin/oauth_callback?code='))).toBe(true);
      const status = await browser.get('/user/admin/api/status');
      expect(status.status).toBe(200);
      expect(JSON.parse(status.text)).toHaveProperty('started');

      // the wall-time warning reached the hub log (time 15 min < warnBeforeEndMinutes 30), once
      await until('wall-time warning in the hub log', () => hub.output(), (o) => o.includes(`Slurm job ${jobId} reaches its time limit`));
      // and the user's home page, with the job's end time as squeue reports it
      const endTime = slurmCmd(s, ['squeue', '-h', '-j', jobId!, '-o', '%e']).trim();
      const home = await browser.get('/hub/home');
      const warning = /<p class="stop-warning"[^>]*data-stop-at="([^"]+)"[^>]*>([^<]+)</.exec(home.text);
      expect(warning, home.text.slice(0, 2000)).not.toBeNull();
      expect(warning![1]).toBe(new Date(endTime).toISOString());
      expect(warning![2]).toMatch(/batch job reaches its time limit at \d{4}-\d\d-\d\d \d\d:\d\d UTC and will be stopped then/);

      // orphans: the job carries the hub's id in its comment; a job with this hub's comment that no server row
      // names (what a kill -9 between sbatch and the save leaves) is listed, the server's own job is not
      const comment = slurmCmd(s, ['squeue', '-h', '-j', jobId!, '-o', '%k']).trim();
      expect(comment).toMatch(/^labhub:[0-9a-f]+:admin:$/);
      const hubId = comment.split(':')[1];
      const ghostId = slurmCmd(s, ['sbatch', '--parsable', '--job-name=labhub-ghost', `--comment=labhub:${hubId}:ghost:`, '--time=00:05:00', '--output=/dev/null', '--wrap', 'sleep 300']).trim().split(';')[0];
      try {
        const listed = (await (await api(hub, token, 'GET', '/orphans')).json()) as { orphans: Array<Record<string, unknown>>; errors: unknown[] };
        expect(listed.errors).toEqual([]);
        expect(listed.orphans).toEqual([expect.objectContaining({ kind: 'slurm', id: ghostId, user: 'ghost', server: '', running: true, where: 'local' })]);
        expect((await api(hub, token, 'DELETE', `/orphans/slurm/${jobId}`)).status).toBe(404); // the server's own job: never
        expect((await api(hub, token, 'DELETE', `/orphans/slurm/${ghostId}`)).status).toBe(204);
        await until('orphan job cancelled', () => jobState(s, ghostId), (st) => ['CANCELLED', 'COMPLETED', ''].includes(st));
        expect(jobState(s, jobId!)).toBe('RUNNING');
      } finally {
        spawnSync('scancel', [ghostId], { env: { ...process.env, SLURM_CONF: s.SLURM_CONF } });
      }

      const stop = await api(hub, token, 'DELETE', '/users/admin/server');
      expect([202, 204]).toContain(stop.status);
      await until('job to leave the queue', () => jobState(s, jobId!), (st) => ['CANCELLED', 'COMPLETED', ''].includes(st));
      await until('server stopped', () => serverModel(hub, token), (m) => m === undefined || (!m.ready && !m.pending));
      expect((await proxyRoutes(hub))['/user/admin']).toBeUndefined();
    });

    it('a user with a system account: sbatch via runuser, the job and the real jupyterhub-singleuser run as that account, routed through the proxy', { timeout: 240_000 }, async () => {
      const user = s.systemUser;
      expect([201, 409]).toContain((await api(hub, token, 'POST', `/users/${user}`)).status);
      const start = await api(hub, token, 'POST', `/users/${user}/server`);
      expect([201, 202]).toContain(start.status);
      const events = await progress(hub, token, undefined, 120_000, user);
      expect(events.at(-1), events.map((e) => e.message).join('\n')).toMatchObject({ ready: true });
      const model = (await (await api(hub, token, 'GET', `/users/${user}`)).json()) as { servers: Record<string, { state: { jobId: string } }> };
      const jobId = model.servers[''].state.jobId;
      expect(slurmCmd(s, ['squeue', '-h', '-j', jobId, '-o', '%u %T']).trim()).toBe(`${user} RUNNING`);
      const res = await fetch(`${hub.publicUrl}/user/${user}/api`); // jupyter_server's unauthenticated version endpoint, through the proxy
      expect(res.status).toBe(200);
      expect(await res.json()).toHaveProperty('version');
      const pids = slurmCmd(s, ['pgrep', '-u', user, '-f', 'jupyterhub-singleuser']).trim();
      expect(pids).toMatch(/^\d+/);
      expect((await api(hub, token, 'DELETE', `/users/${user}/server`)).status).toBeLessThan(300);
      await until('job gone', () => jobState(s, jobId), (st) => ['CANCELLED', 'COMPLETED', ''].includes(st));
    });

    it('the job and its route survive a hub restart (kill -9): state {jobId, host, port} re-attached via squeue', { timeout: 240_000 }, async () => {
      await startReady(hub, token);
      const jobId = (await serverModel(hub, token))?.state?.jobId;
      const target = (await proxyRoutes(hub))['/user/admin']?.target;
      expect(target).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      await hub.stop('SIGKILL');
      expect(jobState(s, jobId!)).toBe('RUNNING');
      hub = await startHubProcess({ dataDir: hub.dataDir, port: hub.port, hubPort: hub.hubPort, adminPassword: ADMIN_PASSWORD, args: ['--config', configFile] });
      expect((await serverModel(hub, token))?.state?.jobId).toBe(jobId);
      expect((await proxyRoutes(hub))['/user/admin']?.target).toBe(target);
      const browser = new Browser(hub.publicUrl);
      await browser.login('admin', ADMIN_PASSWORD, '/user/admin/');
      expect((await browser.get('/user/admin/api/status')).status).toBe(200);
      expect((await api(hub, token, 'DELETE', '/users/admin/server')).status).toBeLessThan(300);
      await until('job gone', () => jobState(s, jobId!), (st) => ['CANCELLED', 'COMPLETED', ''].includes(st));
    });

    it('a job killed outside LabHub (scancel) → the hub notices at the next poll and marks the server stopped', { timeout: 240_000 }, async () => {
      await startReady(hub, token);
      const jobId = (await serverModel(hub, token))?.state?.jobId;
      expect(jobState(s, jobId!)).toBe('RUNNING');
      expect((await proxyRoutes(hub))['/user/admin']).toBeDefined();
      slurmCmd(s, ['scancel', jobId!]);
      const t0 = Date.now();
      await until('hub to mark the server stopped', () => serverModel(hub, token), (m) => m === undefined, 20_000);
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect((await proxyRoutes(hub))['/user/admin']).toBeUndefined();
      expect(hub.output()).toContain('server stopped unexpectedly');
    });

    it('a queued job (held by a future reservation) cancelled with the spawn-pending page\'s Cancel (DELETE) → scancel', { timeout: 120_000 }, async () => {
      const release = await holdQueue(s, resv);
      try {
        const browser = new Browser(hub.publicUrl);
        await browser.login('admin', ADMIN_PASSWORD);
        const start = await api(hub, token, 'POST', '/users/admin/server', { reservation: resv });
        expect(start.status).toBe(202);
        const queued = await progress(hub, token, (e) => /queued \(position \d+, reason Reservation\)/.test(e.message), 30_000);
        // position 1 unless another test file's job queues in the partition at the same moment
        expect(queued.at(-1)?.message).toMatch(/Job \d+ queued \(position \d+, reason Reservation\)/);
        expect(queued.map((e) => e.message)).not.toContainEqual(expect.stringMatching(/running on node/));
        const jobId = (await serverModel(hub, token))?.state?.jobId ?? /Job (\d+) queued/.exec(queued.at(-1)!.message)![1];
        expect(jobState(s, jobId)).toBe('PENDING');
        // what the page's Cancel button does: DELETE with the page's XSRF token and the login cookie
        const page = await browser.get('/hub/spawn-pending/admin');
        expect(page.status).toBe(200);
        expect(page.text).toContain('id="cancel"');
        expect(page.text).toContain('reason Reservation');
        const xsrf = /data-xsrf="([^"]+)"/.exec(page.text)![1];
        const del = await browser.request('/hub/api/users/admin/server', { method: 'DELETE', headers: { 'X-XSRFToken': xsrf } }, false);
        expect([202, 204]).toContain(del.status);
        await until('queued job cancelled', () => jobState(s, jobId), (st) => st === 'CANCELLED' || st === '');
        await until('server not pending', () => serverModel(hub, token), (m) => m === undefined || !m.pending);
        const after = await progress(hub, token, undefined, 10_000);
        expect(after.at(-1)).toMatchObject({ failed: true });
        expect(after.at(-1)!.message).toMatch(/cancel/i);
      } finally {
        release();
      }
    });

    it('kill -9 while the job is queued: the job id was saved at sbatch, so the restarted hub cancels the job and marks the server stopped', { timeout: 120_000 }, async () => {
      // a future reservation holds the job PENDING
      const held = `${resv}-crash`;
      const release = await holdQueue(s, held);
      try {
        const start = await api(hub, token, 'POST', '/users/admin/server', { reservation: held });
        expect(start.status).toBe(202);
        // the state is in the database while the job still queues
        const queued = await until('job id saved while queued', () => serverModel(hub, token), (m) => typeof m?.state?.jobId === 'string');
        const jobId = queued!.state!.jobId!;
        expect(jobState(s, jobId)).toBe('PENDING');
        await hub.stop('SIGKILL');
        expect(jobState(s, jobId)).toBe('PENDING'); // orphaned until the hub comes back
        hub = await startHubProcess({ dataDir: hub.dataDir, port: hub.port, hubPort: hub.hubPort, adminPassword: ADMIN_PASSWORD, args: ['--config', configFile] });
        await until('queued job cancelled by the restarted hub', () => jobState(s, jobId), (st) => st === 'CANCELLED' || st === '');
        expect(await serverModel(hub, token)).toBeUndefined();
        // and says so in the audit log
        const audit = (await (await api(hub, token, 'GET', '/audit?action=server-cleaned-up')).json()) as Array<{ details?: Record<string, unknown> }>;
        expect(JSON.stringify(audit)).toContain('spawn interrupted by hub restart');
      } finally {
        release();
      }
    });

    it('bad input: unknown partition, time over the maximum, sbatch errors → message on the progress stream, API error and spawn-pending page', { timeout: 120_000 }, async () => {
      const browser = new Browser(hub.publicUrl);
      await browser.login('admin', ADMIN_PASSWORD);
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ partition: 'gpu-huge' }, /Unknown partition 'gpu-huge': choose one of debug, short, ghost/],
        [{ partition: 'short', time: '2:00:00' }, /Time limit 02:00:00 is over the maximum 00:30:00 for partition short/],
        // LabHub allows it, Slurm does not: the message is sbatch's own
        [{ partition: 'ghost' }, /sbatch failed: .*Invalid partition name specified/],
      ];
      for (const [uo, re] of cases) {
        const res = await api(hub, token, 'POST', '/users/admin/server', uo);
        expect(res.status, JSON.stringify(uo)).toBe(500);
        expect(((await res.json()) as { message: string }).message).toMatch(re);
        const events = await progress(hub, token, undefined, 10_000);
        expect(events.at(-1)).toMatchObject({ failed: true });
        expect(events.at(-1)!.message).toMatch(re);
        const page = await browser.get('/hub/spawn-pending/admin');
        expect(page.status).toBe(500);
        expect(page.text.replaceAll('&#39;', "'").replaceAll('&#34;', '"')).toMatch(re);
      }
      // nothing was queued for these
      expect(slurmCmd(s, ['squeue', '-h', '-n', 'labhub-admin', '-t', 'PENDING,RUNNING', '-o', '%i']).trim()).toBe('');
    });
  });

  describe('the spawn page: picking the "HPC node" profile starts a Slurm job with the profile\'s resources', () => {
    let hub: HubProcess;
    let token: string;

    beforeAll(async () => {
      const dir = mkdtempSync(join(tmpdir(), 'labhub-slurm-profile-'));
      const file = join(dir, 'labhub.yaml');
      writeFileSync(
        file,
        `startTimeoutSeconds: 150
httpTimeoutSeconds: 90
slowSpawnTimeoutSeconds: 1
pollIntervalSeconds: 2
spawner:
  kind: local
  cmd: [/usr/bin/jupyterhub-singleuser]
profiles:
  - slug: laptop
    displayName: Small server on the hub machine
  - slug: hpc-node
    displayName: HPC node (8 h)
    description: A Slurm job on a compute node; no SSH tunnels.
    default: true
    limits: { cpu: 2, memory: 1G }
    spawner:
      kind: slurm
      workload: { kind: local, cmd: [/usr/bin/jupyterhub-singleuser, --allow-root] }
      runAs: hub
      homeTemplate: ${s.homes}/{username}
      bindIp: 127.0.0.1
      time: '8:00:00'
      queuePollSeconds: 0.5
      commandEnv: { SLURM_CONF: ${s.SLURM_CONF} }
    options:
      walltime:
        displayName: Wall time
        choices:
          h8: { displayName: 8 hours, default: true, spawner: { time: '8:00:00' } }
          m20: { displayName: 20 minutes (short partition), spawner: { time: '00:20:00', partition: short } }
`,
      );
      hub = await startHubProcess({ adminPassword: ADMIN_PASSWORD, args: ['--config', file] });
      const r = await runLabhub(['token', 'admin', '--data-dir', hub.dataDir]);
      token = r.stdout.trim();
    });

    afterAll(async () => {
      if (token && hub && hub.child.exitCode === null) await api(hub, token, 'DELETE', '/users/admin/server').catch(() => undefined);
      await hub?.stop();
    });

    it('form → sbatch with partition/time/CPUs/memory from the profile → the browser lands in the server', { timeout: 240_000 }, async () => {
      const browser = new Browser(hub.publicUrl);
      await browser.login('admin', ADMIN_PASSWORD);
      const form = await browser.get('/hub/spawn/admin');
      expect(form.status).toBe(200);
      expect(form.text).toContain('HPC node (8 h)');
      expect(form.text).toContain('2 CPUs');
      const xsrf = /name="_xsrf" value="([^"]+)"/.exec(form.text)![1];
      const submitted = await browser.request('/hub/spawn/admin', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _xsrf: xsrf, profile: 'hpc-node', 'profile-option-hpc-node--walltime': 'm20' }).toString(),
      });
      expect(submitted.chain.some((u) => u.includes('/hub/spawn-pending/admin'))).toBe(true);
      const events = await progress(hub, token);
      expect(events.at(-1), events.map((e) => e.message).join('\n')).toMatchObject({ ready: true });
      expect(events.map((e) => e.message)).toContainEqual(expect.stringMatching(/Submitting a batch job \(partition short, time 00:20:00, 2 CPUs, memory 1024M\)/));
      const jobId = (await serverModel(hub, token))?.state?.jobId;
      expect(slurmCmd(s, ['squeue', '-h', '-j', jobId!, '-o', '%P|%l|%C|%m|%T']).trim()).toMatch(/^short\|20:00\|2\|1(024M|G)\|RUNNING$/);
      const landing = await browser.get('/user/admin/'); // what the spawn-pending page redirects to when ready
      expect(landing.status).toBe(200);
      expect(landing.chain.some((u) => u.includes('/hub/api/oauth2/authorize'))).toBe(true);
      expect((await browser.get('/user/admin/api/status')).status).toBe(200);
      expect((await api(hub, token, 'DELETE', '/users/admin/server')).status).toBeLessThan(300);
      await until('job gone', () => jobState(s, jobId!), (st) => ['CANCELLED', 'COMPLETED', ''].includes(st));
    });
  });

  describe('SSH mode through LabHub: sbatch/squeue/scancel on a "login node" (real sshd on 127.0.0.1, key auth)', () => {
    let hub: HubProcess;
    let token: string;

    beforeAll(async () => {
      const file = writeConfig(s).replace(/labhub\.yaml$/, 'labhub-ssh.yaml');
      writeFileSync(
        file,
        readFileSync(writeConfig(s), 'utf8') +
          `  ssh:
    host: ${s.sshHost}
    port: ${s.sshPort}
    user: ${s.sshUser}
    keyFile: ${s.sshKey}
    knownHostsFile: ${s.sshKnownHosts}
`,
      );
      hub = await startHubProcess({ adminPassword: ADMIN_PASSWORD, args: ['--config', file], env: { SLURM_CONF: '/nonexistent/slurm.conf' } });
      token = (await runLabhub(['token', 'admin', '--data-dir', hub.dataDir])).stdout.trim();
    });

    afterAll(async () => {
      if (token && hub && hub.child.exitCode === null) await api(hub, token, 'DELETE', '/users/admin/server').catch(() => undefined);
      await hub?.stop();
    });

    it('spawn → job via ssh → real jupyterhub-singleuser through the proxy → stop → scancel via ssh', { timeout: 240_000 }, async () => {
      const before = readFileSync('/tmp/labhub-ci/sshd/sshd.log', 'utf8').split('Accepted publickey').length;
      const events = await startReady(hub, token);
      expect(events.map((e) => e.message)).toContainEqual(expect.stringMatching(new RegExp(`Submitting a batch job .* via ${s.sshUser}@${s.sshHost.replaceAll('.', '\\.')}:${s.sshPort}`)));
      const jobId = (await serverModel(hub, token))?.state?.jobId;
      expect(jobState(s, jobId!)).toBe('RUNNING');
      const browser = new Browser(hub.publicUrl);
      await browser.login('admin', ADMIN_PASSWORD, '/user/admin/');
      expect((await browser.get('/user/admin/api/status')).status).toBe(200);
      expect((await api(hub, token, 'DELETE', '/users/admin/server')).status).toBeLessThan(300);
      await until('job gone', () => jobState(s, jobId!), (st) => ['CANCELLED', 'COMPLETED', ''].includes(st));
      // the commands really went through sshd (the hub's own SLURM_CONF points nowhere)
      const after = readFileSync('/tmp/labhub-ci/sshd/sshd.log', 'utf8').split('Accepted publickey').length;
      expect(after - before).toBeGreaterThanOrEqual(4); // env file, sbatch, squeue…, scancel
    });
  });
}
