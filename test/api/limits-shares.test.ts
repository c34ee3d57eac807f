/** Spawn limits (429 + Retry-After), slow spawns (202), sharing and share codes, metrics, proxy API. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../helpers/test-hub.js';

describe('spawn limits', () => {
  let t: TestHub;
  let admin: string;
  beforeAll(async () => {
    // startTimeout big, slow spawn wait 0: every start answers 202 at once while the spawn goes on
    t = await startTestHub({ concurrentSpawnLimit: 1, activeServerLimit: 2, slowSpawnTimeoutSeconds: 0 });
    admin = t.tokenFor('admin', { admin: true });
    for (const u of ['a', 'b', 'c']) t.tokenFor(u);
  });
  afterAll(async () => t?.close());

  const start = (u: string) => t.api.post(`/hub/api/users/${u}/server`).set('Authorization', `token ${admin}`);
  const waitReady = async (u: string) => {
    for (let i = 0; i < 100; i++) {
      const m = await t.api.get(`/hub/api/users/${u}`).set('Authorization', `token ${admin}`);
      if (m.body.servers['']?.ready) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${u} never became ready`);
  };

  it('answers 202 for a slow spawn, 429 with Retry-After beyond the concurrent limit, then the active limit', async () => {
    expect((await start('a')).status).toBe(202);
    const throttled = await start('b');
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThanOrEqual(30);
    expect(throttled.body.message).toMatch(/Too many users/);
    await waitReady('a');
    expect((await start('b')).status).toBe(202);
    await waitReady('b');
    const full = await start('c');
    expect(full.status).toBe(429);
    expect(full.body.message).toMatch(/Active user limit/);
    const metrics = await t.api.get('/hub/metrics').set('Authorization', `token ${admin}`);
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/jupyterhub_running_servers\{spawner="local"\} 2/);
    expect(metrics.text).toMatch(/jupyterhub_server_spawn_duration_seconds_count\{status="throttled",spawner="local"\} 1/);
    expect(metrics.text).toMatch(/jupyterhub_server_spawn_duration_seconds_count\{status="too-many-users",spawner="local"\} 1/);
    expect(metrics.text).toMatch(/jupyterhub_total_users 4/);
  });

  it('metrics need read:metrics', async () => {
    const user = t.tokenFor('a');
    expect((await t.api.get('/hub/metrics').set('Authorization', `token ${user}`)).status).toBe(403);
  });
});

describe('sharing', () => {
  let t: TestHub;
  let alice: string;
  let bob: string;
  let carol: string;
  beforeAll(async () => {
    t = await startTestHub({ roles: [{ name: 'user', scopes: ['self', 'shares!user'] }], groups: { lab: { users: ['carol'] } } });
    alice = t.tokenFor('alice');
    bob = t.tokenFor('bob');
    carol = t.tokenFor('carol');
    await t.api.post('/hub/api/users/alice/server').set('Authorization', `token ${alice}`).expect(201);
  });
  afterAll(async () => t?.close());

  const as = (tok: string) => ({
    get: (p: string) => t.api.get(`/hub/api${p}`).set('Authorization', `token ${tok}`),
    post: (p: string, b?: object) => t.api.post(`/hub/api${p}`).set('Authorization', `token ${tok}`).send(b ?? {}),
    patch: (p: string, b?: object) => t.api.patch(`/hub/api${p}`).set('Authorization', `token ${tok}`).send(b ?? {}),
    del: (p: string) => t.api.delete(`/hub/api${p}`).set('Authorization', `token ${tok}`),
  });
  const canAccess = async (tok: string) => (await t.api.get('/hub/api/user').set('Authorization', `token ${tok}`)).body.scopes.includes('access:servers!server=alice/');

  it('owner shares with a user and a group; they gain access; revocation takes it away', async () => {
    expect(await canAccess(bob)).toBe(false);
    const s = await as(alice).post('/shares/alice/', { user: 'bob' });
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({ kind: 'user', user: { name: 'bob' }, scopes: ['access:servers!server=alice/'], server: { name: '', user: { name: 'alice' }, url: '/user/alice/' } });
    expect(await canAccess(bob)).toBe(true);
    await as(alice).post('/shares/alice/', { group: 'lab' }).expect(200);
    expect(await canAccess(carol)).toBe(true);
    const list = await as(alice).get('/shares/alice');
    expect(list.body.map((x: { kind: string }) => x.kind).sort()).toEqual(['group', 'user']);
    expect((await as(bob).get('/users/bob/shared')).body.map((x: { server: { user: { name: string } } }) => x.server.user.name)).toEqual(['alice']);
    // bob may not share alice's server onwards, nor list her shares
    expect((await as(bob).post('/shares/alice/', { user: 'carol' })).status).toBe(404);
    await as(alice).patch('/shares/alice/', { user: 'bob', scopes: ['access:servers'] }).expect(200);
    expect(await canAccess(bob)).toBe(false);
    await as(alice).del('/shares/alice/').expect(204);
    expect(await canAccess(carol)).toBe(false);
  });

  it('rejects sharing wider scopes or unknown grantees', async () => {
    expect((await as(alice).post('/shares/alice/', { user: 'bob', scopes: ['admin:users'] })).status).toBe(400);
    expect((await as(alice).post('/shares/alice/', { user: 'bob', scopes: ['access:servers!server=bob/'] })).status).toBe(400);
    expect((await as(alice).post('/shares/alice/', { user: 'nobody' })).status).toBe(400);
    expect((await as(alice).post('/shares/alice/', { user: 'bob', group: 'lab' })).status).toBe(400);
    expect((await as(alice).post('/shares/alice/nosuch', { user: 'bob' })).status).toBe(404);
  });

  it('share codes: created with expiry, accepted by a logged-in user, revoked', async () => {
    const code = await as(alice).post('/share-codes/alice/', { expires_in: 600 });
    expect(code.status).toBe(201);
    expect(code.body.accept_url).toMatch(/^\/hub\/accept-share\?code=sc_/);
    expect((await as(alice).post('/share-codes/alice/', { expires_in: 0 })).status).toBe(400);
    // bob accepts in the browser flow (session cookie + _xsrf); supertest agent keeps cookies
    const d = t.hub.deps;
    const bobRow = d.users.byName('bob')!;
    const { setPasswordHash } = d.users;
    setPasswordHash.call(d.users, bobRow.id, await (await import('../../hub/auth/password.js')).hashPassword('bob-password-1'));
    const page = await t.api.get('/hub/login');
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(page.text)![1];
    await t.api.post('/hub/login').type('form').send({ username: 'bob', password: 'bob-password-1', _xsrf: xsrf }).expect(302);
    const accept = await t.api.get(code.body.accept_url);
    expect(accept.status).toBe(200);
    const xsrf2 = /name="_xsrf" value="([^"]+)"/.exec(accept.text)![1];
    const done = await t.api.post('/hub/accept-share').type('form').send({ code: code.body.code, _xsrf: xsrf2 });
    expect(done.status).toBe(302);
    expect(done.headers.location).toBe('/user/alice/');
    expect(await canAccess(bob)).toBe(true);
    const codes = await as(alice).get('/share-codes/alice');
    expect(codes.body[0]).toMatchObject({ exchange_count: 1 });
    await as(alice).del(`/share-codes/alice/?id=${code.body.id}`).expect(204);
    expect((await t.api.get(code.body.accept_url)).status).toBe(404);
  });
});

describe('proxy API', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub();
  });
  afterAll(async () => t?.close());

  it('GET lists routes (paginated on request), POST re-syncs a route the proxy lost', async () => {
    const admin = t.tokenFor('admin', { admin: true });
    await t.api.post('/hub/api/users/admin/server').set('Authorization', `token ${admin}`).expect(201);
    const routes = await t.api.get('/hub/api/proxy').set('Authorization', `token ${admin}`);
    expect(routes.body['/user/admin']).toMatchObject({ user: 'admin', jupyterhub: true });
    const paged = await t.api.get('/hub/api/proxy?limit=1').set('Authorization', `token ${admin}`).set('Accept', 'application/jupyterhub-pagination+json');
    expect(paged.body.items).toHaveLength(1);
    await fetch(`${t.proxyApiUrl}/api/routes/user/admin`, { method: 'DELETE', headers: { Authorization: `token ${t.proxyToken}` } });
    await t.api.post('/hub/api/proxy').set('Authorization', `token ${admin}`).expect(200);
    const after = await fetch(`${t.proxyApiUrl}/api/routes`, { headers: { Authorization: `token ${t.proxyToken}` } }).then((r) => r.json());
    expect(after['/user/admin']).toMatchObject({ user: 'admin' });
    expect((await t.api.patch('/hub/api/proxy').set('Authorization', `token ${admin}`).send({ port: 'x' })).status).toBe(400);
  });
});
