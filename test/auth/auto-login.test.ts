/**
 * auth.autoLogin (JupyterHub's auto_login) against a real OpenID Provider on loopback: /hub/login
 * skips the login page and goes to the provider (keeping `next`), a browser visiting a protected page
 * ends up logged in without ever seeing a form of ours, logout without an RP-initiated logout shows a
 * "signed out" page instead of bouncing back into the provider, and the configuration refuses
 * autoLogin where it cannot work (a local method, several methods).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../config/schema.js';
import { Browser } from '../helpers/browser.js';
import { startOidcHub, type AuthTestHub } from './helpers.js';
import type { TestOp } from './fixtures/oidc-op.js';

const SECRET = 'auto-login-client-secret-0123456789';

describe('auth.autoLogin', () => {
  let op: TestOp;
  let h: AuthTestHub;

  beforeAll(async () => {
    ({ op, h } = await startOidcHub(
      (issuer) => ({
        autoLogin: true,
        allowAll: true,
        methods: [{ kind: 'oidc', issuer, clientId: 'labhub', allowInsecureHttp: true, scopes: ['openid', 'profile', 'email'], logoutRedirect: false }],
      }),
      { secret: SECRET, accessTokenTtl: 600 },
    ));
    op.accounts.set('carla', { name: 'carla', email: 'carla@example.org', groups: [] });
  });
  afterAll(async () => {
    await h?.close();
    await op?.close();
  });

  it('/hub/login redirects to the provider at once, keeping next', async () => {
    const res = await new Browser(h.url).request('/hub/login?next=%2Fhub%2Fspawn', {}, false);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/hub/oauth/oidc/login?next=%2Fhub%2Fspawn');
  });

  it('a visit to a protected page ends logged in, through the provider, without a login form of ours', async () => {
    op.nextLogin = 'carla';
    const browser = new Browser(h.url);
    const res = await browser.get('/hub/home');
    expect(res.status, res.text.slice(0, 300)).toBe(200);
    expect(res.chain.some((u) => u.startsWith(op.issuer))).toBe(true);
    expect(res.chain.some((u) => u.includes('/hub/login?next=%2Fhub%2Fhome'))).toBe(true);
    expect(res.url).toBe(`${h.url}/hub/home`);
    expect(res.text).not.toContain('name="password"');
    expect(JSON.parse((await browser.get('/hub/api/user')).text).name).toBe('carla');

    // logout: a "signed out" page (200), not a redirect into /hub/login → provider → logged in again
    const out = await browser.request('/hub/logout', {}, false);
    expect(out.status).toBe(200);
    expect(out.text).toContain('You have been signed out');
    expect((await browser.request('/hub/api/user', {}, false)).status).toBe(403);
  });

  it('is refused by the configuration with a local method or with several methods', () => {
    const local = ConfigSchema.safeParse({ auth: { autoLogin: true, methods: [{ kind: 'local' }] } });
    expect(local.success).toBe(false);
    expect(local.error!.issues[0]).toMatchObject({ path: ['auth', 'autoLogin'], message: expect.stringMatching(/exactly one login method, of kind github or oidc \(configured: local\)/) });
    const two = ConfigSchema.safeParse({ auth: { autoLogin: true, methods: [{ kind: 'oidc', issuer: 'https://idp.example', clientId: 'x' }, { kind: 'local' }] } });
    expect(two.success).toBe(false);
    expect(ConfigSchema.safeParse({ auth: { autoLogin: true, methods: [{ kind: 'oidc', issuer: 'https://idp.example', clientId: 'x' }] } }).success).toBe(true);
  });
});
