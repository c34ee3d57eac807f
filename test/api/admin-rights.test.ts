/**
 * Who may make admins: as JupyterHub 4+, only an admin caller. A user whose custom role carries
 * admin-ui + admin:users (a course's teaching assistant, say) manages accounts in the console and the
 * API but can neither grant admin nor change an admin user — otherwise admin:users would lead to
 * every scope there is. Same rule for both doors (hub/user-ops.ts).
 */
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../hub/auth/password.js';
import { startTestHub, type TestHub } from '../helpers/test-hub.js';

let t: TestHub;
let browser: ReturnType<typeof supertest.agent>;
let xsrf = '';

beforeAll(async () => {
  t = await startTestHub({
    groups: { course: { users: [] }, staff: { users: [] }, gpu: { users: [] } },
    roles: [
      { name: 'assistant', scopes: ['admin-ui', 'admin:users', 'list:users', 'delete:users', 'groups', 'read:groups', 'list:groups'], users: ['ta'] },
      // groups that carry roles: staff carries server control, tokens and shutdown; gpu a custom scope
      { name: 'staff-power', scopes: ['admin:servers', 'tokens', 'shutdown'], groups: ['staff'] },
      { name: 'gpu-user', scopes: ['custom:gpu:use'], groups: ['gpu'] },
      // course carries only what the assistant holds too
      { name: 'course-reader', scopes: ['read:users!group=course'], groups: ['course'] },
      // a help desk that may act for users by minting tokens for them
      { name: 'helpdesk', scopes: ['tokens', 'shares'], users: ['desk'] },
    ],
    customScopes: { 'custom:gpu:use': { description: 'use the GPU partition' } },
  });
  t.tokenFor('admin', { admin: true });
  const d = t.hub.deps;
  t.tokenFor('ta');
  d.users.setPasswordHash(d.users.byName('ta')!.id, await hashPassword('ta-password-123'));
  browser = supertest.agent(t.hub.app);
  const login = await browser.get('/hub/login');
  const xsrf0 = /name="_xsrf" value="([^"]+)"/.exec(login.text)![1];
  await browser.post('/hub/login').type('form').send({ username: 'ta', password: 'ta-password-123', _xsrf: xsrf0 }).expect(302);
  const page = await browser.get('/hub/admin').expect(200);
  xsrf = /name="_xsrf" value="([^"]+)"/.exec(page.text)![1];
});

afterAll(async () => {
  await t?.close();
});

const isAdmin = (name: string) => Boolean(t.hub.deps.users.byName(name)?.admin);

describe('admin rights through the console', () => {
  it('a non-admin with admin:users creates plain users but not admins', async () => {
    await browser.post('/hub/admin/users').type('form').send({ usernames: 'student1', _xsrf: xsrf }).expect(201);
    expect(t.hub.deps.users.byName('student1')).toBeDefined();
    const refused = await browser.post('/hub/admin/users').type('form').send({ usernames: 'student2', admin: 'on', _xsrf: xsrf });
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('Only admins can grant admin permissions');
    expect(t.hub.deps.users.byName('student2')).toBeUndefined();
  });

  it('cannot make a user an admin, nor rename or demote an admin', async () => {
    const grant = await browser.post('/hub/admin/users/student1/admin').type('form').send({ admin: 'true', _xsrf: xsrf });
    expect(grant.status).toBe(403);
    expect(isAdmin('student1')).toBe(false);
    const demote = await browser.post('/hub/admin/users/admin/admin').type('form').send({ admin: 'false', _xsrf: xsrf });
    expect(demote.status).toBe(403);
    expect(demote.text).toContain('Only admins can modify other admins');
    expect(isAdmin('admin')).toBe(true);
    expect((await browser.post('/hub/admin/users/admin/rename').type('form').send({ name: 'taken-over', _xsrf: xsrf })).status).toBe(403);
    expect(t.hub.deps.users.byName('admin')).toBeDefined();
    // what the role is for still works
    await browser.post('/hub/admin/users/student1/rename').type('form').send({ name: 'student1b', _xsrf: xsrf }).expect(303);
    expect(t.hub.deps.users.byName('student1b')).toBeDefined();
  });

  it('an admin can, through the same form', async () => {
    const admin = supertest.agent(t.hub.app);
    t.hub.deps.users.setPasswordHash(t.hub.deps.users.byName('admin')!.id, await hashPassword('admin-password-123'));
    const login = await admin.get('/hub/login');
    await admin.post('/hub/login').type('form').send({ username: 'admin', password: 'admin-password-123', _xsrf: /name="_xsrf" value="([^"]+)"/.exec(login.text)![1] }).expect(302);
    const page = await admin.get('/hub/admin').expect(200);
    const token = /name="_xsrf" value="([^"]+)"/.exec(page.text)![1];
    await admin.post('/hub/admin/users/student1b/admin').type('form').send({ admin: 'true', _xsrf: token }).expect(303);
    expect(isAdmin('student1b')).toBe(true);
  });
});

describe('admin rights through the API, with the same non-admin', () => {
  it('403 for admin:true on create and PATCH, and for any PATCH of an admin; nothing written', async () => {
    const ta = t.tokenFor('ta');
    const api = (method: 'post' | 'patch', path: string, body: object) => t.api[method](`/hub/api${path}`).set('Authorization', `token ${ta}`).send(body);
    expect((await api('post', '/users', { usernames: ['s3', 's4'], admin: true })).status).toBe(403);
    expect(t.hub.deps.users.byName('s3')).toBeUndefined();
    expect((await api('post', '/users', { usernames: ['s3'] })).status).toBe(201);
    expect((await api('patch', '/users/s3', { admin: true })).status).toBe(403);
    expect(isAdmin('s3')).toBe(false);
    expect((await api('patch', '/users/admin', { admin: false })).status).toBe(403);
    expect((await api('patch', '/users/admin', { auth_state: { planted: true } })).status).toBe(403);
    expect(t.hub.deps.authState.get(t.hub.deps.users.byName('admin')!.id)).toBeNull();
    expect((await api('patch', '/users/s3', { admin: false, name: 's3b' })).status).toBe(200);
    // nor delete an admin (JupyterHub would let delete:users do that)
    expect((await t.api.delete('/hub/api/users/admin').set('Authorization', `token ${ta}`)).status).toBe(403);
    expect(t.hub.deps.users.byName('admin')).toBeDefined();
  });

  it("an admin's password is out of reach too (else it is the admin's login), a student's is not", async () => {
    const ta = t.tokenFor('ta');
    const { verifyPassword } = await import('../../hub/auth/password.js');
    const adminRow = () => t.hub.deps.users.byName('admin')!;
    const before = adminRow().password_hash;
    const refused = await t.api.post('/hub/api/users/admin/password').set('Authorization', `token ${ta}`).send({ password: 'taken-over-password-1' });
    expect(refused.status).toBe(403);
    expect(refused.body.message).toBe('Only admins can modify other admins');
    expect(adminRow().password_hash).toBe(before);
    expect(await verifyPassword('taken-over-password-1', adminRow().password_hash ?? '')).toBe(false);
    expect((await t.api.post('/hub/api/users/s3b/password').set('Authorization', `token ${ta}`).send({ password: 'student-password-1' })).status).toBe(204);
    expect(await verifyPassword('student-password-1', t.hub.deps.users.byName('s3b')!.password_hash!)).toBe(true);
  });
});

describe('group membership is no path to a group\'s roles', () => {
  it('a non-admin with the groups scope adds members only to groups whose roles grant nothing beyond the caller', async () => {
    const ta = t.tokenFor('ta');
    const add = (group: string, users: string[]) => t.api.post(`/hub/api/groups/${group}/users`).set('Authorization', `token ${ta}`).send({ users });
    const members = (group: string) => t.hub.deps.groups.members(t.hub.deps.groups.byName(group)!.id);
    const escalate = await add('staff', ['ta']);
    expect(escalate.status).toBe(403);
    expect(escalate.body.message).toContain('only an admin can add members');
    expect(members('staff')).toEqual([]);
    expect((await add('gpu', ['s3b'])).status).toBe(403);
    expect(members('gpu')).toEqual([]);
    expect((await add('course', ['s3b', 'ta'])).status).toBe(200);
    expect(members('course').sort()).toEqual(['s3b', 'ta']);
    // after all that the assistant is still no admin
    expect(isAdmin('ta')).toBe(false);
    expect((await t.api.get('/hub/api/info').set('Authorization', `token ${t.tokenFor('ta')}`)).status).toBe(403);
  });

  it('the console refuses the same, and an admin may', async () => {
    const refused = await browser.post('/hub/admin/groups/staff/members').type('form').send({ user: 'ta', _xsrf: xsrf });
    expect(refused.status).toBe(403);
    expect(t.hub.deps.groups.members(t.hub.deps.groups.byName('staff')!.id)).toEqual([]);
    const admin = t.tokenFor('admin', { admin: true });
    expect((await t.api.post('/hub/api/groups/gpu/users').set('Authorization', `token ${admin}`).send({ users: ['s3b'] })).status).toBe(200);
    expect(t.hub.deps.groups.members(t.hub.deps.groups.byName('gpu')!.id)).toEqual(['s3b']);
  });
});

describe('config: a default role named without scopes is assigned, not emptied', () => {
  it('{name: admin, groups: [staff]} keeps the admin scopes (JupyterHub merges a partial default-role spec)', async () => {
    const hub = await startTestHub({
      groups: { staff: { users: ['lead'] } },
      roles: [
        { name: 'admin', groups: ['staff'] },
        { name: 'user', users: ['lead'] },
        { name: 'nothing', users: ['lead'] },
      ],
    });
    try {
      const admin = hub.tokenFor('admin', { admin: true });
      const lead = hub.tokenFor('lead');
      // the real admin keeps every power, and the staff member gets them through the group
      for (const token of [admin, lead]) {
        expect((await hub.api.get('/hub/api/info').set('Authorization', `token ${token}`)).status).toBe(200);
        expect((await hub.api.get('/hub/api/users').set('Authorization', `token ${token}`)).status).toBe(200);
      }
      const roles = hub.hub.deps.roles;
      expect(roles.scopesOf('admin')).toContain('admin:users');
      expect(roles.scopesOf('user')).toEqual(['self']);
      expect(roles.scopesOf('nothing')).toEqual([]);
    } finally {
      await hub.close();
    }
  });
});

describe('tokens for someone else', () => {
  it('a non-admin with the tokens scope mints tokens for users, never for an admin (a token acts as its owner)', async () => {
    const desk = t.tokenFor('desk');
    t.tokenFor('pupil');
    const mint = (name: string) => t.api.post(`/hub/api/users/${name}/tokens`).set('Authorization', `token ${desk}`).send({ note: 'for support' });
    const forPupil = await mint('pupil');
    expect(forPupil.status).toBe(201);
    expect((await t.api.get('/hub/api/user').set('Authorization', `token ${forPupil.body.token}`)).body.name).toBe('pupil');
    // listed scopes: never more than the creator holds, even where the owner holds them (pupil may start pupil's server)
    const beyondCreator = await t.api.post('/hub/api/users/pupil/tokens').set('Authorization', `token ${desk}`).send({ scopes: ['servers!user=pupil'] });
    expect(beyondCreator.status).toBe(403);
    expect(beyondCreator.body.message).toContain('servers!user=pupil');
    const forAdmin = await mint('admin');
    expect(forAdmin.status).toBe(403);
    expect(forAdmin.body.message).toBe('Only admins can modify other admins');
    expect(forAdmin.body.token).toBeUndefined();
    expect(t.hub.deps.tokens.forUser(t.hub.deps.users.byName('admin')!.id).filter((x) => x.note === 'for support')).toEqual([]);
    // an admin may mint one for another admin, as before
    const root = t.tokenFor('admin', { admin: true });
    t.hub.deps.users.setAdmin(t.hub.deps.users.byName('student1b')!.id, true);
    t.hub.deps.access.invalidate();
    expect((await t.api.post('/hub/api/users/student1b/tokens').set('Authorization', `token ${root}`).send({})).status).toBe(201);
  });
});

describe('sharing someone else\'s server', () => {
  it('a non-admin with the shares scope shares a user\'s server, never an admin\'s (a share is access to it)', async () => {
    const d = t.hub.deps;
    const desk = t.tokenFor('desk');
    for (const name of ['pupil', 'admin']) d.servers.ensure(d.users.byName(name)!.id, '', 'local');
    const share = (owner: string, path: string) => t.api.post(`/hub/api/${path}/${owner}/`).set('Authorization', `token ${desk}`).send(path === 'shares' ? { user: 'desk' } : {});
    expect((await share('pupil', 'shares')).status).toBe(200);
    const refused = await share('admin', 'shares');
    expect(refused.status).toBe(403);
    expect(refused.body.message).toBe('Only admins can modify other admins');
    expect(d.shares.forServer(d.users.byName('admin')!.id)).toEqual([]);
    expect((await share('pupil', 'share-codes')).status).toBe(201);
    const code = await share('admin', 'share-codes');
    expect(code.status).toBe(403);
    expect(d.shares.codesFor(d.users.byName('admin')!.id)).toEqual([]);
  });
});

describe("an admin's auth state", () => {
  it('is hidden from a non-admin holding admin:users (it holds their identity-provider tokens), shown to admins', async () => {
    const d = t.hub.deps;
    d.authState.set(d.users.byName('admin')!.id, { access_token: 'gho_admins_own_token' });
    d.authState.set(d.users.byName('pupil')!.id, { access_token: 'gho_pupils_token' });
    const ta = t.tokenFor('ta');
    const root = t.tokenFor('admin', { admin: true });
    const get = async (token: string, name: string) => (await t.api.get(`/hub/api/users/${name}`).set('Authorization', `token ${token}`)).body;
    // twice each: the answer is cached per caller kind and must not leak across kinds
    for (let i = 0; i < 2; i++) {
      const seen = await get(ta, 'admin');
      expect(seen.name).toBe('admin');
      expect(JSON.stringify(seen)).not.toContain('gho_admins_own_token');
      expect((await get(ta, 'pupil')).auth_state).toEqual({ access_token: 'gho_pupils_token' });
      expect((await get(root, 'admin')).auth_state).toEqual({ access_token: 'gho_admins_own_token' });
    }
  });
});
