/**
 * EC2 spawner behaviour against the local EC2-compatible fake: what reaches the API (tags, user-data
 * without the token, ClientToken), persistence (stop/start and terminate + home volume), the cost
 * guard, orphan listing, and the failure cases (capacity, permission, never ready, throttling).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Ec2Spawner, findOrphanInstances, listHubInstances, TAG } from '../../spawners/ec2.js';
import type { Ec2SpawnerConfig } from '../../spawners/ec2-options.js';
import type { ProgressEvent, Spawner } from '../../spawners/spawner.js';
import { SpawnFailure } from '../../spawners/spawn-failure.js';
import { shellPart } from '../fakes/fake-ec2/server.js';
import { ec2Options, fakeEc2Unavailable, request, silentLog, startFakes } from '../fakes/fake-ec2/setup.js';

const missing = fakeEc2Unavailable();
if (missing && process.env.CI === 'true') throw new Error(`EC2 spawner tests cannot run: ${missing}`);
const d = missing ? describe.skip : describe;
if (missing) console.warn(`skipping EC2 spawner tests: ${missing}`);

const { fake, boot } = await startFakes();
const started: Spawner[] = [];
let n = 0;
const hubId = `hub${process.pid}`;
const ctx = { dataDir: '/nonexistent', log: silentLog, hubId };
afterAll(async () => {
  await Promise.allSettled(started.map((s) => s.stop({ now: true })));
  await fake.close();
  await boot.close();
});

function spawner(opts: Ec2SpawnerConfig, user = `u${n++}`, state?: Record<string, unknown>): { s: Ec2Spawner; id: { user: string; serverName: string } } {
  const id = { user, serverName: '' };
  const s = new Ec2Spawner(ctx, opts, id, state);
  started.push(s);
  return { s, id };
}

async function startWithProgress(s: Spawner, id: { user: string; serverName: string }, userOptions: Record<string, unknown> = {}) {
  const events: ProgressEvent[] = [];
  const req = request(boot, id, userOptions);
  const p = s.start({ ...req, signal: AbortSignal.timeout(60_000), onProgress: (e) => events.push(e) });
  return { p, events, prefix: req.servicePrefix };
}

const get = (url: string) => fetch(url).then(async (r) => ({ status: r.status, text: await r.text() }));

d('ec2 spawner against the fake EC2 API', () => {
  it('launches with the profile settings and tags, a token-free user-data, and binds the VM private IP', async () => {
    const opts = await ec2Options(fake);
    const { s, id } = spawner(opts);
    const { p, events, prefix } = await startWithProgress(s, id);
    const { url } = await p;
    const state = s.getState() as { instanceId: string; region: string; seat: number };
    const inst = fake.instances.get(state.instanceId)!;
    expect(url).toBe(`http://${inst.privateIp}:${opts.port}`);
    expect(inst.privateIp).toMatch(/^127\.0\.0\.(\d+)$/);
    expect(inst.privateIp).not.toBe('127.0.0.1');
    expect(state).toMatchObject({ region: 'eu-west-2', profile: 'course' });
    expect(inst).toMatchObject({ imageId: 'ami-0123456789abcdef0', instanceType: 't3.medium', subnetId: 'subnet-0abc', securityGroups: ['sg-0hub'], iamInstanceProfile: 'labhub-course-vm', metadataHttpTokens: 'required' });
    expect(inst.tags).toMatchObject({ [TAG.hub]: hubId, [TAG.user]: id.user, [TAG.server]: '-', [TAG.profile]: 'course', [TAG.seat]: String(state.seat), course: 'bioinf-2026' });
    // the user-data never contains the token; the env came from the single-use URL (now spent)
    expect(inst.userData).not.toContain('tok-');
    expect(inst.userData).toContain('/hub/api/bootstrap/');
    expect(inst.userData).toContain('cloud_final_modules');
    const code = /bootstrap\/([\w-]+)/.exec(inst.userData)![1];
    expect(boot.fetched).toContain(code);
    expect((await fetch(`${boot.base}/hub/api/bootstrap/${code}`)).status).toBe(404);
    // the server runs with the JupyterHub env and the configured home
    const who = JSON.parse((await get(`${url}${prefix}whoami`)).text);
    expect(who).toMatchObject({ user: id.user, home: '/home/labhub', cwd: '/home/labhub', token: 'set' });
    expect(events.map((e) => e.message).join('\n')).toMatch(/Requesting a t3.medium VM[\s\S]*is booting[\s\S]*running at 127\.0\.0\.\d+/);
    expect(events.every((e, i) => i === 0 || e.progress >= events[i - 1].progress)).toBe(true);
    await s.stop();
  });

  it("persistence 'stop': stop keeps the VM and its disk, the next start restarts the same VM with fresh user-data", async () => {
    const base = await ec2Options(fake);
    const opts = { ...base, profiles: { ...base.profiles, big: { ...base.profiles.course, instanceType: 'm5.2xlarge', displayName: 'Big VM' } } };
    const { s, id } = spawner(opts);
    const first = await startWithProgress(s, id);
    const { url } = await first.p;
    const instanceId = (s.getState() as { instanceId: string }).instanceId;
    expect((await fetch(`${url}${first.prefix}home/notes.txt`, { method: 'PUT', body: 'day 1 results' })).status).toBe(201);
    await s.stop();
    expect(s.getState()).toEqual({});
    expect(fake.instances.get(instanceId)!.state).toBe('stopped');
    expect(readFileSync(join(fake.instances.get(instanceId)!.root, 'home', 'labhub', 'notes.txt'), 'utf8')).toBe('day 1 results');
    const firstUserData = fake.instances.get(instanceId)!.userData;

    // next morning: a fresh spawner object (the hub keeps no state for stopped servers) finds it by tags
    const again = spawner(opts, id.user);
    const second = await startWithProgress(again.s, id, { profile: 'big' });
    const { url: url2 } = await second.p;
    expect((again.s.getState() as { instanceId: string }).instanceId).toBe(instanceId);
    expect(again.s.getState()).toMatchObject({ profile: 'course' }); // the existing VM keeps its profile
    expect(second.events.some((e) => /Using your existing VM \(profile 'Course VM'\)/.test(e.message))).toBe(true);
    expect(fake.callsOf('StartInstances').some((c) => JSON.stringify(c).includes(instanceId))).toBe(true);
    expect(fake.instances.get(instanceId)!.userData).not.toBe(firstUserData); // new single-use code
    expect(fake.instances.get(instanceId)!.boots).toBe(2);
    expect(second.events.some((e) => /Starting your VM .* again/.test(e.message))).toBe(true);
    expect((await get(`${url2}${second.prefix}home/notes.txt`)).text).toBe('day 1 results');
    await again.s.stop();
  });

  it("persistence 'terminate': a home volume is created once, attached at each start, and outlives the VM", async () => {
    const opts = await ec2Options(fake, {
      persistence: 'terminate',
      homeVolume: { sizeGiB: 5, mountScript: 'd=/mnt/fake-ebs/$(basename {device}); for i in $(seq 1 200); do [ -e "$d" ] && break; sleep 0.1; done; mount --bind "$(readlink -f "$d")" {home}' },
    });
    const { s, id } = spawner(opts);
    const first = await startWithProgress(s, id);
    const { url } = await first.p;
    const st = s.getState() as { instanceId: string; volumeId: string };
    expect(st.volumeId).toMatch(/^vol-/);
    expect(fake.volumes.get(st.volumeId)!.attachment).toMatchObject({ instanceId: st.instanceId, device: '/dev/sdf', state: 'attached' });
    expect((await fetch(`${url}${first.prefix}home/thesis.txt`, { method: 'PUT', body: 'chapter 1' })).status).toBe(201);
    expect(readFileSync(join(fake.volumes.get(st.volumeId)!.dir, 'thesis.txt'), 'utf8')).toBe('chapter 1');
    const root1 = fake.instances.get(st.instanceId)!.root;
    await s.stop();
    expect(fake.instances.get(st.instanceId)!.state).toBe('terminated');
    expect(existsSync(root1)).toBe(false);
    expect(fake.volumes.get(st.volumeId)!.state).toBe('available');

    const again = spawner(opts, id.user);
    const second = await startWithProgress(again.s, id);
    const { url: url2 } = await second.p;
    const st2 = again.s.getState() as { instanceId: string; volumeId: string };
    expect(st2.instanceId).not.toBe(st.instanceId);
    expect(st2.volumeId).toBe(st.volumeId);
    expect(fake.callsOf('CreateVolume')).toHaveLength(1);
    expect((await get(`${url2}${second.prefix}home/thesis.txt`)).text).toBe('chapter 1');
    await again.s.stop();
  });

  it('cost guard: maxRunning per profile gives a clear capacity failure, and frees up after a stop', async () => {
    const opts = await ec2Options(fake, { profiles: { small: { displayName: 'Small VM', imageId: 'ami-0123456789abcdef0', instanceType: 't3.small', maxRunning: 1 } } });
    const a = spawner(opts);
    await (await startWithProgress(a.s, a.id)).p;
    const b = spawner(opts);
    const err = await (await startWithProgress(b.s, b.id)).p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpawnFailure);
    expect((err as SpawnFailure).reason).toBe('capacity');
    expect((err as Error).message).toMatch(/All 1 VM of profile 'Small VM' are in use \(limit 1 running\)/);
    expect((await b.s.poll()).status).toBe('stopped');
    await a.s.stop();
    await (await startWithProgress(b.s, b.id)).p;
    expect((await b.s.poll()).status).toBe('running');
    await b.s.stop();
  });

  it('InsufficientInstanceCapacity: the spawn fails with a capacity message and nothing is left running', async () => {
    const opts = await ec2Options(fake);
    const before = fake.instances.size;
    fake.failNext('RunInstances', 'InsufficientInstanceCapacity', opts.maxAttempts, 'We currently do not have sufficient t3.medium capacity in the Availability Zone you requested (eu-west-2a).');
    const { s, id } = spawner(opts);
    const err = await (await startWithProgress(s, id)).p.catch((e: unknown) => e);
    fake.clearFaults();
    expect(err).toBeInstanceOf(SpawnFailure);
    expect((err as SpawnFailure).reason).toBe('capacity');
    expect((err as Error).message).toMatch(/AWS has no capacity for this VM right now \(InsufficientInstanceCapacity: We currently do not have sufficient t3.medium capacity/);
    expect(fake.instances.size).toBe(before);
    expect(s.getState()).toEqual({});
  });

  it('UnauthorizedOperation: not retried, reported as a permission problem', async () => {
    const opts = await ec2Options(fake);
    const calls = fake.callsOf('RunInstances').length;
    fake.failNext('RunInstances', 'UnauthorizedOperation', 1, 'You are not authorized to perform this operation. Encoded authorization failure message: abc');
    const { s, id } = spawner(opts);
    const err = await (await startWithProgress(s, id)).p.catch((e: unknown) => e);
    expect((err as SpawnFailure).reason).toBe('permission');
    expect((err as Error).message).toMatch(/not allowed to start a VM \(ec2:RunInstances\) \(UnauthorizedOperation\)/);
    expect(fake.callsOf('RunInstances').length).toBe(calls + 1);
  });

  it('throttling: RequestLimitExceeded twice, then success; one VM thanks to the ClientToken', async () => {
    const opts = await ec2Options(fake);
    const calls = fake.callsOf('RunInstances').length;
    const before = fake.instances.size;
    fake.failNext('RunInstances', 'RequestLimitExceeded', 2, 'Request limit exceeded.');
    const { s, id } = spawner(opts);
    const t0 = Date.now();
    const { url } = await (await startWithProgress(s, id)).p;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.\d+:\d+$/);
    const runs = fake.callsOf('RunInstances').slice(calls);
    expect(runs).toHaveLength(3);
    expect(new Set(runs.map((r) => r.ClientToken)).size).toBe(1);
    expect(fake.instances.size).toBe(before + 1);
    expect(Date.now() - t0).toBeGreaterThan(200); // backed off between attempts
    await s.stop();
  });

  it("throttling with code 'Throttling' (HTTP 400) on DescribeInstances is retried too", async () => {
    const opts = await ec2Options(fake);
    const calls = fake.callsOf('DescribeInstances').length;
    fake.failNext('DescribeInstances', 'Throttling', 2, 'Rate exceeded');
    const { s, id } = spawner(opts);
    await (await startWithProgress(s, id)).p; // the first DescribeInstances failed twice: start() only succeeds if it was retried
    expect(fake.pendingFaults()).toBe(0);
    const first = fake.calls.filter((c) => c.action === 'DescribeInstances').slice(calls, calls + 3);
    expect(first.map((c) => JSON.stringify(c.params.Filter))).toEqual(Array(3).fill(JSON.stringify(first[0].params.Filter)));
    await s.stop();
  });

  it('throttling that outlasts the retries fails with a clear message', async () => {
    const opts = await ec2Options(fake, { maxAttempts: 2 });
    fake.failNext('RunInstances', 'RequestLimitExceeded', 2, 'Request limit exceeded.');
    const { s, id } = spawner(opts);
    const err = await (await startWithProgress(s, id)).p.catch((e: unknown) => e);
    fake.clearFaults();
    expect((err as SpawnFailure).reason).toBe('throttled');
    expect((err as Error).message).toMatch(/throttling the hub \(RequestLimitExceeded\) even after retries/);
  });

  it('a VM whose server never answers: timeout, the VM is stopped, and the progress stream says so', async () => {
    const opts = await ec2Options(fake, { cmd: ['sleep', '600'], readyTimeoutSeconds: 4 });
    const { s, id } = spawner(opts);
    const { p, events } = await startWithProgress(s, id);
    const err = await p.catch((e: unknown) => e);
    expect((err as SpawnFailure).reason).toBe('timeout');
    expect((err as Error).message).toMatch(/did not answer within 4 s; the VM was stopped/);
    expect(events.some((e) => /did not answer within 4 s .*; stopping the VM/.test(e.message))).toBe(true);
    const mine = [...fake.instances.values()].filter((i) => i.tags[TAG.user] === id.user);
    expect(mine).toHaveLength(1);
    expect(mine[0].state).toBe('stopped');
    expect(mine[0].proc).toBeNull();
    expect(s.getState()).toEqual({});
  });

  it('a start aborted by the hub (start timeout/cancel) leaves state so that stop() cleans the VM up', async () => {
    const opts = await ec2Options(fake, { cmd: ['sleep', '600'] });
    const { s, id } = spawner(opts);
    const err = await s.start({ ...request(boot, id), signal: AbortSignal.timeout(2500) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpawnFailure);
    const { instanceId } = s.getState() as { instanceId: string };
    expect(fake.instances.get(instanceId)!.state).toBe('running');
    await s.stop({ now: true });
    expect(fake.instances.get(instanceId)!.state).toBe('stopped');
    expect(s.getState()).toEqual({});
  });

  it('concurrent starts of several users get distinct seats and one VM each', async () => {
    const opts = await ec2Options(fake);
    const group = [spawner(opts), spawner(opts), spawner(opts)];
    await Promise.all(group.map(async (g) => (await startWithProgress(g.s, g.id)).p));
    const seats = group.map((g) => (g.s.getState() as { seat: number }).seat);
    expect(new Set(seats).size).toBe(3);
    for (const g of group) expect([...fake.instances.values()].filter((i) => i.tags[TAG.user] === g.id.user)).toHaveLength(1);
    await Promise.all(group.map((g) => g.s.stop()));
  });

  it('lists this hub’s instances and reports orphans the hub does not know', async () => {
    const opts = await ec2Options(fake);
    const known = spawner(opts, 'known-user');
    await (await startWithProgress(known.s, known.id)).p;
    const orphan = spawner(opts, 'orphan-user');
    await (await startWithProgress(orphan.s, orphan.id)).p;
    const other = new Ec2Spawner({ ...ctx, hubId: 'another-hub' }, opts, { user: 'x', serverName: '' });
    started.push(other);
    await other.start({ ...request(boot, { user: 'x', serverName: '' }), signal: AbortSignal.timeout(30_000) });
    const all = await listHubInstances(opts, hubId);
    expect(all.map((i) => i.user)).toEqual(expect.arrayContaining(['known-user', 'orphan-user']));
    expect(all.some((i) => i.user === 'x')).toBe(false);
    const orphans = await findOrphanInstances(opts, hubId, (i) => i.user !== 'orphan-user');
    expect(orphans.map((o) => o.user)).toEqual(['orphan-user']);
    expect(orphans[0]).toMatchObject({ state: 'running', profile: 'course', instanceId: (orphan.s.getState() as { instanceId: string }).instanceId });
    expect(orphans[0].seat).toBeGreaterThan(0);
    const seats = all.filter((i) => i.state === 'running' || i.state === 'stopped').map((i) => i.seat);
    expect(new Set(seats).size).toBe(seats.length); // friendly seat numbers are unique
    await Promise.all([known.s.stop(), orphan.s.stop(), other.stop()]);
  });

  it('user-data parses as MIME multipart with a bash script part', () => {
    const inst = [...fake.instances.values()][0];
    const script = shellPart(inst.userData)!;
    expect(script.startsWith('#!/bin/bash')).toBe(true);
    expect(script).toContain("nohup python3 - >>\"$LOG\" 2>&1 <<'LABHUB_PY' &");
    expect(script).not.toMatch(/JUPYTERHUB_API_TOKEN=|tok-/);
  });
});
