/**
 * The API's cached user models (hub/user-models.ts) never answer older than the data: changes made
 * behind the API's back (repositories, as logins and spawners do), server status changes, and commits
 * by another database connection all show in the next answer. Runs the real hub with real SQLite and
 * real single-user processes (the local spawner with the fake server).
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoNow } from '../../hub/clock.js';
import { startTestHub, type TestHub } from '../helpers/test-hub.js';

let now = Date.parse('2026-11-22T10:00:00Z');
const clock = { now: () => now };
let t: TestHub;
let admin: string;

const getUser = async (name: string) => {
  const r = await t.api.get(`/hub/api/users/${name}`).set('Authorization', `token ${admin}`);
  expect(r.status).toBe(200);
  return r.body as Record<string, unknown>;
};
const listNames = async (query: string) => {
  const r = await t.api.get(`/hub/api/users?${query}`).set('Authorization', `token ${admin}`).set('Accept', 'application/jupyterhub-pagination+json');
  expect(r.status).toBe(200);
  return { names: (r.body.items as Array<{ name: string }>).map((u) => u.name), total: r.body._pagination.total as number };
};

beforeAll(async () => {
  t = await startTestHub({}, { clock });
  admin = t.tokenFor('root', { admin: true });
  t.tokenFor('alice');
  t.tokenFor('bob');
});
afterAll(async () => t?.close());

describe('cached user models', () => {
  it('show changes made through the repositories, not the API', async () => {
    const d = t.hub.deps;
    const alice = d.users.byName('alice')!;
    expect(await getUser('alice')).toMatchObject({ admin: false, groups: [] });
    d.users.setAdmin(alice.id, true);
    const g = d.groups.create('physics');
    d.groups.addMember(g.id, alice.id);
    d.users.touch(alice.id, '2026-11-22T09:00:00.000Z');
    expect(await getUser('alice')).toMatchObject({ admin: true, groups: ['physics'], last_activity: '2026-11-22T09:00:00.000Z' });
    expect((await getUser('alice')).roles).toEqual(expect.arrayContaining(['admin', 'user']));
    // a user deleted behind the API is a 404 at once
    expect((await getUser('bob')).name).toBe('bob');
    d.users.delete(d.users.byName('bob')!.id);
    expect((await t.api.get('/hub/api/users/bob').set('Authorization', `token ${admin}`)).status).toBe(404);
  });

  it('show server status changes: pending, ready, stopped', async () => {
    const start = await t.api.post('/hub/api/users/alice/server').set('Authorization', `token ${admin}`).send({});
    expect([201, 202]).toContain(start.status);
    for (let i = 0; i < 100 && (await getUser('alice')).server === null; i++) await new Promise((r) => setTimeout(r, 100));
    const running = await getUser('alice');
    expect(running.server).toBe('/user/alice/');
    expect((running.servers as Record<string, { ready: boolean }>)[''].ready).toBe(true);
    const stop = await t.api.delete('/hub/api/users/alice/server').set('Authorization', `token ${admin}`);
    expect([202, 204]).toContain(stop.status);
    for (let i = 0; i < 100 && (await getUser('alice')).server !== null; i++) await new Promise((r) => setTimeout(r, 100));
    const stopped = await getUser('alice');
    expect(stopped.server).toBeNull();
    expect(stopped.servers).toEqual({});
  });

  it('show commits by another connection within the external-check interval', async () => {
    expect((await getUser('alice')).last_activity).toBe('2026-11-22T09:00:00.000Z');
    const other = new Database(join(t.dataDir, 'labhub.sqlite'));
    try {
      other.prepare("UPDATE users SET last_activity = '2026-11-22T09:30:00.000Z' WHERE name = 'alice'").run();
    } finally {
      other.close();
    }
    now += 300; // past the 250 ms between data_version checks
    expect((await getUser('alice')).last_activity).toBe('2026-11-22T09:30:00.000Z');
  });

  it('pages, sorts and filters in the database the same way every time', async () => {
    const d = t.hub.deps;
    for (const n of ['carol', 'dave', 'erin', 'frank']) d.users.create(n, { now: isoNow(clock) });
    const all = d.users.list().map((u) => u.name);
    expect((await listNames('limit=200')).names).toEqual(all);
    expect((await listNames('sort=name&limit=3&offset=1')).names).toEqual([...all].sort().slice(1, 4));
    expect((await listNames('sort=-name&limit=2')).names).toEqual([...all].sort().reverse().slice(0, 2));
    const filtered = await listNames('name_filter=a&limit=200');
    expect(filtered).toEqual({ names: all.filter((n) => n.startsWith('a')), total: all.filter((n) => n.startsWith('a')).length });
    // a new user appears in the next page, with the new total
    const before = (await listNames('limit=1')).total;
    d.users.create('zed', { now: isoNow(clock) });
    expect((await listNames('limit=1')).total).toBe(before + 1);
  });

  it('keeps each listing order only while the data holds (orders are cached per data version)', async () => {
    const d = t.hub.deps;
    const byActivity = async () => (await listNames('sort=-last_activity&limit=200')).names;
    const first = await byActivity();
    expect(await byActivity()).toEqual(first); // served from the cached order
    // a change behind the API reorders the next answer
    d.users.touch(d.users.byName('frank')!.id, '2026-11-22T09:59:00.000Z');
    expect((await byActivity())[0]).toBe('frank');
    // a user written by another connection shows after the external check, at the right place
    const other = new Database(join(t.dataDir, 'labhub.sqlite'));
    try {
      other.prepare("INSERT INTO users (name, admin, created, last_activity, cookie_id) VALUES ('yara', 0, '2026-11-22T10:00:00.000Z', '2026-11-22T09:59:30.000Z', 'cookie-yara')").run();
    } finally {
      other.close();
    }
    now += 300;
    expect((await byActivity()).slice(0, 2)).toEqual(['yara', 'frank']);
    // pages of one walk agree with the whole list, and more name filters than the cache keeps still answer right
    const all = (await listNames('sort=name&limit=200')).names;
    const walked: string[] = [];
    for (let offset = 0; offset < all.length; offset += 2) walked.push(...(await listNames(`sort=name&limit=2&offset=${offset}`)).names);
    expect(walked).toEqual(all);
    for (const prefix of ['a', 'b', 'c', 'd', 'e', 'f', 'y', 'z', 'r', 'a', 'fr']) {
      expect((await listNames(`name_filter=${prefix}&limit=200`)).names).toEqual(all.filter((n) => n.startsWith(prefix)));
    }
    d.users.delete(d.users.byName('yara')!.id);
    expect((await byActivity())).not.toContain('yara');
  });
});
