/**
 * GitHub login end to end against a local server that speaks GitHub's OAuth web flow and REST API,
 * selected through the Enterprise base URL setting (no network): organization and org:team
 * allow-lists, admin users, teams and the private primary email in (encrypted) auth state, state
 * checking, and the client secret never logged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import { startAuthHub, type AuthTestHub } from './helpers.js';
import { startFakeGitHub, type FakeGitHub } from './fixtures/github-fake.js';

const CLIENT = { clientId: 'gh-client-id', clientSecret: 'gh-client-secret-0123456789abcdef' };

describe('GitHub (Enterprise base URL) login', () => {
  let gh: FakeGitHub;
  let h: AuthTestHub;

  beforeAll(async () => {
    gh = await startFakeGitHub(CLIENT);
    h = await startAuthHub(
      {
        auth: {
          allowExistingUsers: false,
          methods: [
            {
              kind: 'github',
              clientId: CLIENT.clientId,
              enterpriseUrl: gh.url,
              scopes: ['read:user', 'user:email', 'read:org'],
              allowedOrganizations: ['lab-org', 'other-org:core-team'],
              adminUsers: ['octo-admin'],
            },
          ],
        },
      },
      { clientSecrets: { github: CLIENT.clientSecret } },
    );
    const add = (login: string, id: number, orgs: string[], teams: Array<{ org: string; slug: string }>, email: string | null = null) =>
      gh.users.set(login, { login, id, email, emails: [{ email: `${login.toLowerCase()}@users.noreply.example`, primary: false, verified: true }, { email: `${login.toLowerCase()}@lab.example`, primary: true, verified: true }], orgs, teams });
    add('Octocat', 1, ['some-org', 'lab-org'], [{ org: 'lab-org', slug: 'devs' }]);
    add('teamie', 2, ['other-org'], [{ org: 'other-org', slug: 'core-team' }]);
    add('outsider', 3, ['other-org'], [{ org: 'other-org', slug: 'random' }]);
    add('octo-admin', 4, ['lab-org'], [], 'public@lab.example');
  });
  afterAll(async () => {
    await h?.close();
    await gh?.close();
  });

  const login = async (who: string, next = '/hub/api/user') => {
    gh.nextLogin = who;
    const browser = new Browser(h.url);
    return { browser, res: await browser.get(`/hub/oauth/github/login?next=${encodeURIComponent(next)}`) };
  };

  it('shows a GitHub Enterprise button and no password form', async () => {
    const page = await new Browser(h.url).get('/hub/login');
    expect(page.text).toContain('Sign in with GitHub Enterprise');
    expect(page.text).toContain('href="/hub/oauth/github/login?next=%2Fhub%2Fhome"');
    expect(page.text).not.toContain('name="password"');
    expect((await new Browser(h.url).request('/hub/login', { method: 'POST' }, false)).status).toBe(404);
  });

  it('logs in an organization member; endpoints come from the Enterprise URL; teams and private email in auth state', async () => {
    const { res } = await login('Octocat');
    expect(res.status, res.text).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ name: 'octocat', admin: false });
    expect(res.chain[1]).toMatch(new RegExp(`^${gh.url}/login/oauth/authorize\\?`));
    const authz = gh.authorizeParams.at(-1)!;
    expect(authz.get('redirect_uri')).toBe(`${h.url}/hub/oauth/github/callback`);
    expect(authz.get('scope')).toBe('read:user,user:email,read:org');
    expect(authz.get('state')).toMatch(/^\S{8,}$/);
    for (const r of ['POST /login/oauth/access_token', 'GET /api/v3/user', 'GET /api/v3/user/orgs', 'GET /api/v3/user/teams', 'GET /api/v3/user/emails']) expect(gh.requests).toContain(r);
    const state = h.hub.deps.authState.get(h.hub.deps.users.byName('octocat')!.id)!;
    expect(state).toMatchObject({ method: 'github', email: 'octocat@lab.example', teams: ['lab-org:devs'], organizations: ['some-org', 'lab-org'] });
    expect(state.access_token).toMatch(/^gho_/);
    expect((state.github_user as { login: string }).login).toBe('Octocat');
  });

  it('admits a member of an allowed org:team and refuses a member of another team (403 page)', async () => {
    expect((await login('teamie')).res.status).toBe(200);
    const { res, browser } = await login('outsider', '/hub/home');
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.text).toContain('not allowed to log in');
    expect(h.hub.deps.users.byName('outsider')).toBeUndefined();
    expect((await browser.get('/hub/api/user')).status).toBe(403);
  });

  it('makes adminUsers admins', async () => {
    const { res } = await login('octo-admin');
    expect(JSON.parse(res.text)).toMatchObject({ name: 'octo-admin', admin: true });
    expect(h.hub.deps.authState.get(h.hub.deps.users.byName('octo-admin')!.id)!.email).toBe('public@lab.example');
  });

  it('refuses a callback whose state was not issued to this browser', async () => {
    gh.nextLogin = 'Octocat';
    const attacker = new Browser(h.url);
    const start = await attacker.request('/hub/oauth/github/login', {}, false);
    const authorize = await fetch(start.headers.get('location')!, { redirect: 'manual' });
    const callback = authorize.headers.get('location')!; // carries the attacker's code + state
    const victim = new Browser(h.url);
    const res = await victim.get(callback);
    expect(res.status).toBe(403);
    expect((await victim.get('/hub/api/user')).status).toBe(403);
  });

  it('logs out locally (GitHub has no logout endpoint) and never logs the client secret or tokens', async () => {
    const { browser } = await login('teamie');
    const out = await browser.request('/hub/logout', {}, false);
    expect(out.headers.get('location')).toBe('/hub/login');
    expect((await browser.get('/hub/api/user')).status).toBe(403);
    const logs = h.logs();
    expect(logs).toContain('"event":"login"');
    expect(logs).not.toContain(CLIENT.clientSecret);
    expect(logs).not.toMatch(/gho_[0-9a-f]{36}/);
  });
});
