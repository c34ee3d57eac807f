/**
 * Culling and quotas on an in-process hub (real SQLite, LabHub's real proxy, the local spawner
 * running the fake single-user server as real processes) with an injected clock:
 *  - culling: idle timeout from proxy traffic and from activity reports, maximum age per profile,
 *    a lenient group rule, an admin override; culled stops are audited as 'system';
 *  - the home-page warning (nextStopFor) and the schedules API;
 *  - quotas: servers per user (403), running per profile and per group, CPU/memory budget per group (429).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../helpers/test-hub.js';
import { startSchedules } from '../../hub/schedule-wiring.js';
import { nextStopFor } from '../../hub/stop-warnings.js';
import { cullRule } from '../../hub/culler.js';
import { CullingSchema } from '../../config/ops-schema.js';
import supertest from 'supertest';
import { hashPassword } from '../../hub/auth/password.js';

const MIN = 60_000;

describe('culling with an injected clock', () => {
  let t: TestHub;
  // the hub's clock stands still unless the test moves it; the proxy records activity in real time
  let now = Date.now();
  const clock = { now: () => now };
  let admin = '';

  beforeAll(async () => {
    t = await startTestHub(
      {
        profiles: [
          { slug: 'standard', displayName: 'Standard', default: true },
          { slug: 'short', displayName: 'Short sessions' },
        ],
        groups: { staff: { users: ['sam'] } },
        culling: { idleTimeoutSeconds: 600, byProfile: { short: { maxAgeSeconds: 300 } }, byGroup: { staff: { idleTimeoutSeconds: 0 } } },
      },
      { clock },
    );
    admin = t.tokenFor('admin', { admin: true });
    t.hub.deps.schedules = startSchedules(t.hub.deps, []);
    for (const [u, profile] of [['alice', 'standard'], ['carol', 'standard'], ['rita', 'standard'], ['dave', 'short'], ['sam', 'standard']]) {
      if (!t.hub.deps.users.byName(u)) await t.api.post(`/hub/api/users/${u}`).set('Authorization', `token ${admin}`).expect(201);
      await t.api.post(`/hub/api/users/${u}/server`).set('Authorization', `token ${admin}`).send({ profile }).expect(201);
    }
  });
  afterAll(() => t?.close());

  const running = () => t.hub.deps.serverManager.activeServers().map((a) => a.user).sort();

  it('stops idle servers and servers past their maximum age; proxy traffic and activity reports count as activity', async () => {
    // the proxy stamps a route's activity when it is added (= the start); alice never gets traffic
    const routes = (await (await fetch(`${t.proxyApiUrl}/api/routes`, { headers: { Authorization: `token ${t.proxyToken}` } })).json()) as Record<string, { last_activity: string }>;
    const aliceLast = Date.parse(routes['/user/alice'].last_activity);
    await new Promise((r) => setTimeout(r, 1500));
    // traffic through the proxy for carol and dave (the proxy records it), an activity report for rita
    for (const u of ['carol', 'dave']) expect((await fetch(`${t.proxyPublicUrl}/user/${u}/api`)).status).toBe(200);
    const rita = t.tokenFor('rita');
    const iso = new Date().toISOString();
    await t.api.post('/hub/api/users/rita/activity').set('Authorization', `token ${rita}`).send({ last_activity: iso, servers: { '': { last_activity: iso } } }).expect(200);
    // alice: idle 10 min + 0.7 s; carol, rita: idle < 10 min; dave: older than 5 min (max age of 'short')
    now = aliceLast + 10 * MIN + 700;
    const culled = await t.hub.deps.culler.tick();
    expect(culled.map((c) => c.user).sort()).toEqual(['alice', 'dave']);
    expect(culled.find((c) => c.user === 'dave')!.reason).toMatch(/maximum age/);
    expect(culled.find((c) => c.user === 'alice')!.reason).toMatch(/idle for more than 10 min/);
    const carol = t.hub.deps.users.byName('carol')!;
    expect(Date.parse(t.hub.deps.servers.get(carol.id, '')!.last_activity!)).toBeGreaterThan(aliceLast + 1000); // pulled from the proxy
    expect(running()).toEqual(['carol', 'rita', 'sam']); // sam: staff rule turns idle culling off
    const audit = t.hub.deps.audit.query({ action: 'server-stop' }).items;
    expect(audit.map((a) => [a.actor, a.target]).sort()).toEqual([
      ['system', 'server:alice/'],
      ['system', 'server:dave/'],
    ]);
    expect(audit[0].details.reason).toMatch(/^culled: /);
  });

  it('warns before the stop (home page data) and lists next stops in the schedules API', async () => {
    const d = t.hub.deps;
    const carol = d.users.byName('carol')!;
    const w = nextStopFor(d, carol, d.servers.get(carol.id, '')!)!;
    expect(w.kind).toBe('idle');
    expect(w.source).toBe('culler');
    expect(w.message).toMatch(/will be stopped at .* if it stays idle/);
    const sam = d.users.byName('sam')!;
    expect(nextStopFor(d, sam, d.servers.get(sam.id, '')!)).toBeNull();
    const view = await t.api.get('/hub/api/schedules').set('Authorization', `token ${admin}`).expect(200);
    expect(view.body.servers.map((s: { user: string }) => s.user)).toEqual(['carol', 'rita', 'sam']);
    expect(view.body.culling.idleTimeoutSeconds).toBe(600);
    // the user sees it on the home page; sam (no stop planned) sees no warning
    const login = async (name: string) => {
      d.users.setPasswordHash(d.users.byName(name)!.id, await hashPassword(`${name}-password-1`));
      const b = supertest.agent(t.hub.app);
      const page = await b.get('/hub/login');
      await b.post('/hub/login').type('form').send({ username: name, password: `${name}-password-1`, _xsrf: /name="_xsrf" value="([^"]+)"/.exec(page.text)![1] }).expect(302);
      return b;
    };
    const home = await (await login('carol')).get('/hub/home').expect(200);
    expect(home.text).toContain('class="stop-warning"');
    expect(home.text).toContain(`data-stop-at="${w.iso}"`);
    expect(home.text).toMatch(/will be stopped at \d{4}-\d\d-\d\d \d\d:\d\d UTC if it stays idle/);
    expect((await (await login('sam')).get('/hub/home').expect(200)).text).not.toContain('stop-warning');
    // admins see every running server's next stop, with a "keep running" form
    const adminPage = await (await login('admin')).get('/hub/admin/schedules').expect(200);
    expect(adminPage.text).toContain('data-user="carol"');
    expect(adminPage.text).toContain('action="/hub/admin/schedules/override"');
    expect(adminPage.text).toMatch(/Idle timeout: 600 s/);
  });

  it('an admin override keeps a server past its idle timeout; without it the culler stops it', async () => {
    await t.api.post('/hub/api/schedules/override').set('Authorization', `token ${admin}`).send({ user: 'carol', minutes: 120 }).expect(200);
    const user = t.tokenFor('carol');
    await t.api.post('/hub/api/schedules/override').set('Authorization', `token ${user}`).send({ user: 'carol', minutes: 120 }).expect(403);
    // it is in the database: the runner a restarted hub builds has it
    const reloaded = startSchedules(t.hub.deps, []);
    expect(reloaded.memory.overrides.get('carol/')).toBe(now + 120 * MIN);
    reloaded.dispose();
    now += 60 * MIN;
    const culled = await t.hub.deps.culler.tick();
    expect(culled.map((c) => c.user)).toEqual(['rita']);
    expect(running()).toEqual(['carol', 'sam']);
    expect(t.hub.deps.audit.query({ action: 'schedule-override' }).items[0]).toMatchObject({ actor: 'admin', target: 'user:carol' });
    now += 61 * MIN; // override over
    expect((await t.hub.deps.culler.tick()).map((c) => c.user)).toEqual(['carol']);
  });

  it('rule precedence: profile over groups, the most lenient group wins', () => {
    const cfg = CullingSchema.parse({ idleTimeoutSeconds: 600, byProfile: { p: { idleTimeoutSeconds: 60 } }, byGroup: { a: { idleTimeoutSeconds: 1200 }, b: { idleTimeoutSeconds: 3600 }, c: { maxAgeSeconds: 10 } } });
    expect(cullRule(cfg, { profile: 'p', groups: ['b'] }).idleTimeoutSeconds).toBe(60);
    expect(cullRule(cfg, { groups: ['a', 'b'] }).idleTimeoutSeconds).toBe(3600);
    expect(cullRule(cfg, { groups: [] })).toEqual({ idleTimeoutSeconds: 600, maxAgeSeconds: 0 });
    expect(cullRule(cfg, { groups: ['c'] })).toEqual({ idleTimeoutSeconds: 600, maxAgeSeconds: 10 });
  });
});

describe('quotas', () => {
  let t: TestHub;
  let admin = '';
  const start = (user: string, body: Record<string, unknown> = {}, server = '') =>
    t.api.post(`/hub/api/users/${user}/${server ? `servers/${server}` : 'server'}`).set('Authorization', `token ${admin}`).send(body);
  const stop = (user: string, server = '') => t.api.delete(`/hub/api/users/${user}/${server ? `servers/${server}` : 'server'}`).set('Authorization', `token ${admin}`);

  beforeAll(async () => {
    t = await startTestHub({
      allowNamedServers: true,
      profiles: [
        { slug: 'small', displayName: 'Small', default: true, limits: { cpu: 1, memory: '1G' } },
        { slug: 'big', displayName: 'Big', limits: { cpu: 2, memory: '2G' } },
        { slug: 'gpu', displayName: 'GPU', limits: { gpu: 1 } },
      ],
      groups: { class: { users: ['c1', 'c2', 'c3'] }, interns: { users: ['i1', 'i2', 'i3'] } },
      quotas: { maxServersPerUser: 2, maxRunningPerProfile: { gpu: 1 }, maxRunningPerGroup: { interns: 2 }, groupBudgets: { class: { cpu: 3, memory: '4G' } } },
    });
    admin = t.tokenFor('admin', { admin: true });
    for (const u of ['u1', 'g1', 'g2']) await t.api.post(`/hub/api/users/${u}`).set('Authorization', `token ${admin}`).expect(201);
  });
  afterAll(() => t?.close());

  it('servers per user: the third one is refused with 403 and a clear message', async () => {
    await start('u1').expect(201);
    await start('u1', {}, 'a').expect(201);
    const r = await start('u1', {}, 'b');
    expect(r.status).toBe(403);
    expect(r.body.message).toBe('You already have 2 servers running; the limit is 2 per user. Stop one before starting another.');
    await stop('u1', 'a').expect(204);
    await start('u1', {}, 'b').expect(201);
  });

  it('running per profile: 429 with Retry-After until a place is free', async () => {
    await start('g1', { profile: 'gpu' }).expect(201);
    const r = await start('g2', { profile: 'gpu' });
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBe('60');
    expect(r.body.message).toMatch(/All 1 places for the profile 'gpu' are in use/);
    await start('g2', { profile: 'small' }).expect(201); // another profile is fine
    await stop('g2').expect(204);
    await stop('g1').expect(204);
    await start('g2', { profile: 'gpu' }).expect(201);
  });

  it('running per group', async () => {
    await start('i1').expect(201);
    await start('i2').expect(201);
    const r = await start('i3');
    expect(r.status).toBe(429);
    expect(r.body.message).toMatch(/The group 'interns' already runs 2 servers \(its limit is 2\)/);
  });

  it('CPU and memory budget per group, from profile limits', async () => {
    await start('c1', { profile: 'big' }).expect(201); // 2 CPUs, 2G
    await start('c2', { profile: 'small' }).expect(201); // 3 CPUs, 3G in use
    const r = await start('c3', { profile: 'small' });
    expect(r.status).toBe(429);
    expect(r.body.message).toBe("The group 'class' has a budget of 3 CPUs; 3 are in use and this server needs 1. Try a smaller profile or try again later.");
    await stop('c2').expect(204);
    await start('c3', { profile: 'small' }).expect(201);
    // memory: 2G + 1G used; big needs 2G more → over the 4G budget (CPU would also be over: check the message names a budget)
    const m = await start('c2', { profile: 'big' });
    expect(m.status).toBe(429);
    expect(m.body.message).toMatch(/budget/);
  });
});
