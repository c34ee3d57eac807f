/**
 * Issue 10 end to end on loopback: the real `labhub` CLI configured with the EC2 spawner pointed at
 * the local EC2-compatible fake, whose "VM" runs Debian's real jupyterhub-singleuser from the
 * user-data. RunInstances → running → server up → proxy route → OAuth login → file written through
 * the notebook contents API → StopInstances → StartInstances (new IP routed, file intact) →
 * TerminateInstances.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { ec2Client, findOrphanInstances, TAG, terminateUserInstances } from '../../spawners/ec2.js';
import { Ec2SpawnerSchema } from '../../spawners/ec2-options.js';
import { testPort } from '../helpers/test-ports.js';
import { Browser } from '../helpers/browser.js';
import { runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { dummyCredentials, fakeEc2Unavailable } from '../fakes/fake-ec2/setup.js';
import { FakeEc2, type FakeInstance } from '../fakes/fake-ec2/server.js';

const SINGLEUSER = '/usr/bin/jupyterhub-singleuser';
const why = fakeEc2Unavailable() ?? (existsSync(SINGLEUSER) ? null : `${SINGLEUSER} is not installed (Debian package jupyterhub)`);
if (why && process.env.CI === 'true') throw new Error(`EC2 end-to-end test cannot run: ${why}`);
if (why) console.warn(`skipping EC2 end-to-end test: ${why}`);
const d = why ? describe.skip : describe;

const ADMIN_PASSWORD = 'admin-test-password';

d('ec2 spawner end to end: labhub + fake EC2 + real jupyterhub-singleuser', () => {
  let hub: HubProcess;
  let fake: FakeEc2;
  let token: string;
  let spawnerConfig: Record<string, unknown>;
  let configFile: string;
  let dir: string;
  const browser = () => new Browser(hub.publicUrl);

  const api = (method: string, path: string, body?: unknown) =>
    fetch(`${hub.publicUrl}/hub/api${path}`, { method, headers: { Authorization: `token ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });

  async function serverModel(): Promise<{ ready: boolean; pending: string | null; url: string; state: { instanceId?: string } } | undefined> {
    const model = (await (await api('GET', '/users/admin')).json()) as { servers: Record<string, { ready: boolean; pending: string | null; url: string; state: { instanceId?: string } }> };
    return model.servers[''];
  }

  async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 120_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (let i = 0; Date.now() < deadline; i++) {
      const v = await fn();
      if (v) return v;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`timed out waiting for ${what}\n${hub.output().slice(-3000)}`);
  }

  async function routes(): Promise<Record<string, { target: string }>> {
    const t = readFileSync(join(hub.dataDir, 'labhub_proxy_token'), 'utf8').trim();
    return (await (await fetch(`http://127.0.0.1:${hub.port + 1}/api/routes`, { headers: { Authorization: `token ${t}` } })).json()) as Record<string, { target: string }>;
  }

  const adminInstance = (): FakeInstance | undefined => [...fake.instances.values()].find((i) => i.tags[TAG.user] === 'admin' && i.state !== 'terminated');

  beforeAll(async () => {
    Object.assign(process.env, dummyCredentials()); // for the admin-side helpers called from this process
    dir = mkdtempSync(join(tmpdir(), 'labhub-ec2-e2e-'));
    fake = await new FakeEc2({ dataDir: join(dir, 'ec2'), region: 'eu-west-2', newIpOnStart: true }).start();
    spawnerConfig = {
      kind: 'ec2',
      region: 'eu-west-2',
      endpoint: fake.endpoint,
      metadataEndpoint: fake.metadataEndpoint,
      port: await testPort(),
      cmd: [SINGLEUSER],
      args: ['--allow-root'],
      serverUser: 'root',
      homeDir: '/home/labhub',
      pollSeconds: 0.5,
      readyTimeoutSeconds: 90,
      profiles: { course: { displayName: 'Bioinformatics course VM', imageId: 'ami-0123456789abcdef0', instanceType: 't3.large', subnetId: 'subnet-0abc', securityGroupIds: ['sg-0hub'], maxRunning: 30 },
        closed: { displayName: 'GPU VM', imageId: 'ami-0123456789abcdef0', instanceType: 'g5.xlarge', maxRunning: 0 },
      },
    };
    const file = (configFile = join(dir, 'labhub.yaml'));
    writeFileSync(file, JSON.stringify({ startTimeoutSeconds: 120, httpTimeoutSeconds: 60, slowSpawnTimeoutSeconds: 1, spawner: spawnerConfig }));
    hub = await startHubProcess({ adminPassword: ADMIN_PASSWORD, args: ['--config', file], env: dummyCredentials() });
    const r = await runLabhub(['token', 'admin', '--data-dir', hub.dataDir]);
    expect(r.code, r.stderr).toBe(0);
    token = r.stdout.trim();
  });

  afterAll(async () => {
    if (hub && token && hub.child.exitCode === null) await api('DELETE', '/users/admin/server').catch(() => undefined);
    await hub?.stop();
    await fake?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (hub) rmSync(hub.dataDir, { recursive: true, force: true });
  });

  it('RunInstances → running → server up → proxy route → OAuth login; a file written through the contents API', async () => {
    const start = await api('POST', '/users/admin/server');
    expect([201, 202]).toContain(start.status);
    const model = await waitFor('server ready', async () => {
      const m = await serverModel();
      return m?.ready ? m : undefined;
    });
    const inst = adminInstance()!;
    expect(model.state.instanceId).toBe(inst.id);
    expect(fake.callsOf('RunInstances')).toHaveLength(1);
    expect(inst.userData).not.toMatch(/JUPYTERHUB_API_TOKEN|JPY_API_TOKEN/);
    const r = await routes();
    expect(r['/user/admin']?.target).toBe(`http://${inst.privateIp}:${spawnerConfig.port}`);

    const b = browser();
    const login = await b.login('admin', ADMIN_PASSWORD, '/user/admin/');
    expect(login.status).toBe(200);
    expect(login.chain.some((u) => u.includes('/hub/api/oauth2/authorize'))).toBe(true);
    expect(login.chain.some((u) => u.includes('/user/admin/oauth_callback?code='))).toBe(true);
    const cookies = await b.jar.getCookies(`${hub.publicUrl}/user/admin/`);
    const xsrf = cookies.find((c) => c.key === '_xsrf')?.value;
    expect(xsrf, `cookies: ${cookies.map((c) => c.key).join(',')}`).toMatch(/^\S{8,}$/);
    const put = await b.request('/user/admin/api/contents/x.txt', {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json', 'X-XSRFToken': xsrf! },
      body: JSON.stringify({ type: 'file', format: 'text', content: 'results of day 1\n' }),
    });
    expect(put.status, put.text).toBeLessThan(300);
    expect(readFileSync(join(inst.root, 'home', 'labhub', 'x.txt'), 'utf8')).toBe('results of day 1\n');
  });

  it('a hub restart re-attaches to the running VM (DescribeInstances) and keeps its route', async () => {
    const inst = adminInstance()!;
    await hub.stop();
    hub = await startHubProcess({ dataDir: hub.dataDir, port: hub.port, hubPort: hub.hubPort, adminPassword: ADMIN_PASSWORD, args: ['--config', configFile], env: dummyCredentials() });
    expect((await serverModel())?.state.instanceId).toBe(inst.id);
    expect((await routes())['/user/admin']?.target).toBe(`http://${inst.privateIp}:${spawnerConfig.port}`);
    expect(inst.state).toBe('running');
    expect(inst.boots).toBe(1);
    const b = browser();
    expect((await b.login('admin', ADMIN_PASSWORD, '/user/admin/')).status).toBe(200);
    expect((await b.get('/user/admin/api/status')).status).toBe(200);
  });

  it('StopInstances on server stop: route removed, the VM is stopped with its disk kept', async () => {
    const inst = adminInstance()!;
    const res = await api('DELETE', '/users/admin/server');
    expect([202, 204]).toContain(res.status);
    await waitFor('server stopped', async () => !(await serverModel())?.url && !(await serverModel())?.pending);
    expect(inst.state).toBe('stopped');
    expect(fake.callsOf('StopInstances').length).toBeGreaterThan(0);
    expect(fake.callsOf('TerminateInstances')).toHaveLength(0);
    expect(inst.proc).toBeNull();
    expect((await routes())['/user/admin']).toBeUndefined();
    expect(existsSync(join(inst.root, 'home', 'labhub', 'x.txt'))).toBe(true);
  });

  it('StartInstances next morning: the same VM, its new IP routed, the file intact', async () => {
    const inst = adminInstance()!;
    const oldIp = inst.privateIp;
    expect((await api('POST', '/users/admin/server')).status).toBeLessThan(300);
    const model = await waitFor('server ready again', async () => {
      const m = await serverModel();
      return m?.ready ? m : undefined;
    });
    expect(model.state.instanceId).toBe(inst.id);
    expect(fake.callsOf('RunInstances')).toHaveLength(1);
    expect(fake.callsOf('StartInstances').length).toBe(1);
    expect(inst.boots).toBe(2);
    expect(inst.privateIp).not.toBe(oldIp);
    expect((await routes())['/user/admin']?.target).toBe(`http://${inst.privateIp}:${spawnerConfig.port}`);
    const b = browser();
    expect((await b.login('admin', ADMIN_PASSWORD, '/user/admin/')).status).toBe(200);
    const file = await b.get('/user/admin/api/contents/x.txt?type=file&format=text');
    expect(file.status).toBe(200);
    expect(JSON.parse(file.text).content).toBe('results of day 1\n');
  });

  it('orphan detection knows the VM; TerminateInstances removes it and its disk', async () => {
    const inst = adminInstance()!;
    const hubId = inst.tags[TAG.hub];
    const opts = Ec2SpawnerSchema.parse(spawnerConfig);
    expect(await findOrphanInstances(opts, hubId, (i) => i.user === 'admin')).toEqual([]);
    expect((await findOrphanInstances(opts, hubId, () => false)).map((i) => i.instanceId)).toEqual([inst.id]);
    // through the hub's API: the admin's VM is accounted for by its server row; a VM tagged for this
    // hub that no row names (a crash before the id was saved, a user deleted while AWS was unreachable) is an orphan
    expect(await (await api('GET', '/orphans')).json()).toEqual({ orphans: [], errors: [] });
    const launched = await ec2Client(opts).send(
      new RunInstancesCommand({ ImageId: 'ami-0ghost', MinCount: 1, MaxCount: 1, TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: TAG.hub, Value: hubId }, { Key: TAG.user, Value: 'ghost' }, { Key: TAG.server, Value: '-' }] }] }),
    );
    const ghostId = launched.Instances![0].InstanceId!;
    const listed = (await (await api('GET', '/orphans')).json()) as { orphans: Array<Record<string, unknown>> };
    expect(listed.orphans).toEqual([expect.objectContaining({ kind: 'ec2', id: ghostId, user: 'ghost', server: '', where: 'eu-west-2' })]);
    expect((await api('DELETE', `/orphans/ec2/${inst.id}`)).status).toBe(404); // a server's VM is never removed this way
    expect((await api('DELETE', `/orphans/ec2/${ghostId}`)).status).toBe(204);
    await waitFor('orphan terminated', async () => fake.instances.get(ghostId)?.state === 'terminated');
    expect(JSON.stringify(fake.callsOf('TerminateInstances').at(-1))).toContain(ghostId);
    expect(await (await api('GET', '/orphans')).json()).toEqual({ orphans: [], errors: [] });
    expect((await api('DELETE', '/users/admin/server')).status).toBeLessThan(300);
    await waitFor('server stopped', async () => inst.state === 'stopped');
    // the VM stops before the hub's stop() returns: wait for the hub too (the next test starts this server again)
    await waitFor('hub marks the server stopped', async () => (await serverModel()) === undefined);
    expect(await terminateUserInstances(opts, hubId, { user: 'admin' })).toEqual([inst.id]);
    expect(inst.state).toBe('terminated');
    expect(existsSync(inst.root)).toBe(false);
    expect(await findOrphanInstances(opts, hubId, () => false)).toEqual([]);
  });

  it('the cost guard message reaches the API error and the progress stream', async () => {
    const before = fake.callsOf('RunInstances').length;
    const res = await api('POST', '/users/admin/server', { profile: 'closed' });
    expect(res.status, await res.clone().text()).toBe(429); // fails within slowSpawnTimeoutSeconds: answered with the spawn error; out of capacity is "try later"
    expect(((await res.json()) as { message: string }).message).toMatch(/Profile 'GPU VM' is not available right now/);
    const sse = await fetch(`${hub.publicUrl}/hub/api/users/admin/server/progress`, { headers: { Authorization: `token ${token}` }, signal: AbortSignal.timeout(15_000) });
    const events = (await sse.text()).split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as { message: string; failed?: boolean });
    const last = events[events.length - 1];
    expect(last.failed).toBe(true);
    expect(last.message).toMatch(/Spawn failed: Profile 'GPU VM' is not available right now \(its limit is 0 running VMs\)/);
    expect(fake.callsOf('RunInstances').length).toBe(before);
  });

  it('kill -9 while the VM boots: the instance id was saved at RunInstances, so the restarted hub stops the VM and marks the server stopped', async () => {
    // a server that takes long to answer: the VM's command sleeps before starting Jupyter
    const slowFile = join(dir, 'labhub-slow.yaml');
    writeFileSync(slowFile, JSON.stringify({ startTimeoutSeconds: 120, httpTimeoutSeconds: 60, slowSpawnTimeoutSeconds: 1, spawner: { ...spawnerConfig, cmd: ['/bin/sh', '-c', `sleep 120; exec ${SINGLEUSER} "$@"`, 'sh'] } }));
    const restart = () => startHubProcess({ dataDir: hub.dataDir, port: hub.port, hubPort: hub.hubPort, adminPassword: ADMIN_PASSWORD, args: ['--config', slowFile], env: dummyCredentials() });
    await hub.stop();
    hub = await restart();
    expect((await api('POST', '/users/admin/server')).status).toBe(202);
    const booting = await waitFor('instance id saved while the VM boots', async () => {
      const m = await serverModel();
      return m?.pending === 'spawn' && m.state?.instanceId ? m : undefined;
    });
    const id = booting.state.instanceId!;
    await hub.stop('SIGKILL');
    expect(['pending', 'running']).toContain(fake.instances.get(id)?.state); // orphaned until the hub comes back
    hub = await restart();
    await waitFor('VM stopped by the restarted hub', async () => ['stopping', 'stopped', 'shutting-down', 'terminated'].includes(fake.instances.get(id)?.state ?? ''));
    expect(await serverModel()).toBeUndefined();
  });
});
