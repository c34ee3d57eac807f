/**
 * Local accounts through the real HTTP app: first-admin bootstrap, admin-created users with
 * passwords (REST), form login, wrong password, lockout per user and per IP with admin unlock,
 * self-service password change, self sign-up with admin approval. Passwords never reach the log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import { form, startAuthHub, xsrfOf, type AuthTestHub } from './helpers.js';

const ADMIN_PW = 'first-admin-pw-123';

describe('local accounts', () => {
  let h: AuthTestHub;
  let adminToken: string;
  const api = (method: string, path: string, body?: unknown, token = adminToken) =>
    fetch(`${h.url}/hub/api${path}`, { method, headers: { Authorization: `token ${token}`, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

  beforeAll(async () => {
    h = await startAuthHub(
      { auth: { methods: [{ kind: 'local', minPasswordLength: 10, allowSignup: true, lockout: { maxFailuresPerUser: 3, maxFailuresPerIp: 12, windowSeconds: 600, lockSeconds: 600 } }] } },
      { adminPassword: ADMIN_PW },
    );
    adminToken = h.tokenFor('admin');
  });
  afterAll(async () => h?.close());

  it('the first admin created by the bootstrap logs in with the password form', async () => {
    const b = new Browser(h.url);
    const res = await b.login('admin', ADMIN_PW, '/hub/api/user');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ name: 'admin', admin: true });
  });

  it('an admin creates a user and sets a password; the user logs in; a wrong password is refused', async () => {
    expect((await api('POST', '/users/alice')).status).toBe(201);
    expect((await api('POST', '/users/alice/password', { password: 'short' })).status).toBe(400);
    expect((await api('POST', '/users/alice/password', { password: 'alice-password-1' })).status).toBe(204);
    const ok = await new Browser(h.url).login('Alice', 'alice-password-1', '/hub/api/user'); // usernames are normalized
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text).name).toBe('alice');
    const bad = await new Browser(h.url).login('alice', 'wrong-password-x', '/hub/api/user');
    expect(bad.status).toBe(403);
    expect(bad.text).toContain('Invalid username or password');
    expect((await api('DELETE', '/users/alice/lockout')).status).toBe(204); // reset the failure count for the next test
  });

  it('a non-admin cannot set passwords', async () => {
    const aliceToken = h.tokenFor('alice');
    const res = await api('POST', '/users/admin/password', { password: 'taken-over-123' }, aliceToken);
    expect([403, 404]).toContain(res.status);
  });

  it('locks a username after repeated failures (even the right password), until an admin unlocks it', async () => {
    expect((await api('POST', '/users/bob')).status).toBe(201);
    expect((await api('POST', '/users/bob/password', { password: 'bob-password-12' })).status).toBe(204);
    const b = new Browser(h.url);
    expect((await b.login('bob', 'nope-1')).status).toBe(403);
    expect((await b.login('bob', 'nope-2')).status).toBe(403);
    const third = await b.login('bob', 'nope-3');
    expect(third.status).toBe(429);
    expect(third.text).toMatch(/Too many failed login attempts.*locked/);
    const right = await b.login('bob', 'bob-password-12', '/hub/api/user');
    expect(right.status).toBe(429);
    expect((await api('DELETE', '/users/bob/lockout')).status).toBe(204);
    const after = await b.login('bob', 'bob-password-12', '/hub/api/user');
    expect(after.status).toBe(200);
    expect(JSON.parse(after.text).name).toBe('bob');
  });

  it('changes a password on /hub/account/password only with the current password and a token', async () => {
    expect((await api('POST', '/users/carol')).status).toBe(201);
    expect((await api('POST', '/users/carol/password', { password: 'carol-password-1' })).status).toBe(204);
    const b = new Browser(h.url);
    expect((await b.login('carol', 'carol-password-1')).status).toBe(200);
    const page = await b.get('/hub/account/password');
    expect(page.status).toBe(200);
    const xsrf = xsrfOf(page.text);
    const wrongCurrent = await b.request('/hub/account/password', form({ _xsrf: xsrf, current: 'not-it-123', password: 'carol-password-2', confirm: 'carol-password-2' }));
    expect(wrongCurrent.status).toBe(403);
    const mismatch = await b.request('/hub/account/password', form({ _xsrf: xsrf, current: 'carol-password-1', password: 'carol-password-2', confirm: 'other-thing-2' }));
    expect(mismatch.status).toBe(400);
    const ok = await b.request('/hub/account/password', form({ _xsrf: xsrf, current: 'carol-password-1', password: 'carol-password-2', confirm: 'carol-password-2' }));
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('Your password was changed');
    expect((await new Browser(h.url).login('carol', 'carol-password-1')).status).toBe(403);
    expect((await new Browser(h.url).login('carol', 'carol-password-2', '/hub/api/user')).status).toBe(200);
  });

  it('self sign-up creates nothing until an admin approves it', async () => {
    const b = new Browser(h.url);
    const page = await b.get('/hub/signup');
    expect(page.status).toBe(200);
    const res = await b.request('/hub/signup', form({ _xsrf: xsrfOf(page.text), username: 'Dave', password: 'dave-password-1', confirm: 'dave-password-1' }));
    expect(res.status).toBe(202);
    expect(h.hub.deps.users.byName('dave')).toBeUndefined();
    expect((await new Browser(h.url).login('dave', 'dave-password-1')).status).toBe(403);
    const list = (await (await api('GET', '/signups')).json()) as Array<{ name: string }>;
    expect(list.map((s) => s.name)).toEqual(['dave']);
    expect((await api('GET', '/signups', undefined, h.tokenFor('alice'))).status).toBe(403);
    expect((await api('POST', '/signups/dave')).status).toBe(201);
    const login = await new Browser(h.url).login('dave', 'dave-password-1', '/hub/api/user');
    expect(login.status).toBe(200);
    expect(JSON.parse(login.text)).toMatchObject({ name: 'dave', admin: false });
  });

  it('admins approve or reject requests and unlock usernames on /hub/signups (forms with _xsrf)', async () => {
    for (const who of ['erin', 'frank']) {
      const b = new Browser(h.url);
      const page = await b.get('/hub/signup');
      expect((await b.request('/hub/signup', form({ _xsrf: xsrfOf(page.text), username: who, password: `${who}-password-1`, confirm: `${who}-password-1` }))).status).toBe(202);
    }
    const alice = new Browser(h.url);
    expect((await alice.login('alice', 'alice-password-1')).status).toBe(200);
    expect((await alice.get('/hub/signups')).status).toBe(403);
    const admin = new Browser(h.url);
    expect((await admin.login('admin', ADMIN_PW)).status).toBe(200);
    const page = await admin.get('/hub/signups');
    expect(page.status).toBe(200);
    expect(page.text).toContain('data-request="erin"');
    const xsrf = xsrfOf(page.text);
    expect((await admin.request('/hub/signups/erin/approve', form({}), false)).status).toBe(403); // no token
    const approved = await admin.request('/hub/signups/erin/approve', form({ _xsrf: xsrf }));
    expect(approved.status).toBe(200);
    expect(approved.text).toContain('Approved erin');
    expect((await admin.request('/hub/signups/frank/reject', form({ _xsrf: xsrf }))).text).toContain('Rejected frank');
    expect(h.hub.deps.users.byName('erin')).toBeDefined();
    expect(h.hub.deps.users.byName('frank')).toBeUndefined();
    expect(h.hub.deps.auth.signups.list()).toEqual([]);
    // lock erin, then unlock from the page
    const e = new Browser(h.url);
    for (let i = 0; i < 3; i++) await e.login('erin', `bad-${i}-password`);
    expect((await e.login('erin', 'erin-password-1')).status).toBe(429);
    expect((await admin.request('/hub/signups/unlock', form({ _xsrf: xsrf, username: 'Erin' }))).text).toContain('Unlocked erin');
    expect((await e.login('erin', 'erin-password-1', '/hub/api/user')).status).toBe(200);
  });

  it('locks a client IP after failures across many usernames', async () => {
    const b = new Browser(h.url);
    let last = 0;
    for (let i = 0; i < 12; i++) last = (await b.login(`nobody${i}`, 'whatever-pw')).status;
    expect(last).toBe(429);
    // even a good account is refused from this address now
    expect((await b.login('dave', 'dave-password-1')).status).toBe(429);
  });

  it('never logs a password', () => {
    const logs = h.logs();
    expect(logs).toContain('"event":"login"');
    for (const pw of [ADMIN_PW, 'alice-password-1', 'bob-password-12', 'carol-password-2', 'dave-password-1', 'wrong-password-x']) expect(logs).not.toContain(pw);
  });
});

describe('login rate limit per client IP', () => {
  let h: AuthTestHub;
  beforeAll(async () => {
    h = await startAuthHub({ auth: { kind: 'local', rateLimit: { windowSeconds: 60, maxRequests: 3 } } }, { adminPassword: ADMIN_PW });
  });
  afterAll(async () => h?.close());

  it('answers 429 once the window is used up, before any password is checked', async () => {
    const b = new Browser(h.url);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await b.login('admin', i === 3 ? ADMIN_PW : 'wrong-pw-123')).status);
    expect(statuses).toEqual([403, 403, 403, 429]);
    const last = await b.login('admin', ADMIN_PW);
    expect(last.status).toBe(429);
    expect(last.text).toContain('Too many login attempts from your address');
    expect(last.headers.get('ratelimit-policy') ?? last.headers.get('ratelimit')).toMatch(/\d/);
  });
});
