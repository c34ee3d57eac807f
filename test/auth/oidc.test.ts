/**
 * OpenID Connect end to end against a real OpenID Provider (oidc-provider 9, PKCE required) on
 * loopback, through the real hub app over HTTP with a cookie-keeping browser: PKCE/state/nonce on
 * the wire, login, groups claim → LabHub groups, admin group → admin (and demotion), a disallowed
 * group → 403 page, a tampered ID token rejected by the JWKS signature check, token refresh of an
 * expired access token, RP-initiated logout, and tokens unreadable in the SQLite file.
 */
import { readFileSync, existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import { startAuthHub, startOidcHub, type AuthTestHub } from './helpers.js';
import type { TestOp } from './fixtures/oidc-op.js';

const SECRET = 'oidc-client-secret-for-tests-0123456789';
const TTL = 6;

describe('OIDC login against a real OpenID Provider', () => {
  let op: TestOp;
  let h: AuthTestHub;

  beforeAll(async () => {
    ({ op, h } = await startOidcHub(
      (issuer) => ({
        allowExistingUsers: false,
        methods: [
          { kind: 'local' },
          {
            kind: 'oidc',
            issuer,
            clientId: 'labhub',
            label: 'Sign in with Test IdP',
            allowInsecureHttp: true,
            scopes: ['openid', 'profile', 'email', 'groups'],
            manageGroups: true,
            allowedGroups: ['staff'],
            adminGroups: ['hub-admins'],
            refreshMarginSeconds: 1,
            // identity from the ID token alone: its signature is all that protects it
            fetchUserinfo: false,
          },
        ],
      }),
      { secret: SECRET, accessTokenTtl: TTL },
    ));
    op.accounts.set('alice', { name: 'Alice', email: 'alice@example.org', groups: ['staff', 'hub-admins'] });
    op.accounts.set('bob', { name: 'bob', email: 'bob@example.org', groups: ['staff'] });
    op.accounts.set('eve', { name: 'eve', email: 'eve@example.org', groups: ['guests'] });
  });
  afterAll(async () => {
    await h?.close();
    await op?.close();
  });

  async function oidcLogin(account: string, next = '/hub/api/user'): Promise<{ browser: Browser; res: Awaited<ReturnType<Browser['get']>> }> {
    op.nextLogin = account;
    const browser = new Browser(h.url);
    const res = await browser.get(`/hub/oauth/oidc/login?next=${encodeURIComponent(next)}`);
    return { browser, res };
  }

  const userId = (name: string) => h.hub.deps.users.byName(name)!.id;

  it('offers the provider on the login page next to the password form', async () => {
    const page = await new Browser(h.url).get('/hub/login?next=%2Fhub%2Fhome');
    expect(page.status).toBe(200);
    expect(page.text).toContain('href="/hub/oauth/oidc/login?next=%2Fhub%2Fhome"');
    expect(page.text).toContain('Sign in with Test IdP');
    expect(page.text).toContain('name="password"');
  });

  it('sends PKCE (S256), state and nonce to the provider', async () => {
    const res = await new Browser(h.url).request('/hub/oauth/oidc/login', {}, false);
    expect(res.status).toBe(302);
    const loc = new URL(res.headers.get('location')!);
    expect(`${loc.origin}${loc.pathname}`).toBe(`${op.issuer}/auth`);
    expect(loc.searchParams.get('code_challenge_method')).toBe('S256');
    expect(loc.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(loc.searchParams.get('state')).toMatch(/^[\w-]{16,}$/);
    expect(loc.searchParams.get('nonce')).toMatch(/^[\w-]{16,}$/);
    expect(loc.searchParams.get('redirect_uri')).toBe(`${h.url}/hub/oauth/oidc/callback`);
    expect(loc.searchParams.get('scope')!.split(' ')).toEqual(expect.arrayContaining(['openid', 'groups']));
  });

  it('logs in end to end: groups claim → LabHub groups, admin group → admin', async () => {
    const { res } = await oidcLogin('alice');
    expect(res.status, res.text).toBe(200);
    expect(res.chain.some((u) => u.startsWith(`${op.issuer}/auth`))).toBe(true);
    expect(res.chain.some((u) => u.startsWith(`${h.url}/hub/oauth/oidc/callback?code=`))).toBe(true);
    expect(JSON.parse(res.text)).toMatchObject({ name: 'alice', admin: true });
    expect(h.hub.deps.users.groupNames(userId('alice'))).toEqual(['hub-admins', 'staff']);
    const state = h.hub.deps.authState.get(userId('alice'))!;
    expect(state).toMatchObject({ method: 'oidc', token_type: expect.stringMatching(/bearer/i) });
    expect(typeof state.access_token).toBe('string');
    expect(typeof state.refresh_token).toBe('string');
    expect((state.claims as Record<string, unknown>).email).toBe('alice@example.org');
  });

  it('keeps tokens encrypted: the access, refresh and ID tokens are not in the SQLite file bytes', async () => {
    const state = h.hub.deps.authState.get(userId('alice'))!;
    h.hub.deps.db.pragma('wal_checkpoint(FULL)');
    let bytes = readFileSync(h.dbFile);
    if (existsSync(`${h.dbFile}-wal`)) bytes = Buffer.concat([bytes, readFileSync(`${h.dbFile}-wal`)]);
    for (const secret of [state.access_token, state.refresh_token, state.id_token] as string[]) {
      expect(secret.length).toBeGreaterThan(20);
      expect(bytes.includes(Buffer.from(secret))).toBe(false);
      expect(h.logs()).not.toContain(secret);
    }
    expect(bytes.includes(Buffer.from('alice@example.org'))).toBe(false); // claims too
    expect(h.logs()).not.toContain(SECRET);
  });

  it('demotes an admin who left the admin group at the next login', async () => {
    op.accounts.get('alice')!.groups = ['staff'];
    const { res } = await oidcLogin('alice');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ name: 'alice', admin: false });
    expect(h.hub.deps.users.groupNames(userId('alice'))).toEqual(['staff']);
  });

  it('refuses a user outside the allowed groups with a 403 page', async () => {
    const { browser, res } = await oidcLogin('eve', '/hub/home');
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.text).toContain('not allowed to log in');
    expect(h.hub.deps.users.byName('eve')).toBeUndefined();
    expect((await browser.get('/hub/api/user')).status).toBe(403);
  });

  it('rejects a tampered ID token (signature checked against the JWKS)', async () => {
    op.tamperIdTokens = true;
    try {
      const { browser, res } = await oidcLogin('bob');
      expect(res.status).toBe(403);
      expect(res.text).toContain('could not be verified');
      expect(h.hub.deps.users.byName('mallory')).toBeUndefined();
      expect(h.hub.deps.users.byName('bob')).toBeUndefined();
      expect((await browser.get('/hub/api/user')).status).toBe(403);
    } finally {
      op.tamperIdTokens = false;
    }
    // the same login without tampering works, so the refusal was the signature
    const { res } = await oidcLogin('bob');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text).name).toBe('bob');
  });

  it('refreshes an expired access token (refreshAuthState), and groups/admin follow the provider', async () => {
    op.accounts.get('alice')!.groups = ['staff'];
    expect((await oidcLogin('alice')).res.status).toBe(200);
    const id = userId('alice');
    const before = h.hub.deps.authState.get(id)!;
    // not yet expired: nothing changes
    expect((await h.hub.deps.auth.refreshAuthState(id))!.access_token).toBe(before.access_token);
    op.accounts.get('alice')!.groups = ['staff', 'hub-admins'];
    const expiresAt = before.expires_at as number;
    const userinfo = (token: string) => fetch(`${op.issuer}/me`, { headers: { Authorization: `Bearer ${token}` } });
    // wait (bounded) until the provider itself considers the token expired
    let status = 0;
    for (let i = 0; i < 60 && status !== 401; i++) {
      if (Date.now() / 1000 > expiresAt) status = (await userinfo(before.access_token as string)).status;
      if (status !== 401) await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(401);
    const after = (await h.hub.deps.auth.refreshAuthState(id))!;
    expect(after.access_token).not.toBe(before.access_token);
    expect(after.expires_at as number).toBeGreaterThan(expiresAt);
    expect((await userinfo(after.access_token as string)).status).toBe(200);
    expect(h.hub.deps.users.byId(id)!.admin).toBe(1);
    expect(h.hub.deps.users.groupNames(id)).toEqual(['hub-admins', 'staff']);
  });

  it('logs out at the provider too (RP-initiated logout) and the hub session is gone', async () => {
    const { browser, res } = await oidcLogin('bob');
    expect(res.status).toBe(200);
    const out = await browser.request('/hub/logout', {}, false);
    expect(out.status).toBe(302);
    const loc = new URL(out.headers.get('location')!);
    expect(`${loc.origin}${loc.pathname}`).toBe(`${op.issuer}/session/end`);
    expect(loc.searchParams.get('post_logout_redirect_uri')).toBe(`${h.url}/hub/login`);
    expect(loc.searchParams.get('id_token_hint')).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/); // the ID token (a JWT)
    expect((await browser.get('/hub/api/user')).status).toBe(403);
    // the provider asks for confirmation, then returns to the hub's login page
    const confirm = await browser.get(loc.href);
    expect(confirm.status).toBe(200);
    const action = /action="([^"]+)"/.exec(confirm.text)?.[1];
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.text)?.[1];
    expect(action).toMatch(/\S/);
    expect(xsrf).toMatch(/^\S{8,}$/);
    const back = await browser.request(new URL(action!, op.issuer).href, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ xsrf: xsrf!, logout: 'yes' }).toString() });
    expect(back.url).toBe(`${h.url}/hub/login`);
    expect(back.status).toBe(200);
    // the provider session ended: the next login needs the login prompt again
    const prompts = op.loginPrompts;
    op.nextLogin = 'bob';
    const again = await browser.get('/hub/oauth/oidc/login?next=%2Fhub%2Fapi%2Fuser');
    expect(again.status).toBe(200);
    expect(op.loginPrompts).toBe(prompts + 1);
  });
});

describe('OIDC provider down', () => {
  it('the hub still starts and serves the login page; the OIDC button answers 503, not a crash', async () => {
    const h = await startAuthHub({ auth: { methods: [{ kind: 'local' }, { kind: 'oidc', issuer: 'http://127.0.0.1:9/realms/x', clientId: 'labhub', allowInsecureHttp: true }] } }, { clientSecrets: { oidc: SECRET } });
    try {
      const page = await new Browser(h.url).get('/hub/login');
      expect(page.status).toBe(200);
      const res = await new Browser(h.url).get('/hub/oauth/oidc/login');
      expect(res.status).toBe(503);
      expect(res.text).toContain('not reachable');
    } finally {
      await h.close();
    }
  });
});
