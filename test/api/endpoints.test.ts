/**
 * Walks the JupyterHub REST API with allowed and forbidden callers — admin, a user, the user's token
 * narrowed to a few scopes, the user's server token, a service token, another user — and checks
 * status codes and body shapes (issue "full JupyterHub REST API, RBAC").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoNow } from '../../hub/clock.js';
import { SERVER_TOKEN_SCOPES } from '../../hub/servers.js';
import { startTestHub, type TestHub } from '../helpers/test-hub.js';

type Caller = 'admin' | 'alice' | 'aliceNarrow' | 'aliceServer' | 'service' | 'bob' | 'anon';

let t: TestHub;
const tokens = {} as Record<Caller, string>;

beforeAll(async () => {
  t = await startTestHub(
    {
      allowNamedServers: true,
      services: [{ name: 'culler', apiTokenEnv: 'CULLER_TOKEN' }],
      roles: [{ name: 'culler', scopes: ['list:users', 'read:users:activity', 'read:servers', 'delete:servers', 'admin:users'], services: ['culler'] }],
      groups: { physics: { users: ['alice'], properties: { gpu: true } } },
    },
    { serviceTokens: { culler: 'culler-service-token-0123456789' } },
  );
  tokens.admin = t.tokenFor('admin', { admin: true });
  tokens.alice = t.tokenFor('alice');
  tokens.aliceNarrow = t.tokenFor('alice', { scopes: ['read:users:name!user=alice', 'read:users:activity!user=alice'] });
  tokens.bob = t.tokenFor('bob');
  tokens.service = 'culler-service-token-0123456789';
  tokens.anon = '';
  const d = t.hub.deps;
  const alice = d.users.byName('alice')!;
  const row = d.servers.ensure(alice.id, '', 'local');
  tokens.aliceServer = d.tokens.create({ kind: 'server', userId: alice.id, serverId: row.id, scopes: SERVER_TOKEN_SCOPES, now: isoNow(d.clock) }).token;
});

afterAll(async () => {
  await t?.close();
});

function call(caller: Caller, method: string, path: string, body?: unknown) {
  const req = t.api[method.toLowerCase() as 'get'](`/hub/api${path}`);
  if (tokens[caller]) req.set('Authorization', `token ${tokens[caller]}`);
  if (body !== undefined) req.send(body as object);
  return req;
}

const cases: Array<[string, string, unknown, Partial<Record<Caller, number>>]> = [
  ['GET', '/', undefined, { anon: 200 }],
  ['GET', '/info', undefined, { admin: 200, alice: 403, service: 403, anon: 403 }],
  ['GET', '/user', undefined, { admin: 200, alice: 200, aliceNarrow: 200, aliceServer: 200, service: 200, anon: 403 }],
  ['GET', '/users', undefined, { admin: 200, service: 200, alice: 403, aliceNarrow: 403, aliceServer: 403, anon: 403 }],
  ['GET', '/users/alice', undefined, { admin: 200, alice: 200, aliceNarrow: 403, bob: 404, service: 200, aliceServer: 403 }],
  ['GET', '/users/bob', undefined, { admin: 200, alice: 404, bob: 200 }],
  ['POST', '/users/alice/activity', { last_activity: new Date().toISOString() }, { aliceServer: 200, alice: 200, bob: 404, aliceNarrow: 403 }],
  ['GET', '/users/alice/tokens', undefined, { admin: 200, alice: 200, bob: 404, aliceServer: 403, service: 403 }],
  ['POST', '/users/alice/tokens', { note: 'x' }, { admin: 201, alice: 201, bob: 404, aliceNarrow: 403 }],
  ['GET', '/groups', undefined, { admin: 200, alice: 403, service: 403 }],
  ['GET', '/groups/physics', undefined, { admin: 200, alice: 403 }],
  ['POST', '/groups/chemistry', {}, { admin: 201, alice: 403 }],
  ['GET', '/services', undefined, { admin: 200, alice: 403 }],
  ['GET', '/services/culler', undefined, { admin: 200, alice: 403 }],
  ['GET', '/proxy', undefined, { admin: 200, alice: 403, service: 403 }],
  ['POST', '/users', { usernames: ['carol'] }, { admin: 201, alice: 403 }],
  ['POST', '/users', { usernames: ['dave'] }, { service: 201 }],
  ['DELETE', '/users/carol', undefined, { alice: 403, service: 204 }],
  ['DELETE', '/users/dave', undefined, { admin: 204 }],
  ['POST', '/shutdown', {}, { alice: 403, service: 403, bob: 403 }],
  ['GET', '/shares/alice', undefined, { admin: 200, alice: 403, bob: 403 }],
];

describe('endpoint walk: every caller gets the documented status', () => {
  for (const [method, path, body, expected] of cases) {
    for (const [caller, status] of Object.entries(expected) as Array<[Caller, number]>) {
      it(`${method} ${path} as ${caller} → ${status}`, async () => {
        const res = await call(caller, method, path, body);
        expect(res.status, JSON.stringify(res.body)).toBe(status);
        if (status >= 400) expect(res.body).toMatchObject({ status, message: expect.any(String) });
      });
    }
  }
});

describe('models and bodies', () => {
  it('GET /user for an OAuth-like narrowed token shows only what its scopes allow', async () => {
    const res = await call('aliceNarrow', 'GET', '/user');
    expect(res.body).toMatchObject({ kind: 'user', name: 'alice', last_activity: expect.any(String) });
    expect(res.body).not.toHaveProperty('servers');
    expect(res.body).not.toHaveProperty('created');
    expect(res.body.scopes).toEqual(['read:users:activity!user=alice', 'read:users:name!user=alice']);
    expect(res.body.token_id).toMatch(/^a\d+$/);
  });

  it('GET /user for the server token: activity and access to its own server only', async () => {
    const res = await call('aliceServer', 'GET', '/user');
    expect(res.body.scopes).toEqual(['access:servers!server=alice/', 'read:users:activity!user=alice', 'users:activity!user=alice']);
  });

  it('GET /user for a service token is a service model', async () => {
    const res = await call('service', 'GET', '/user');
    expect(res.body).toMatchObject({ kind: 'service', name: 'culler', roles: ['culler'] });
    expect(res.body.scopes).toContain('list:users');
  });

  it('the user model as admin has every field; groups come from config', async () => {
    const res = await call('admin', 'GET', '/users/alice');
    expect(Object.keys(res.body).sort()).toEqual(['admin', 'auth_state', 'created', 'groups', 'kind', 'last_activity', 'name', 'pending', 'roles', 'server', 'servers'].sort());
    expect(res.body.groups).toEqual(['physics']);
    expect(res.body.roles).toEqual(['user']);
  });

  it('GET /users with list:users filtered to a group lists only that group', async () => {
    const d = t.hub.deps;
    const token = d.tokens.create({ kind: 'api', userId: d.users.byName('admin')!.id, scopes: ['list:users!group=physics', 'read:users:name!group=physics'], now: isoNow(d.clock) }).token;
    const res = await t.api.get('/hub/api/users').set('Authorization', `token ${token}`);
    expect(res.status).toBe(200);
    expect(res.body.map((u: { name: string }) => u.name)).toEqual(['alice']);
  });

  it('auth_state is decrypted for admin:auth_state only', async () => {
    t.hub.deps.authState.set(t.hub.deps.users.byName('alice')!.id, { access_token: 'gho_secret_for_test' });
    expect((await call('admin', 'GET', '/users/alice')).body.auth_state).toEqual({ access_token: 'gho_secret_for_test' });
    expect((await call('alice', 'GET', '/users/alice')).body).not.toHaveProperty('auth_state');
    // admin:users includes admin:auth_state (JupyterHub's hierarchy): the culler's role sees it, read:users does not
    expect((await call('service', 'GET', '/users/alice')).body.auth_state).toEqual({ access_token: 'gho_secret_for_test' });
    const d = t.hub.deps;
    const reader = d.tokens.create({ kind: 'api', userId: d.users.byName('admin')!.id, scopes: ['read:users', 'read:servers'], now: isoNow(d.clock) }).token;
    const viaReader = await t.api.get('/hub/api/users/alice').set('Authorization', `token ${reader}`);
    expect(viaReader.status).toBe(200);
    expect(JSON.stringify(viaReader.body)).not.toContain('gho_secret_for_test');
  });

  it('a token cannot get more than its owner: 403 naming the scope', async () => {
    const res = await call('alice', 'POST', '/users/alice/tokens', { scopes: ['admin:users'] });
    expect(res.status).toBe(403);
    expect(res.body.message).toContain('admin:users');
  });

  it('tokens: created with expiry and note, listed, revoked; the token works until revoked', async () => {
    const created = await call('alice', 'POST', '/users/alice/tokens', { note: 'laptop', expires_in: 3600, scopes: ['read:users!user=alice'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ note: 'laptop', user: 'alice', scopes: ['read:users!user=alice'] });
    expect(created.body.token).toMatch(/^[0-9a-f]{32}$/);
    expect(Date.parse(created.body.expires_at) - Date.now()).toBeGreaterThan(3500_000);
    const list = await call('alice', 'GET', '/users/alice/tokens');
    expect(list.body.api_tokens.map((x: { id: string }) => x.id)).toContain(created.body.id);
    expect(JSON.stringify(list.body)).not.toContain(created.body.token);
    const use = await t.api.get('/hub/api/users/alice').set('Authorization', `Bearer ${created.body.token}`);
    expect(use.status).toBe(200);
    expect((await call('alice', 'DELETE', `/users/alice/tokens/${created.body.id}`)).status).toBe(204);
    expect((await t.api.get('/hub/api/users/alice').set('Authorization', `token ${created.body.token}`)).status).toBe(403);
    // the database holds only a hash
    const raw = t.hub.deps.db.prepare('SELECT hashed FROM api_tokens').all() as Array<{ hashed: string }>;
    expect(raw.some((r) => r.hashed === created.body.token)).toBe(false);
  });

  it('bad token input is a 400 with a message', async () => {
    for (const body of [{ expires_in: -5 }, { scopes: 'all' }, { scopes: ['no:such:scope'] }, { roles: ['nope'] }, { note: 5 }]) {
      const res = await call('alice', 'POST', '/users/alice/tokens', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
  });

  it('users: bulk create (409 when all exist), PATCH rename and admin, DELETE', async () => {
    const created = await call('admin', 'POST', '/users', { usernames: ['u1', 'u2', 'U1'], admin: false });
    expect(created.status).toBe(201);
    expect(created.body.map((u: { name: string }) => u.name)).toEqual(['u1', 'u2']);
    expect((await call('admin', 'POST', '/users', { usernames: ['u1', 'u2'] })).status).toBe(409);
    const patched = await call('admin', 'PATCH', '/users/u1', { name: 'u1-renamed', admin: true });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: 'u1-renamed', admin: true });
    expect((await call('admin', 'PATCH', '/users/u2', { name: 'u1-renamed' })).status).toBe(400);
    expect((await call('admin', 'PATCH', '/users/u2', { bogus: 1 })).status).toBe(400);
    expect((await call('admin', 'DELETE', '/users/u2')).status).toBe(204);
    expect((await call('admin', 'GET', '/users/u2')).status).toBe(404);
  });

  it('admin rights: a caller with admin:users who is not an admin can neither make admins nor change one (JupyterHub 4+)', async () => {
    // the culler service holds admin:users but not the admin role
    const made = await call('service', 'POST', '/users', { usernames: ['esc1'], admin: true });
    expect(made.status).toBe(403);
    expect(made.body.message).toBe('Only admins can grant admin permissions');
    expect((await call('admin', 'GET', '/users/esc1')).status).toBe(404);
    expect((await call('service', 'POST', '/users/esc2', { admin: true })).status).toBe(403);
    expect((await call('admin', 'GET', '/users/esc2')).status).toBe(404);
    expect((await call('service', 'POST', '/users', { usernames: ['esc3'] })).status).toBe(201);
    const grant = await call('service', 'PATCH', '/users/esc3', { admin: true });
    expect(grant.status).toBe(403);
    expect((await call('admin', 'GET', '/users/esc3')).body.admin).toBe(false);
    expect((await call('service', 'PATCH', '/users/esc3', { name: 'esc3-renamed' })).status).toBe(200);
    // an admin may; then the service may no longer touch that user at all
    expect((await call('admin', 'PATCH', '/users/esc3-renamed', { admin: true })).body.admin).toBe(true);
    const touch = await call('service', 'PATCH', '/users/esc3-renamed', { name: 'esc3-again' });
    expect(touch.status).toBe(403);
    expect(touch.body.message).toBe('Only admins can modify other admins');
    expect((await call('admin', 'GET', '/users/esc3-renamed')).status).toBe(200);
    expect((await call('admin', 'DELETE', '/users/esc3-renamed')).status).toBe(204);
  });

  it('PATCH needs a body (as JupyterHub: 400, nothing changed) and sets auth_state, encrypted, for admin:auth_state', async () => {
    expect((await call('admin', 'POST', '/users/patchme')).status).toBe(201);
    for (const body of [undefined, '', '   ', 'null']) {
      const req = t.api.patch('/hub/api/users/patchme').set('Authorization', `token ${tokens.admin}`);
      const res = body === undefined ? await req : await req.set('Content-Type', 'application/json').send(body);
      expect(res.status, String(body)).toBe(400);
      expect(res.body).toMatchObject({ status: 400, message: expect.any(String) });
    }
    expect((await call('admin', 'PATCH', '/users/patchme', {})).status).toBe(200);
    expect((await call('admin', 'PATCH', '/hub/api/proxy'.replace('/hub/api', ''))).status).toBe(400);
    for (const bad of [[1], 'text', 3]) expect((await call('admin', 'PATCH', '/users/patchme', { auth_state: bad })).status, JSON.stringify(bad)).toBe(400);
    const set = await call('admin', 'PATCH', '/users/patchme', { auth_state: { access_token: 'set-by-patch-0123' } });
    expect(set.status).toBe(200);
    expect(set.body.auth_state).toEqual({ access_token: 'set-by-patch-0123' });
    expect((await call('admin', 'GET', '/users/patchme')).body.auth_state).toEqual({ access_token: 'set-by-patch-0123' });
    // at rest it is ciphertext
    const row = t.hub.deps.users.byName('patchme')!;
    expect(Buffer.from(row.auth_state!).toString('latin1')).not.toContain('set-by-patch');
    // alice's token lacks admin:users; admin:users for one user (which includes admin:auth_state for that user)
    // reaches that user only
    expect((await call('alice', 'PATCH', '/users/patchme', { auth_state: {} })).status).toBe(403);
    const narrow = t.tokenFor('admin', { scopes: ['admin:users!user=patchme'] });
    const viaNarrow = await t.api.patch('/hub/api/users/patchme').set('Authorization', `token ${narrow}`).send({ auth_state: { access_token: 'x' } });
    expect(viaNarrow.status, JSON.stringify(viaNarrow.body)).toBe(200);
    expect(viaNarrow.body.auth_state).toEqual({ access_token: 'x' });
    expect((await t.api.patch('/hub/api/users/alice').set('Authorization', `token ${narrow}`).send({ auth_state: {} })).status).toBe(404);
    expect((await call('admin', 'PATCH', '/users/patchme', { auth_state: null })).body.auth_state).toBeNull();
  });

  it('pagination, sort and name_filter', async () => {
    await call('admin', 'POST', '/users', { usernames: Array.from({ length: 12 }, (_, i) => `page${String(i).padStart(2, '0')}`) });
    const page = await call('admin', 'GET', '/users?name_filter=page&limit=5&offset=5&sort=-name').set('Accept', 'application/jupyterhub-pagination+json');
    expect(page.body._pagination).toMatchObject({ offset: 5, limit: 5, total: 12, next: { offset: 10, limit: 5 } });
    expect(page.body.items.map((u: { name: string }) => u.name)).toEqual(['page06', 'page05', 'page04', 'page03', 'page02']);
    const last = await call('admin', 'GET', page.body._pagination.next.url.replace('/hub/api', '')).set('Accept', 'application/jupyterhub-pagination+json');
    expect(last.body._pagination.next).toBeNull();
    expect(last.body.items).toHaveLength(2);
    const bare = await call('admin', 'GET', '/users?name_filter=page');
    expect(Array.isArray(bare.body)).toBe(true);
    expect(bare.body).toHaveLength(12);
    expect((await call('admin', 'GET', '/users?sort=height')).status).toBe(400);
    expect((await call('admin', 'GET', '/users?limit=abc')).status).toBe(400);
    expect((await call('admin', 'GET', '/users?limit=-2&name_filter=page')).body).toHaveLength(2);
    // offset and limit as JupyterHub reads them: Python int(), then the absolute value
    const names = async (q: string) => ((await call('admin', 'GET', `/users?name_filter=page&${q}`)).body as Array<{ name: string }>).map((u) => u.name);
    expect(await names('offset=-10')).toEqual(await names('offset=10'));
    expect(await names('offset=%2B10&limit=%201%20')).toEqual(['page10']);
    for (const bad of ['offset=1e3', 'offset=', 'offset=1.5', 'limit=0x10', 'offset=99999999999999999999']) expect((await call('admin', 'GET', `/users?${bad}`)).status, bad).toBe(400);
    expect((await call('admin', 'GET', '/users?state=sleepy')).status).toBe(400);
  });

  it('groups: members, properties, delete', async () => {
    expect((await call('admin', 'POST', '/groups/physics/users', { users: ['bob'] })).body.users).toEqual(['alice', 'bob']);
    expect((await call('admin', 'POST', '/groups/physics/users', { users: ['ghost'] })).status).toBe(400);
    const props = await call('admin', 'PUT', '/groups/physics/properties', { gpu: false, quota: '10G' });
    expect(props.body.properties).toEqual({ gpu: false, quota: '10G' });
    expect((await call('admin', 'DELETE', '/groups/physics/users', { users: ['bob'] })).body.users).toEqual(['alice']);
    expect((await call('admin', 'POST', '/groups/physics', {})).status).toBe(409);
    expect((await call('admin', 'DELETE', '/groups/chemistry')).status).toBe(204);
    expect((await call('admin', 'GET', '/groups/chemistry')).status).toBe(404);
  });

  it('services: config services are listed and cannot be deleted; runtime ones can', async () => {
    const list = await call('admin', 'GET', '/services');
    expect(list.body.culler).toMatchObject({ kind: 'service', name: 'culler', roles: ['culler'] });
    expect((await call('admin', 'DELETE', '/services/culler')).status).toBe(405);
    const created = await call('admin', 'POST', '/services/runtime', { url: 'http://127.0.0.1:9/' });
    expect(created.status).toBe(201);
    expect(created.body.api_token).toMatch(/^[0-9a-f]{32}$/);
    expect((await call('admin', 'DELETE', '/services/runtime')).status).toBe(204);
  });

  it('unknown API paths are JSON 404s; a known path with another method is a 405 with Allow, as from JupyterHub', async () => {
    const res = await call('admin', 'GET', '/nope');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ status: 404, code: 'NOT_FOUND', message: 'Not Found' });
    for (const [method, path, allow] of [
      ['PUT', '/users', 'GET, POST'],
      ['DELETE', '/info', 'GET'],
      ['PUT', '/users/alice', 'GET, POST, PATCH, DELETE'],
      ['PATCH', '/groups/physics/users', 'POST, DELETE'],
      ['POST', '/user', 'GET'],
    ] as const) {
      const wrong = await call('admin', method, path);
      expect(wrong.status, `${method} ${path}`).toBe(405);
      expect(wrong.headers.allow, `${method} ${path}`).toBe(allow);
      expect(wrong.body).toEqual({ status: 405, code: 'METHOD_NOT_ALLOWED', message: 'Method Not Allowed' });
    }
    // a path under a known one is still unknown
    expect((await call('admin', 'PUT', '/users/alice/nope')).status).toBe(404);
  });
});

describe('servers: start/stop, named servers, limits', () => {
  it('starts and stops the default server (201/204) and rejects a second start (400)', async () => {
    const start = await call('alice', 'POST', '/users/alice/server', { profile: 'small' });
    expect(start.status).toBe(201);
    expect((await call('alice', 'POST', '/users/alice/server')).status).toBe(400);
    const model = await call('alice', 'GET', '/users/alice');
    expect(model.body.servers['']).toMatchObject({ ready: true, pending: null, url: '/user/alice/', user_options: { profile: 'small' } });
    expect(model.body.server).toBe('/user/alice/');
    expect(model.body.servers[''].state).toBeUndefined(); // admin:server_state only
    expect((await call('admin', 'GET', '/users/alice')).body.servers[''].state).toHaveProperty('pid');
    const routes = await fetch(`${t.proxyApiUrl}/api/routes`, { headers: { Authorization: `token ${t.proxyToken}` } }).then((r) => r.json());
    expect(routes['/user/alice']).toMatchObject({ user: 'alice', server_name: '', jupyterhub: true });
    const through = await fetch(`${t.proxyPublicUrl}/user/alice/hello`).then((r) => r.json());
    expect(through).toMatchObject({ user: 'alice', path: '/user/alice/hello' });
    expect((await call('bob', 'DELETE', '/users/alice/server')).status).toBe(404);
    expect((await call('alice', 'DELETE', '/users/alice/server')).status).toBe(204);
    expect((await call('alice', 'GET', '/users/alice')).body.servers).toEqual({});
  });

  it('named servers start, list with include_stopped_servers, and are removed with {remove:true}', async () => {
    expect((await call('alice', 'POST', '/users/alice/servers/analysis')).status).toBe(201);
    expect((await call('alice', 'POST', '/users/alice/servers/bad name')).status).toBe(400);
    const m = await call('alice', 'GET', '/users/alice');
    expect(m.body.servers.analysis).toMatchObject({ name: 'analysis', url: '/user/alice/analysis/', ready: true });
    expect((await call('alice', 'DELETE', '/users/alice/servers/analysis')).status).toBe(204);
    expect((await call('admin', 'GET', '/users/alice?include_stopped_servers')).body.servers.analysis).toMatchObject({ stopped: true });
    expect((await call('alice', 'DELETE', '/users/alice/servers/analysis', { remove: true })).status).toBe(204);
    expect((await call('admin', 'GET', '/users/alice?include_stopped_servers')).body.servers.analysis).toBeUndefined();
  });

  it('progress stream: 400 when not starting; ready event when running', async () => {
    expect((await call('alice', 'GET', '/users/alice/server/progress')).status).toBe(400);
    await call('alice', 'POST', '/users/alice/server');
    const res = await call('alice', 'GET', '/users/alice/server/progress');
    expect(res.headers['content-type']).toContain('text/event-stream');
    expect(res.text).toContain('"ready":true');
    await call('alice', 'DELETE', '/users/alice/server');
  });
});
