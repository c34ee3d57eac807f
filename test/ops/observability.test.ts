/**
 * Observability on an in-process hub (real SQLite, real proxy, local spawner with the fake server):
 *  - an audit entry for each admin action, through the REST API and through the admin console
 *    (session login + _xsrf forms), queryable with filters and JupyterHub pagination, and shown on
 *    /hub/admin/audit; read:audit is needed;
 *  - /hub/metrics scraped and parsed (Prometheus text format): JupyterHub metric names with
 *    spawner-kind labels, values matching the hub's state;
 *  - /hub/health, request ids (X-Request-Id, reqId in log lines), no secrets in audit details.
 */
import { Writable } from 'node:stream';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../hub/auth/password.js';
import { auditingLogger } from '../../hub/audit.js';
import { createLogger } from '../../hub/log.js';
import { requestContext } from '../../hub/request-context.js';
import { startTestHub, type TestHub } from '../helpers/test-hub.js';

let t: TestHub;
let admin = '';
const as = (token: string) => ({
  get: (p: string) => t.api.get(`/hub/api${p}`).set('Authorization', `token ${token}`),
  post: (p: string, b?: object) => t.api.post(`/hub/api${p}`).set('Authorization', `token ${token}`).send(b ?? {}),
  patch: (p: string, b: object) => t.api.patch(`/hub/api${p}`).set('Authorization', `token ${token}`).send(b),
  put: (p: string, b: object) => t.api.put(`/hub/api${p}`).set('Authorization', `token ${token}`).send(b),
  del: (p: string, b?: object) => t.api.delete(`/hub/api${p}`).set('Authorization', `token ${token}`).send(b ?? {}),
});

beforeAll(async () => {
  t = await startTestHub({ allowNamedServers: true });
  admin = t.tokenFor('admin', { admin: true });
});
afterAll(() => t?.close());

/** Parses the Prometheus text exposition format into samples. */
function parseProm(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text format: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

describe('audit log', () => {
  it('records every admin action made through the REST API', async () => {
    const a = as(admin);
    await a.post('/users/zed').expect(201);
    await a.patch('/users/zed', { admin: true }).expect(200);
    await a.post('/groups/lab').expect(201);
    await a.post('/groups/lab/users', { users: ['zed'] }).expect(200);
    await a.put('/groups/lab/properties', { quota: 3 }).expect(200);
    const tok = await a.post('/users/zed/tokens', { note: 'ci' }).expect(201);
    await a.del(`/users/zed/tokens/${tok.body.id}`).expect(204);
    await a.post('/users/zed/server').expect(201);
    await a.del('/users/zed/server').expect(204);
    await a.del('/groups/lab/users', { users: ['zed'] }).expect(200);
    await a.del('/groups/lab').expect(204);
    await a.del('/users/zed').expect(204);

    const res = await a.get('/audit?actor=admin&limit=200').expect(200);
    const got = (res.body as Array<{ action: string; target: string; actor: string }>).map((e) => `${e.action} ${e.target}`).reverse();
    expect(got).toEqual([
      'users-created user:zed',
      'user-updated user:zed',
      'group-created group:lab',
      'group-members-added group:lab',
      'group-properties-changed group:lab',
      'token-created user:zed',
      'token-revoked user:zed',
      'server-start server:zed/',
      'server-stop server:zed/',
      'group-members-removed group:lab',
      'group-deleted group:lab',
      'user-deleted user:zed',
    ]);
    // token details carry the token's id, never the token
    const created = (res.body as Array<{ action: string; details: Record<string, unknown> }>).find((e) => e.action === 'token-created')!;
    expect(created.details).toEqual({ user: 'zed', tokenId: tok.body.id });
    expect(JSON.stringify(res.body)).not.toContain(tok.body.token);
  });

  it('filters and paginates like JupyterHub; needs read:audit', async () => {
    const a = as(admin);
    const page = await a.get('/audit?target=group:lab&limit=2').set('Accept', 'application/jupyterhub-pagination+json').expect(200);
    expect(page.body._pagination).toMatchObject({ offset: 0, limit: 2, total: 5 });
    expect(page.body.items.map((e: { action: string }) => e.action)).toEqual(['group-deleted', 'group-members-removed']);
    const next = await t.api.get(page.body._pagination.next.url).set('Authorization', `token ${admin}`).set('Accept', 'application/jupyterhub-pagination+json').expect(200);
    expect(next.body.items.map((e: { action: string }) => e.action)).toEqual(['group-properties-changed', 'group-members-added']);
    expect((await a.get('/audit?target=server:zed/*')).body).toHaveLength(2);
    expect((await a.get('/audit?action=group-created&since=2000-01-01T00:00:00Z')).body).toHaveLength(1);
    expect((await a.get('/audit?since=yesterday')).status).toBe(400);
    const user = t.tokenFor('plain');
    expect((await as(user).get('/audit')).status).toBe(403);
    // a custom role with only read:audit is enough
    const auditor = t.tokenFor('auditor');
    const role = t.hub.deps.roles.upsert('auditor', 'reads the audit log', ['read:audit']);
    t.hub.deps.roles.setAssignments(role.id, { userIds: [t.hub.deps.users.byName('auditor')!.id], groupIds: [], serviceIds: [] });
    t.hub.deps.access.invalidate();
    expect((await as(auditor).get('/audit')).status).toBe(200);
    expect((await as(auditor).get('/users')).status).toBe(403);
  });

  it('records admin console actions (session + forms) and shows them on /hub/admin/audit', async () => {
    const d = t.hub.deps;
    d.users.setPasswordHash(d.users.byName('admin')!.id, await hashPassword('admin-password-1'));
    const browser = supertest.agent(t.hub.app);
    const login = await browser.get('/hub/login');
    const xsrf0 = /name="_xsrf" value="([^"]+)"/.exec(login.text)![1];
    await browser.post('/hub/login').type('form').send({ username: 'admin', password: 'admin-password-1', _xsrf: xsrf0 }).expect(302);
    const page = await browser.get('/hub/admin').expect(200);
    expect(page.text).toContain('href="/hub/admin/audit"');
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(page.text)![1];
    await browser.post('/hub/admin/users').type('form').send({ usernames: 'kim', _xsrf: xsrf }).expect(201);
    await browser.post('/hub/admin/groups').type('form').send({ name: 'course', _xsrf: xsrf }).expect(303);
    await browser.post('/hub/admin/groups/course/members').type('form').send({ user: 'kim', _xsrf: xsrf }).expect(303);
    await browser.post('/hub/admin/groups/course/properties').type('form').send({ properties: '{"a":1}', _xsrf: xsrf }).expect(303);
    await as(admin).post('/users/kim/server').expect(201);
    await browser.post('/hub/admin/users/kim/stop').type('form').send({ server: '', _xsrf: xsrf }).expect(303);
    await browser.post('/hub/admin/users/kim/admin').type('form').send({ admin: 'true', _xsrf: xsrf }).expect(303);
    await browser.post('/hub/admin/stop-all').type('form').send({ _xsrf: xsrf }).expect(303);
    await browser.post('/hub/admin/groups/course/delete').type('form').send({ _xsrf: xsrf }).expect(303);
    await browser.post('/hub/admin/users/kim/delete').type('form').send({ _xsrf: xsrf }).expect(303);

    const since = d.audit.query({ action: 'login', actor: 'admin' }).items[0];
    expect(since).toMatchObject({ action: 'login', target: 'user:admin' });
    const after = d.audit.query({ actor: 'admin', limit: 200 }).items.filter((e) => e.id > since.id).map((e) => `${e.action} ${e.target}`).reverse();
    expect(after).toEqual([
      'users-created user:kim',
      'group-created group:course',
      'group-members-changed group:course',
      'group-properties-changed group:course',
      'server-start server:kim/',
      'server-stop server:kim/',
      'user-updated user:kim',
      'stop-all ',
      'group-deleted group:course',
      'user-deleted user:kim',
    ]);
    const view = await browser.get('/hub/admin/audit?target=group:course').expect(200);
    expect(view.text).toContain('<code>group-created</code>');
    expect(view.text).toContain('<code>group-properties-changed</code>');
    expect(view.text).not.toContain('<code>users-created</code>');
    expect(view.text).toMatch(/4 entries/);
    // a user without read:audit is refused the page
    d.users.setPasswordHash(d.users.byName('plain')!.id, await hashPassword('plain-password-1'));
    const other = supertest.agent(t.hub.app);
    const l2 = await other.get('/hub/login');
    await other.post('/hub/login').type('form').send({ username: 'plain', password: 'plain-password-1', _xsrf: /name="_xsrf" value="([^"]+)"/.exec(l2.text)![1] }).expect(302);
    expect((await other.get('/hub/admin/audit')).status).toBe(403);
  });

  it('logout and failed logins are audited; passwords never are', async () => {
    const browser = supertest.agent(t.hub.app);
    const login = await browser.get('/hub/login');
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(login.text)![1];
    await browser.post('/hub/login').type('form').send({ username: 'admin', password: 'wrong-password-99', _xsrf: xsrf });
    const failed = t.hub.deps.audit.query({ action: 'login-failed' }).items[0];
    expect(failed).toMatchObject({ actor: 'admin', target: 'user:admin' });
    expect(JSON.stringify(t.hub.deps.audit.query({ limit: 200 }).items)).not.toContain('wrong-password-99');
  });
});

describe('metrics, health, request ids', () => {
  it('/hub/metrics parses as Prometheus text with JupyterHub names and spawner labels', async () => {
    const a = as(admin);
    for (const u of ['m1', 'm2']) {
      await a.post(`/users/${u}`).expect(201);
      await a.post(`/users/${u}/server`).expect(201);
    }
    await t.hub.deps.serverManager.pollAll();
    await t.hub.deps.serverManager.checkRoutes('http://127.0.0.1:1');
    const res = await t.api.get('/hub/metrics').set('Authorization', `token ${admin}`).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const samples = parseProm(res.text);
    const one = (name: string, labels: Record<string, string> = {}) => samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    expect(one('jupyterhub_running_servers', { spawner: 'local' })?.value).toBe(t.hub.deps.serverManager.runningCount());
    expect(one('jupyterhub_running_servers', { spawner: 'local' })?.value).toBeGreaterThanOrEqual(2);
    expect(one('jupyterhub_total_users')?.value).toBe(t.hub.deps.users.count());
    expect(one('jupyterhub_server_spawn_duration_seconds_count', { status: 'success', spawner: 'local' })?.value).toBeGreaterThanOrEqual(3);
    expect(one('jupyterhub_server_poll_duration_seconds_count', { status: 'running' })?.value).toBeGreaterThanOrEqual(2);
    expect(one('jupyterhub_check_routes_duration_seconds_count')?.value).toBeGreaterThanOrEqual(1);
    expect(one('jupyterhub_request_duration_seconds_count', { method: 'POST', code: '201' })?.value).toBeGreaterThan(0);
    expect(one('jupyterhub_active_users', { period: '24h' })).toBeDefined();
    expect(samples.find((s) => s.name.endsWith('resident_memory_bytes'))?.value).toBeGreaterThan(0); // hub memory
    expect((await t.api.get('/hub/metrics').set('Authorization', `token ${t.tokenFor('plain')}`)).status).toBe(403);
  });

  it('/hub/health answers without credentials', async () => {
    const res = await t.api.get('/hub/health').expect(200);
    expect(res.body).toMatchObject({ status: 'ok', checks: { database: 'ok', proxy: 'ok' } });
    expect(res.body.running).toBe(t.hub.deps.serverManager.runningCount());
  });

  it('every response carries a request id; a sane incoming one is kept', async () => {
    const a = await t.api.get('/hub/health');
    expect(a.headers['x-request-id']).toMatch(/^[0-9a-f]{16}$/);
    const b = await t.api.get('/hub/health').set('X-Request-Id', 'lb-1234');
    expect(b.headers['x-request-id']).toBe('lb-1234');
    const c = await t.api.get('/hub/health').set('X-Request-Id', 'bad id\twith spaces');
    expect(c.headers['x-request-id']).toMatch(/^[0-9a-f]{16}$/);
  });

  it('log lines written during a request carry its reqId; audited event lines are unchanged and redacted', () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({ write: (chunk, _enc, cb) => (lines.push(JSON.parse(String(chunk)) as Record<string, unknown>), cb()) });
    const events: Array<Record<string, unknown>> = [];
    const log = auditingLogger(createLogger('info', sink), (e) => events.push(e)).child({ component: 'x' });
    requestContext.run({ reqId: 'req-42' }, () => log.info({ user: 'a', token: 'secret-token-value', event: 'token-created' }, 'token created'));
    log.info('outside');
    expect(lines[0]).toMatchObject({ reqId: 'req-42', component: 'x', event: 'token-created', token: '[redacted]', msg: 'token created' });
    expect(lines[1].reqId).toBeUndefined();
    expect(events).toHaveLength(1);
  });
});
