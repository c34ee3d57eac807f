/**
 * The browser side under generated bad input (fast-check): GETs and form POSTs to every page route
 * (spawn, spawn-pending, admin forms, tokens, sign-up, shares, user-redirect, OAuth authorize, route
 * login, terminals) with random path segments, query values (next=, redirect_uri=, client_id=, …) and
 * form fields, as the admin, as alice and anonymously (with no cookies, or the hub's cookie names holding
 * forged, undecodable or huge values), with the right, a wrong or no _xsrf.
 *
 * Every answer must be a complete response below 500; a browser's error is the HTML error page; no
 * redirect leaves the hub's origin (no open redirect through next= or friends); no one but the admin
 * gets a 2xx from an admin page; the hub keeps answering; and the database passes SQLite's integrity
 * check. Logout and the admin's own account are left out (they end the sessions the run needs).
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthHub, type AuthTestHub } from '../auth/helpers.js';
import { Browser } from '../helpers/browser.js';
import { rawRequest, type RawAnswer } from '../helpers/raw-http.js';
import { FAKE_SINGLEUSER } from '../helpers/test-hub.js';
import { ProxyClient } from '../../proxy/client.js';
import { startProxy, type StartedProxy } from '../../proxy/proxy.js';
import { silentLogger } from '../../proxy/log.js';

const ADMIN_PW = 'fuzz-admin-password-1';
let h: AuthTestHub;
let target: { host: string; port: number };
let origin: string;
const sessions: Record<'admin' | 'alice', { cookie: string; xsrf: string }> = { admin: { cookie: '', xsrf: '' }, alice: { cookie: '', xsrf: '' } };

const GET_PATHS = ['/hub/', '/hub/home', '/hub/login', '/hub/spawn', '/hub/spawn/:user', '/hub/spawn/:user/:server', '/hub/spawn-pending/:user', '/hub/spawn-pending/:user/:server', '/hub/token', '/hub/admin', '/hub/admin/audit', '/hub/admin/orphans', '/hub/admin/schedules', '/hub/admin/groups', '/hub/accept-share', '/hub/account/password', '/hub/error/:code', '/hub/new-server', '/hub/oauth_login', '/hub/signup', '/hub/signups', '/hub/user-redirect/:user', '/hub/user-redirect/:user/:server', '/hub/user/:user/:server', '/user/:user/', '/user/:user/:server/lab', '/hub/api/oauth2/authorize', '/hub/routes/login', '/hub/terminal/:user', '/hub/terminal/:user/:server', '/hub/static/:user', '/:user', '/hub/:user'];
const POST_PATHS = ['/hub/login', '/hub/spawn', '/hub/spawn/:user', '/hub/spawn/:user/:server', '/hub/token', '/hub/token/:server/revoke', '/hub/token/apps/:user/revoke', '/hub/accept-share', '/hub/account/password', '/hub/admin/users', '/hub/admin/users/:user/admin', '/hub/admin/users/:user/rename', '/hub/admin/users/:user/delete', '/hub/admin/users/:user/stop', '/hub/admin/groups', '/hub/admin/groups/:user/delete', '/hub/admin/groups/:user/members', '/hub/admin/groups/:user/properties', '/hub/admin/orphans/remove', '/hub/admin/schedules/override', '/hub/admin/stop-all', '/hub/signup', '/hub/signups/:user/:server', '/hub/signups/unlock', '/hub/api/oauth2/authorize', '/hub/api/oauth2/token', '/hub/new-server'];
const NAMES = ['alice', 'bob', 'dash', 'physics', 'approve', 'reject', '1', '200', '404', '503', 'x', ''];
const NASTY = ['%', '%zz', '%00', '%2e%2e', '..', '%2F%2Fevil.example', '%5C%5Cevil.example', '%FF', '%C0%AE', 'a%20b', '__proto__', 'a'.repeat(600)];
const REDIRECTS = ['//evil.example/', '/\\evil.example', 'https://evil.example/x', 'http:evil.example', '/%2F%2Fevil.example', '/%5Cevil.example', 'javascript:alert(1)', '\\\\evil.example', '/hub/home', '/user/alice/', 'http://127.0.0.1:1/', ' //evil.example', '/\t/evil.example', '%2F%2Fevil.example'];

let proxy: StartedProxy;

beforeAll(async () => {
  // a real proxy, so spawns succeed and a 5xx can only be the hub's own fault
  const proxyToken = randomBytes(16).toString('hex');
  proxy = await startProxy({ authToken: proxyToken, port: 0, apiPort: 0, log: silentLogger });
  h = await startAuthHub(
    {
      allowNamedServers: true,
      auth: { methods: [{ kind: 'local', minPasswordLength: 10, allowSignup: true }] },
      spawner: { kind: 'local', cmd: [process.execPath, FAKE_SINGLEUSER], stopGraceSeconds: 2 },
      groups: { physics: { users: ['alice'] } },
    },
    { adminPassword: ADMIN_PW, proxy: new ProxyClient({ apiUrl: proxy.apiUrl, authToken: proxyToken }) },
  );
  const u = new URL(h.url);
  target = { host: u.hostname, port: Number(u.port) };
  origin = u.origin;
  const adminToken = h.tokenFor('admin');
  const api = (path: string, body: unknown) => fetch(`${h.url}/hub/api${path}`, { method: 'POST', headers: { Authorization: `token ${adminToken}` }, body: JSON.stringify(body) });
  expect([201, 409]).toContain((await api('/users/alice', {})).status); // the physics group may have made her already
  expect((await api('/users/alice/password', { password: 'alice-password-1' })).status).toBe(204);
  for (const [who, pw] of [['admin', ADMIN_PW], ['alice', 'alice-password-1']] as const) {
    const b = await Browser.loggedIn(new Browser(h.url), who, pw);
    sessions[who] = { cookie: await b.jar.getCookieString(`${h.url}/hub/`), xsrf: await b.xsrf() };
  }
}, 60_000);

afterAll(async () => {
  if (process.env.FUZZ_LOG) (await import('node:fs')).writeFileSync(process.env.FUZZ_LOG, h?.logs() ?? '');
  await h?.hub.deps.serverManager.stopAll();
  await h?.close();
  await proxy?.close();
});

const segment = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...NAMES) }, { weight: 2, arbitrary: fc.constantFrom(...NASTY) }, { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }).map(encodeURIComponent) });
// query values both encoded and raw (where a raw one is a legal request target)
const value = fc.oneof(fc.constantFrom(...REDIRECTS).map(encodeURIComponent), fc.constantFrom(...REDIRECTS, ...NAMES, ...NASTY).filter((v) => !/[\s]/.test(v)), fc.string({ maxLength: 40 }).map(encodeURIComponent));
const query = fc
  .dictionary(fc.constantFrom('next', 'redirect_uri', 'client_id', 'response_type', 'state', 'scope', 'code', 'code_challenge', 'profile', 'server', 'user', 'error', 'message', 'route', 'target', 'offset', 'limit'), value, { maxKeys: 4 })
  .map((q) => Object.entries(q).map(([k, v]) => `${k}=${v}`).join('&'));
const formFields = fc.dictionary(
  fc.constantFrom('username', 'password', 'password2', 'current_password', 'new_password', 'names', 'usernames', 'admin', 'name', 'note', 'expires_in', 'scopes', 'profile', 'image', 'cpu', 'memory', 'gpu', 'members', 'properties', 'group', 'kind', 'id', 'action', 'code', 'client_id', 'redirect_uri', 'grant_type', 'client_secret', 'next', 'until', 'stop_at', 'tz', '__proto__'),
  fc.oneof(fc.constantFrom(...NAMES, ...REDIRECTS, 'on', 'off', '-1', '0', '1e9', '4', '16G', '{"gpu":true}', '{', 'alice-password-2', '2026-13-45T99:99'), fc.string({ maxLength: 60 })),
  { maxKeys: 5 },
);

const caller = fc.constantFrom<'admin' | 'alice' | 'anonymous'>('admin', 'admin', 'alice', 'anonymous');
// what an anonymous caller may send as cookies: the hub's cookie names with forged, undecodable or huge values
const COOKIE_VALUES = ['forged', '%', '%E0%A4%A', 's%3Aforged.sig', 's:', '"', '""', ';', '=', 'a'.repeat(3000), '%00', 'j:{"a":1}', 'j:{'];
const forgedCookie = fc.option(fc.tuple(fc.nat(), fc.constantFrom(...COOKIE_VALUES)), { nil: undefined });
const xsrfChoice = fc.constantFrom<'right' | 'wrong' | 'none'>('right', 'right', 'wrong', 'none');

function fill(path: string, segs: string[]): string {
  let i = 0;
  return path.replace(/:[a-z]+/g, () => segs[i++ % segs.length]!);
}

function checkAnswer(label: string, who: string, path: string, a: RawAnswer): void {
  const said = `${label} → ${a.status} ${a.location ?? ''} ${a.body.slice(0, 300)}`;
  expect(a.status, said).toBeGreaterThanOrEqual(100);
  // the proxy's error page answers with the status it names (/hub/error/503 is a 503 by design)
  const proxyError = /^\/hub\/error\/([45]\d\d)$/.exec(path);
  if (proxyError) expect(a.status, said).toBe(Number(proxyError[1]));
  else expect(a.status, said).toBeLessThan(500);
  if (a.status >= 300 && a.status < 400 && a.location !== undefined) {
    // browsers treat `\` as `/`: the WHATWG parser below does too, so `/\evil` is caught as off-origin
    expect(new URL(a.location, origin).origin, `open redirect: ${said}`).toBe(origin);
  }
  // a browser's error is one of the hub's pages (the error page, the form again with an alert, "server not
  // running"), never an empty body or a stack trace
  if (a.status >= 400 && a.contentType.startsWith('text/html')) {
    expect(/^<!doctype html>/i.test(a.body) && a.body.includes('<title>'), `error page: ${said}`).toBe(true);
    expect(a.body, `stack trace in: ${said}`).not.toMatch(/\n\s+at .+:\d+:\d+/);
  }
  if (who !== 'admin' && path.startsWith('/hub/admin') && a.status < 300) throw new Error(`a non-admin got an admin page: ${said}`);
}

const seen = new Map<string, Set<number>>();
// routes that did their work at least once: a page shown, or a redirect other than "log in first"
const served = new Set<string>();

describe('pages under generated bad input', () => {
  it('answer below 500, never redirect off the hub, keep admin pages to admins, and keep serving', async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.nat(), fc.array(segment, { minLength: 2, maxLength: 2 }), query, formFields, caller, xsrfChoice, forgedCookie, async (post, pick, segs, q, fields, who, xsrf, forged) => {
        const list = post ? POST_PATHS : GET_PATHS;
        const pattern = list[pick % list.length]!;
        const path = fill(pattern, segs);
        const url = q ? `${path}?${q}` : path;
        const headers: Record<string, string> = { Accept: 'text/html,application/xhtml+xml' };
        if (who !== 'anonymous') headers.Cookie = sessions[who].cookie;
        else if (forged) {
          const names = sessions.admin.cookie.split('; ').map((c) => c.split('=')[0]!);
          headers.Cookie = `${names[forged[0] % names.length]}=${forged[1]}`;
        }
        let body: string | undefined;
        if (post) {
          const form = new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, String(v)]));
          if (xsrf !== 'none' && who !== 'anonymous') form.set('_xsrf', xsrf === 'right' ? sessions[who].xsrf : 'forged');
          headers['Content-Type'] = 'application/x-www-form-urlencoded';
          body = form.toString();
        }
        const label = `${who} ${post ? 'POST' : 'GET'} ${url} ${body ?? ''}`.slice(0, 400);
        const answer = await rawRequest(target, post ? 'POST' : 'GET', url, headers, body);
        const key = `${post ? 'POST' : 'GET'} ${pattern}`;
        seen.set(key, (seen.get(key) ?? new Set()).add(answer.status));
        if (answer.status < 300 || (answer.status < 400 && !answer.location?.startsWith('/hub/login'))) served.add(key);
        checkAnswer(label, who, path, answer);
        const alive = await rawRequest(target, 'GET', '/hub/health', {});
        expect(alive.status, `hub stopped answering after ${label}`).toBe(200);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 1500), seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined },
    );
    if (process.env.FUZZ_REPORT) for (const [k, v] of [...seen].sort()) console.log(k, [...v].sort().join(' '));
    // the run reached the pages themselves, not only refusals: pages shown, forms redirecting, forms refused
    const statuses = new Set([...seen.values()].flatMap((v) => [...v]));
    for (const s of [200, 302, 400, 403, 404]) expect(statuses, `some request answered ${s}`).toContain(s);
    expect(served.size, `routes that did their work at least once: ${[...served].join(', ')}`).toBeGreaterThan((GET_PATHS.length + POST_PATHS.length) / 3);
  }, 240_000);

  it("the proxy's error page: a 4xx/5xx code answers with that status, anything else is no such page", async () => {
    for (const [code, status] of [['503', 503], ['404', 404], ['500', 500], ['200', 404], ['abc', 404], ['5030', 404], ['%zz', 400]] as const) {
      expect((await rawRequest(target, 'GET', `/hub/error/${code}`, { Accept: 'text/html' })).status, code).toBe(status);
    }
  });

  it('lost nothing: database integrity, no polluted prototypes, the admin still logs in', async () => {
    const d = h.hub.deps;
    expect(d.db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // the admin's session outlived the run (a fresh login may meet the login rate limit the run tripped)
    const me = await rawRequest(target, 'GET', '/hub/api/user', { Cookie: sessions.admin.cookie });
    expect(me.status).toBe(200);
    expect(JSON.parse(me.body)).toMatchObject({ name: 'admin', admin: true });
  });
});
