/**
 * Security properties of login: no open redirects through `next` (password form, logged-in
 * /hub/login, OAuth round trip), CSRF tokens on every cookie-authenticated form post, a new
 * session id at login (fixation), cookie flags, usernames that are never accepted, and auth state
 * unreadable in the SQLite file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import { safeNext } from '../../hub/auth/next.js';
import { usernamePolicy } from '../../hub/auth/usernames.js';
import { form, startAuthHub, xsrfOf, type AuthTestHub } from './helpers.js';
import { startFakeGitHub, type FakeGitHub } from './fixtures/github-fake.js';

const ADMIN_PW = 'security-admin-pw-1';
const CLIENT = { clientId: 'sec-client', clientSecret: 'sec-secret-0123456789' };
const EVIL = ['//evil.com', '/\\evil.com', 'https://evil.com', '%2F%2Fevil.com', '/%2F%2Fevil.com', '/%5Cevil.com', 'javascript:alert(1)', 'http:evil.com', '\\\\evil.com', '///evil.com', ' //evil.com', '/\t/evil.com', 'JAVASCRIPT:alert(1)', '//evil.com/%2E%2E'];

function loginCookie(res: Response): string | undefined {
  for (const c of res.headers.getSetCookie()) if (c.startsWith('jupyterhub-hub-login=')) return c;
  return undefined;
}
const cookieValue = (setCookie: string) => setCookie.split(';')[0];

describe('login security', () => {
  let gh: FakeGitHub;
  let h: AuthTestHub;

  beforeAll(async () => {
    gh = await startFakeGitHub(CLIENT);
    gh.users.set('ghuser', { login: 'ghuser', id: 9, email: null, emails: [{ email: 'gh@lab.example', primary: true, verified: true }], orgs: ['lab'], teams: [] });
    h = await startAuthHub(
      { auth: { allowedUsers: ['ghuser'], methods: [{ kind: 'local', allowSignup: true }, { kind: 'github', clientId: CLIENT.clientId, enterpriseUrl: gh.url, scopes: ['read:user', 'read:org'] }] } },
      { adminPassword: ADMIN_PW, clientSecrets: { github: CLIENT.clientSecret } },
    );
  });
  afterAll(async () => {
    await h?.close();
    await gh?.close();
  });

  describe('open redirects through next', () => {
    it('safeNext keeps same-site paths and rejects everything else', () => {
      expect(safeNext('/user/alice/lab/tree?x=1#frag')).toBe('/user/alice/lab/tree?x=1#frag');
      expect(safeNext('/hub/spawn/alice/named%20server')).toBe('/hub/spawn/alice/named%20server');
      for (const bad of [...EVIL, '', 'evil.com', '/\r\nLocation: //evil.com', null, 42, ['/x']]) expect(safeNext(bad), String(bad)).toBe('/hub/home');
    });

    it('the password form never redirects off-site', async () => {
      for (const bad of EVIL) {
        const b = new Browser(h.url);
        const page = await b.get('/hub/login');
        const res = await b.request(`/hub/login?next=${encodeURIComponent(bad)}`, form({ _xsrf: xsrfOf(page.text), username: 'admin', password: ADMIN_PW }), false);
        expect(res.status, bad).toBe(302);
        expect(res.headers.get('location'), bad).toBe('/hub/home');
        // logged in: GET /hub/login?next= redirects too, and must stay on site
        const again = await b.request(`/hub/login?next=${encodeURIComponent(bad)}`, {}, false);
        expect(again.headers.get('location'), bad).toBe('/hub/home');
      }
      const b = new Browser(h.url);
      const page = await b.get('/hub/login');
      const ok = await b.request(`/hub/login?next=${encodeURIComponent('/user/admin/lab?a=1')}`, form({ _xsrf: xsrfOf(page.text), username: 'admin', password: ADMIN_PW }), false);
      expect(ok.headers.get('location')).toBe('/user/admin/lab?a=1');
    });

    it('the OAuth round trip never redirects off-site', async () => {
      gh.nextLogin = 'ghuser';
      for (const bad of EVIL) {
        const b = new Browser(h.url);
        const res = await b.get(`/hub/oauth/github/login?next=${encodeURIComponent(bad)}`);
        expect(res.url, bad).toBe(`${h.url}/hub/home`);
        expect(res.chain.every((u) => u.startsWith(h.url) || u.startsWith(gh.url)), `${bad}: ${res.chain.join(' → ')}`).toBe(true);
      }
      const ok = await new Browser(h.url).get(`/hub/oauth/github/login?next=${encodeURIComponent('/hub/api/user')}`);
      expect(JSON.parse(ok.text).name).toBe('ghuser');
    });
  });

  describe('CSRF on cookie-authenticated form posts', () => {
    it('refuses the login form without a valid _xsrf, or from another origin', async () => {
      const b = new Browser(h.url);
      const page = await b.get('/hub/login');
      const xsrf = xsrfOf(page.text);
      expect((await b.request('/hub/login', form({ username: 'admin', password: ADMIN_PW }), false)).status).toBe(403);
      expect((await b.request('/hub/login', form({ _xsrf: `${xsrf}x`, username: 'admin', password: ADMIN_PW }), false)).status).toBe(403);
      const cross = await b.request('/hub/login', { ...form({ _xsrf: xsrf, username: 'admin', password: ADMIN_PW }), headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'https://evil.com' } }, false);
      expect(cross.status).toBe(403);
      // a token from another browser is useless (it is bound to that browser's nonce cookie)
      const other = new Browser(h.url);
      const otherXsrf = xsrfOf((await other.get('/hub/login')).text);
      expect((await b.request('/hub/login', form({ _xsrf: otherXsrf, username: 'admin', password: ADMIN_PW }), false)).status).toBe(403);
      expect((await b.request('/hub/login', form({ _xsrf: xsrf, username: 'admin', password: ADMIN_PW }), false)).status).toBe(302);
    });

    it('refuses password change, sign-up and cookie-authenticated API writes without the token', async () => {
      const b = new Browser(h.url);
      expect((await b.login('admin', ADMIN_PW)).status).toBe(200);
      const before = h.hub.deps.users.byName('admin')!.password_hash;
      const change = await b.request('/hub/account/password', form({ current: ADMIN_PW, password: 'hijacked-password', confirm: 'hijacked-password' }), false);
      expect(change.status).toBe(403);
      expect(h.hub.deps.users.byName('admin')!.password_hash).toBe(before);
      expect((await b.request('/hub/signup', form({ username: 'sneaky', password: 'sneaky-password', confirm: 'sneaky-password' }), false)).status).toBe(403);
      expect(h.hub.deps.auth.signups.get('sneaky')).toBeUndefined();
      const api = await b.request('/hub/api/users/admin/password', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ password: 'hijacked-password' }) }, false);
      expect(api.status).toBe(403);
      expect(h.hub.deps.users.byName('admin')!.password_hash).toBe(before);
      // with the page's token the same cookie-authenticated API call works
      const xsrf = xsrfOf((await b.get('/hub/account/password')).text);
      const withToken = await b.request('/hub/api/users/admin/lockout', { method: 'DELETE', headers: { 'X-XSRFToken': xsrf } }, false);
      expect(withToken.status).toBe(204);
    });
  });

  describe('sessions', () => {
    it('issues a new session id at login; the pre-login session id is dead afterwards', async () => {
      // a pre-login session exists once an OAuth login has started (state is kept in it)
      const start = await fetch(`${h.url}/hub/oauth/github/login`, { redirect: 'manual' });
      const pre = loginCookie(start);
      expect(pre).toMatch(/^jupyterhub-hub-login=\S+/);
      const preCookie = cookieValue(pre!);
      const nonce = start.headers.getSetCookie().map(cookieValue).find((c) => c.startsWith('_xsrf='))!;
      const page = await fetch(`${h.url}/hub/login`, { headers: { Cookie: `${preCookie}; ${nonce}` } });
      const xsrf = xsrfOf(await page.text());
      // the victim logs in while carrying the (attacker-known) pre-login session cookie
      const res = await fetch(`${h.url}/hub/login`, { method: 'POST', redirect: 'manual', headers: { Cookie: `${preCookie}; ${nonce}`, 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _xsrf: xsrf, username: 'admin', password: ADMIN_PW }).toString() });
      expect(res.status).toBe(302);
      const post = loginCookie(res);
      expect(post).toMatch(/^jupyterhub-hub-login=\S+/);
      const postCookie = cookieValue(post!);
      expect(postCookie).not.toBe(preCookie);
      expect((await fetch(`${h.url}/hub/api/user`, { headers: { Cookie: preCookie } })).status).toBe(403);
      expect((await fetch(`${h.url}/hub/api/user`, { headers: { Cookie: postCookie } })).status).toBe(200);
      const preSid = decodeURIComponent(preCookie.split('=')[1]).slice(2).split('.')[0];
      expect(h.hub.deps.db.prepare('SELECT COUNT(*) AS n FROM sessions WHERE sid = ?').get(preSid)).toEqual({ n: 0 });
      // cookie flags: HttpOnly, SameSite=Lax, scoped to /hub/, with the configured lifetime
      expect(post).toMatch(/; Path=\/hub\//);
      expect(post).toMatch(/; HttpOnly/);
      expect(post).toMatch(/; SameSite=Lax/);
      const expires = Date.parse(/Expires=([^;]+)/.exec(post!)![1]);
      expect(Math.abs(expires - (Date.now() + 14 * 86400_000))).toBeLessThan(60_000);
      expect(res.headers.getSetCookie().find((c) => c.startsWith('jupyterhub-session-id='))).toMatch(/HttpOnly.*SameSite=Lax|SameSite=Lax.*HttpOnly/);
    });

    it('marks cookies Secure with secureCookies (behind an https proxy)', async () => {
      const s = await startAuthHub({ secureCookies: true, cookieMaxAgeDays: 1 }, { adminPassword: ADMIN_PW });
      try {
        const headers = { 'X-Forwarded-Proto': 'https' };
        const page = await fetch(`${s.url}/hub/login`, { headers });
        const nonce = page.headers.getSetCookie().map(cookieValue).find((c) => c.startsWith('_xsrf='))!;
        expect(page.headers.getSetCookie().find((c) => c.startsWith('_xsrf='))).toMatch(/; Secure/);
        const res = await fetch(`${s.url}/hub/login`, { method: 'POST', redirect: 'manual', headers: { ...headers, Cookie: nonce, 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _xsrf: xsrfOf(await page.text()), username: 'admin', password: ADMIN_PW }).toString() });
        expect(res.status).toBe(302);
        const c = loginCookie(res)!;
        expect(c).toMatch(/; Secure/);
        expect(Math.abs(Date.parse(/Expires=([^;]+)/.exec(c)![1]) - (Date.now() + 86400_000))).toBeLessThan(60_000);
      } finally {
        await s.close();
      }
    });
  });

  it('an OAuth access token a client got for the user dies with the login session (logout)', async () => {
    // a runtime service is an OAuth client whose secret the test holds (its API token)
    const admin = h.tokenFor('admin', { admin: true });
    const created = await fetch(`${h.url}/hub/api/services/notes`, { method: 'POST', headers: { Authorization: `token ${admin}` }, body: JSON.stringify({ url: 'http://127.0.0.1:9/', oauth_no_confirm: true }) });
    expect(created.status).toBe(201);
    const secret = ((await created.json()) as { api_token: string }).api_token;
    const b = new Browser(h.url);
    expect((await b.login('admin', ADMIN_PW)).status).toBe(200);
    const redirectUri = '/services/notes/oauth_callback';
    const auth = await b.request(`/hub/api/oauth2/authorize?${new URLSearchParams({ client_id: 'service-notes', redirect_uri: redirectUri, response_type: 'code', state: 's1' })}`, {}, false);
    expect(auth.status).toBe(302);
    const code = new URL(auth.headers.get('location')!, h.url).searchParams.get('code')!;
    const tokenRes = await fetch(`${h.url}/hub/api/oauth2/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'authorization_code', code, client_id: 'service-notes', client_secret: secret, redirect_uri: redirectUri }).toString() });
    expect(tokenRes.status).toBe(200);
    const access = ((await tokenRes.json()) as { access_token: string }).access_token;
    const whoami = () => fetch(`${h.url}/hub/api/user`, { headers: { Authorization: `token ${access}` } });
    expect(((await (await whoami()).json()) as { name: string }).name).toBe('admin');
    // it was stored only as its hash (the database and its WAL hold the hash, never the token)
    const bytes = Buffer.concat([h.dbFile, `${h.dbFile}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
    const { createHash } = await import('node:crypto');
    expect(bytes.includes(Buffer.from(createHash('sha256').update(access).digest('hex')))).toBe(true);
    expect(bytes.includes(Buffer.from(access))).toBe(false);
    await b.request('/hub/logout', {}, false);
    expect((await whoami()).status).toBe(403);
  });

  it('rejects unsafe usernames whatever the pattern says', () => {
    const loose = usernamePolicy({ lowercase: true, maxLength: 20, pattern: '.*', map: {} });
    for (const bad of ['..', '.', '../etc', 'a/b', 'a\\b', 'a b', 'tab\tname', 'nul\u0000', '-rf', '.hidden', 'x'.repeat(21), '', 'a?b', 'a#b', 'a%2fb', 'a:b']) expect(loose.validate(loose.normalize(bad)), JSON.stringify(bad)).not.toBeNull();
    expect(loose.normalize('  Alice ')).toBe('alice');
    expect(loose.validate('alice.smith@lab')).toBeNull();
  });

  it('keeps the GitHub token unreadable in the SQLite file (AES-256-GCM auth state)', async () => {
    gh.nextLogin = 'ghuser';
    expect((await new Browser(h.url).get('/hub/oauth/github/login?next=%2Fhub%2Fapi%2Fuser')).status).toBe(200);
    const state = h.hub.deps.authState.get(h.hub.deps.users.byName('ghuser')!.id)!;
    const token = state.access_token as string;
    expect(token).toMatch(/^gho_/);
    h.hub.deps.db.pragma('wal_checkpoint(FULL)');
    let bytes = readFileSync(h.dbFile);
    if (existsSync(`${h.dbFile}-wal`)) bytes = Buffer.concat([bytes, readFileSync(`${h.dbFile}-wal`)]);
    expect(bytes.includes(Buffer.from(token))).toBe(false);
    expect(bytes.includes(Buffer.from('gh@lab.example'))).toBe(false);
    const raw = h.hub.deps.db.prepare("SELECT auth_state FROM users WHERE name = 'ghuser'").get() as { auth_state: Buffer };
    expect(raw.auth_state.subarray(0, 2).toString()).toBe('L1'); // our AES-256-GCM envelope
  });
});
