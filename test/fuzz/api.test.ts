/**
 * "Bad input gets a clear error and loses nothing", checked by generated requests (fast-check) over
 * every route the REST API registers: random methods, path parameters (unicode, bad `%` escapes, dot
 * segments, 600 characters), query values, headers, credentials and bodies (random JSON, the API's own
 * field names with values of the wrong type, `__proto__` keys, broken JSON, wrong content types).
 *
 * Every answer must be a complete HTTP response below 500; a JSON error must be `{status, message}`
 * with the response's own status; the hub keeps answering; and at the end the database passes SQLite's
 * integrity check, no prototype was polluted, and a user the generator never names still has its
 * group, token and server. A failing case is shrunk by fast-check to the smallest request that fails.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, type RawAnswer } from '../helpers/raw-http.js';
import { startTestHub, type TestHub } from '../helpers/test-hub.js';

let t: TestHub;
let server: Server;
let base: { host: string; port: number };
const tokens: Record<string, string> = {};
let keeperToken = '';

// Routes left out, and why: shutdown ends the hub by design (test/integration/shutdown.test.ts).
const EXCLUDED = new Set(['POST /hub/api/shutdown']);
const KNOWN_NAMES = ['alice', 'bob', 'admin', 'physics', 'dash', 'culler', '1', 'new-user', 'x'];
const NASTY = ['%', '%zz', '%00', '%2e%2e', '..', '%2F', '%252F', '%C0%AE', '%FF', 'a%20b', '%E2%80%AE', '%F0%9F%98%80', '__proto__', 'constructor', '-1', '0', '1e9', 'a'.repeat(600), '%20'];
// The request fields the API's handlers read, so that generated bodies reach their validation.
const FIELDS = ['usernames', 'admin', 'name', 'users', 'groups', 'properties', 'note', 'expires_in', 'scopes', 'roles', 'last_activity', 'servers', 'url', 'password', 'current_password', 'new_password', 'user_options', 'profile', 'token', 'state', 'message', 'progress', 'ready', 'port', 'level', 'public', 'code', 'expires', 'display', 'api_token', 'oauth_no_confirm', 'info', 'routes', 'user', 'group', 'server', 'share', 'remove', 'reason', '__proto__', 'constructor'];

beforeAll(async () => {
  t = await startTestHub(
    {
      allowNamedServers: true,
      namedServerLimitPerUser: 2,
      services: [{ name: 'culler', apiTokenEnv: 'FUZZ_CULLER_TOKEN' }],
      roles: [{ name: 'culler', scopes: ['list:users', 'read:users:activity', 'read:servers', 'delete:servers', 'admin:users'], services: ['culler'] }],
      groups: { physics: { users: ['alice'], properties: { gpu: true } }, keepers: { users: ['keeper-0'] } },
    },
    { serviceTokens: { culler: 'fuzz-culler-service-token-0123456789' } },
  );
  // the admin caller is a name the generator never produces, so no generated request demotes or deletes it
  tokens.admin = t.tokenFor('root-admin', { admin: true });
  tokens.alice = t.tokenFor('alice');
  tokens.aliceNarrow = t.tokenFor('alice', { scopes: ['read:users:name!user=alice', 'servers!user=alice'] });
  tokens.service = 'fuzz-culler-service-token-0123456789';
  keeperToken = t.tokenFor('keeper-0');
  const d = t.hub.deps;
  d.servers.ensure(d.users.byName('keeper-0')!.id, '', 'local');
  server = createServer(t.hub.app);
  server.on('upgrade', (req, socket, head) => t.hub.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
}, 60_000);

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  server?.closeAllConnections();
  await t?.close();
});

const send = (method: string, path: string, headers: Record<string, string>, body?: string) => rawRequest(base, method, path, headers, body);

const segment = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...KNOWN_NAMES) },
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }).map(encodeURIComponent) },
);

// Values of every type, so each field meets the wrong one too; and plausible ones, so that requests
// also get past validation into the handlers (and the next request meets the state they left).
const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(-1, 0, 1e308, -1e308, 2 ** 53 + 1, '', ' ', '0', 'true', 'null', '2026-13-45T99:99:99Z', 'x'.repeat(5000), [], {}, [null], { __proto__: 'x' }),
);
const plausible = fc.constantFrom<unknown>('alice', 'bob', 'new-user', ['alice'], ['bob', 'new-user'], ['physics'], true, false, 3600, 60, 8050, 'note', 'read:users', ['read:users', 'servers!user=alice'], ['user'], { gpu: true }, new Date().toISOString(), { '': { last_activity: new Date().toISOString() } }, 'http://127.0.0.1:9', 'user', 'Password-123456', 'dash', {});
const fieldBody = fc.dictionary(fc.constantFrom(...FIELDS), fc.oneof(anyValue, plausible, plausible), { maxKeys: 3 }).map((o) => JSON.stringify(o));
const body = fc.oneof(
  { weight: 4, arbitrary: fieldBody },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.constantFrom('{', '{"usernames":', 'null', '[]', '""', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}', 'a=b&c=d', '\u0000', '{"a":1}{"b":2}') },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
);

const query = fc
  .dictionary(
    fc.constantFrom('offset', 'limit', 'sort', 'state', 'name_filter', 'include_stopped_servers', 'inactive_since', 'token', 'next', 'code', 'user', 'group', 'server', 'port'),
    fc.oneof(fc.constantFrom('-1', '0', '1', '200', '201', '1e3', 'NaN', '', '-name', 'name', 'last_activity', 'active', 'ready', 'bogus', '2026-01-01T00:00:00Z', 'yesterday', '%', '%zz'), fc.string({ maxLength: 20 }).map(encodeURIComponent)),
    { maxKeys: 3 },
  )
  .map((q) => Object.entries(q).map(([k, v]) => `${k}=${v}`).join('&'));

const credential = fc.constantFrom<[string, () => Record<string, string>]>(
  ['admin', () => ({ Authorization: `token ${tokens.admin}` })],
  ['admin', () => ({ Authorization: `token ${tokens.admin}` })],
  ['alice', () => ({ Authorization: `token ${tokens.alice}` })],
  ['aliceNarrow', () => ({ Authorization: `Bearer ${tokens.aliceNarrow}` })],
  ['service', () => ({ Authorization: `token ${tokens.service}` })],
  ['none', () => ({})],
  ['garbage', () => ({ Authorization: 'token not-a-token' })],
  ['malformed', () => ({ Authorization: 'Basic %%%' })],
  ['cookie', () => ({ Cookie: 'jupyterhub-session-id=forged; _xsrf=x', 'X-XSRFToken': 'x' })],
);

const contentType = fc.constantFrom(undefined, 'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'multipart/form-data; boundary=x');
const accept = fc.constantFrom(undefined, 'application/json', 'application/jupyterhub-pagination+json', 'text/html', 'text/event-stream', '*/*');

function routeRequest() {
  const routes = t.hub.apiRoutes.filter((r) => !EXCLUDED.has(`${r.method} ${r.path}`));
  return fc.record({
    route: fc.constantFrom(...routes),
    method: fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS') }),
    params: fc.array(segment, { minLength: 3, maxLength: 3 }),
    query,
    credential,
    contentType,
    accept,
    body: fc.option(body, { nil: undefined }),
  });
}

function checkAnswer(label: string, a: RawAnswer, head: boolean): void {
  expect(a.status, `${label} → ${a.status} ${a.body.slice(0, 300)}`).toBeGreaterThanOrEqual(100);
  expect(a.status, `${label} → ${a.status} ${a.body.slice(0, 300)}`).toBeLessThan(500);
  if (head) return; // no body to check
  if (a.status >= 400 && a.contentType.startsWith('application/json')) {
    const err = JSON.parse(a.body) as { status?: unknown; message?: unknown };
    expect(err.status, `${label}: error body ${a.body.slice(0, 300)}`).toBe(a.status);
    expect(typeof err.message === 'string' && err.message.length > 0, `${label}: error message in ${a.body.slice(0, 300)}`).toBe(true);
  } else if (a.status < 300 && a.contentType.includes('json') && a.body) {
    expect(() => JSON.parse(a.body), `${label}: JSON body`).not.toThrow();
  }
}

// What the generated requests got, so the test can show it reached the handlers (not only 403/404).
const seen = new Map<string, Set<number>>();

describe('REST API under generated bad input', () => {
  it('answers every generated request below 500, with {status, message} errors, and keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(routeRequest(), async (r) => {
        let i = 0;
        const path = r.route.path.replace(/:[a-z]+/g, () => r.params[i++ % r.params.length]!);
        const method = r.method ?? r.route.method;
        const headers: Record<string, string> = { ...r.credential[1]() };
        if (r.contentType) headers['Content-Type'] = r.contentType;
        if (r.accept) headers.Accept = r.accept;
        const url = r.query ? `${path}?${r.query}` : path;
        const label = `${r.credential[0]} ${method} ${url} body=${(r.body ?? '').slice(0, 200)}`;
        const answer = await send(method, url, headers, method === 'GET' || method === 'HEAD' ? undefined : r.body);
        const key = `${r.route.method} ${r.route.path}`;
        if (method === r.route.method) seen.set(key, (seen.get(key) ?? new Set()).add(answer.status));
        if (process.env.FUZZ_REPORT && answer.status === 400) console.log('400', label.slice(0, 160), '=>', answer.body.slice(0, 160));
        checkAnswer(label, answer, method === 'HEAD');
        const alive = await send('GET', '/hub/api', {});
        expect(alive.status, `hub stopped answering after ${label}`).toBe(200);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 3000), seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined, endOnFailure: false },
    );
    if (process.env.FUZZ_REPORT) for (const [k, v] of [...seen].sort()) console.log(k, [...v].sort().join(' '));
    // the generated requests reached the handlers: successes, validation errors and refusals on most routes
    const statuses = new Set([...seen.values()].flatMap((s) => [...s]));
    for (const s of [200, 201, 204, 400, 403, 404]) expect(statuses, `some request answered ${s}`).toContain(s);
    const routesWithSuccess = [...seen.values()].filter((s) => [...s].some((x) => x < 300)).length;
    if (process.env.FUZZ_REPORT) console.log('routes with success', routesWithSuccess, 'of', t.hub.apiRoutes.length);
    expect(routesWithSuccess, 'routes that answered at least one generated request with success').toBeGreaterThan(t.hub.apiRoutes.length / 4);
  }, 240_000);

  // Random bodies rarely give one handler one field of one wrong type; this sweep does, for every write
  // route, every field the API reads and a value of each JSON type, as the admin on existing resources.
  it('answers every write route with every field set to every JSON type below 500', async () => {
    const d = t.hub.deps;
    // its own user, with a token and a named server to aim at, made again before each route (an earlier
    // route may have deleted them, which is its job)
    const target = () => {
      t.tokenFor('sweeper');
      const sweeper = d.users.byName('sweeper')!;
      d.servers.ensure(sweeper.id, 'dash', 'local');
      const tokenId = String(d.tokens.forUser(sweeper.id)[0]!.id);
      return { name: 'sweeper', owner: 'sweeper', user: 'sweeper', server: 'dash', id: tokenId, port: '8050', code: 'nope', kind: 'server', token: 'nope' } as Record<string, string>;
    };
    const WRONG: unknown[] = [null, -1, 1.5, true, '', 'x'.repeat(3000), [1, { a: null }], { a: [] }];
    const writes = t.hub.apiRoutes.filter((r) => r.method !== 'GET' && !EXCLUDED.has(`${r.method} ${r.path}`));
    let sent = 0;
    for (const route of writes) {
      for (const field of FIELDS) {
        const params = target();
        const path = route.path.replace(/:([a-z]+)/g, (_, p: string) => params[p] ?? 'x');
        for (const v of WRONG) {
          const body = `{${JSON.stringify(field)}:${JSON.stringify(v)}}`;
          const answer = await send(route.method, path, { Authorization: `token ${tokens.admin}`, 'Content-Type': 'application/json' }, body);
          checkAnswer(`admin ${route.method} ${path} body=${body.slice(0, 120)}`, answer, false);
          sent++;
        }
      }
    }
    expect(sent).toBe(writes.length * FIELDS.length * WRONG.length);
    expect((await send('GET', '/hub/api', {})).status).toBe(200);
  }, 240_000);

  it('lost nothing it was not asked to change: integrity, prototypes, the untouched user', async () => {
    const d = t.hub.deps;
    expect(d.db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(d.db.pragma('foreign_key_check')).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    const keeper = d.users.byName('keeper-0');
    expect(keeper).toBeDefined();
    expect(d.users.groupNames(keeper!.id)).toEqual(['keepers']);
    expect(d.servers.forUser(keeper!.id).map((s) => s.name)).toEqual(['']);
    const me = await send('GET', '/hub/api/user', { Authorization: `token ${keeperToken}` });
    expect(me.status).toBe(200);
    expect(JSON.parse(me.body)).toMatchObject({ name: 'keeper-0', groups: ['keepers'] });
    // and the hub still does ordinary work after all that
    const created = await send('POST', '/hub/api/users/fuzz-after', { Authorization: `token ${tokens.admin}` }, '{}');
    expect(created.status).toBe(201);
    const read = await send('GET', '/hub/api/users/fuzz-after', { Authorization: `token ${tokens.admin}` });
    expect(JSON.parse(read.body)).toMatchObject({ name: 'fuzz-after', admin: false });
  });
});
