/**
 * The calls jupyterhub-idle-culler 2.x makes, in its order, against LabHub: list users with ready
 * servers (paginated, following `next`), read each server's last_activity/started, DELETE the idle
 * ones (following a 202 by polling the user), optionally delete idle users. The culler isn't packaged
 * for Debian, so the test plays its sequence with the scopes its docs require.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoNow } from '../../hub/clock.js';
import { startTestHub, type TestHub } from '../helpers/test-hub.js';

const PAGINATION = 'application/jupyterhub-pagination+json';
let t: TestHub;
let cullerToken: string;

beforeAll(async () => {
  t = await startTestHub(
    {
      allowNamedServers: true,
      services: [{ name: 'idle-culler', apiTokenEnv: 'JUPYTERHUB_API_TOKEN' }],
      roles: [{ name: 'idle-culler', scopes: ['list:users', 'read:users:activity', 'read:servers', 'delete:servers', 'admin:users'], services: ['idle-culler'] }],
    },
    { serviceTokens: { 'idle-culler': 'idle-culler-token-abcdef0123456789' } },
  );
  cullerToken = 'idle-culler-token-abcdef0123456789';
  const admin = t.tokenFor('admin', { admin: true });
  // 7 users with running servers (one named), so pages of 3 need several `next` hops
  for (let i = 0; i < 7; i++) {
    const name = `student${i}`;
    await t.api.post('/hub/api/users/' + name).set('Authorization', `token ${admin}`).expect(201);
    await t.api.post(`/hub/api/users/${name}/server`).set('Authorization', `token ${admin}`).expect(201);
  }
  await t.api.post('/hub/api/users/student0/servers/extra').set('Authorization', `token ${admin}`).expect(201);
  // make students 0-3 idle for two hours; 4-6 active now
  const d = t.hub.deps;
  const old = new Date(Date.now() - 2 * 3600_000).toISOString();
  for (let i = 0; i < 4; i++) {
    const u = d.users.byName(`student${i}`)!;
    d.db.prepare('UPDATE servers SET last_activity = ? WHERE user_id = ?').run(old, u.id);
    d.db.prepare('UPDATE users SET last_activity = ? WHERE id = ?').run(old, u.id);
  }
  for (let i = 4; i < 7; i++) d.servers.touch(d.servers.get(d.users.byName(`student${i}`)!.id, '')!.id, isoNow(d.clock));
});

afterAll(async () => {
  await t?.close();
});

const get = (url: string) => t.api.get(url).set('Authorization', `token ${cullerToken}`).set('Accept', PAGINATION);

describe('idle culler sequence', () => {
  it('lists ready users page by page, culls idle servers only, then removes idle users', async () => {
    const users: Array<{ name: string; last_activity: string | null; servers: Record<string, { name: string; last_activity: string; started: string; pending: string | null; ready: boolean }> }> = [];
    let url: string | null = '/hub/api/users?state=ready&offset=0&limit=3';
    let pages = 0;
    while (url && pages < 10) {
      const res = await get(url);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toContain(PAGINATION);
      users.push(...res.body.items);
      url = res.body._pagination.next?.url ?? null;
      pages++;
    }
    expect(pages).toBe(3);
    expect(users.map((u) => u.name).sort()).toEqual(['student0', 'student1', 'student2', 'student3', 'student4', 'student5', 'student6']);
    const cutoff = Date.now() - 3600_000;
    const culled: string[] = [];
    for (const u of users) {
      for (const s of Object.values(u.servers)) {
        expect(s.ready).toBe(true);
        expect(typeof s.started).toBe('string');
        if (s.pending || Date.parse(s.last_activity) > cutoff) continue;
        const path = s.name ? `/hub/api/users/${u.name}/servers/${s.name}` : `/hub/api/users/${u.name}/server`;
        const del = await t.api.delete(path).set('Authorization', `token ${cullerToken}`);
        expect([202, 204]).toContain(del.status);
        if (del.status === 202) {
          for (let i = 0; i < 50; i++) {
            const m = await get(`/hub/api/users/${u.name}`);
            if (!m.body.servers[s.name]) break;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        culled.push(`${u.name}/${s.name}`);
      }
    }
    expect(culled.sort()).toEqual(['student0/', 'student0/extra', 'student1/', 'student2/', 'student3/']);
    const ready = await get('/hub/api/users?state=ready');
    expect(ready.body.items.map((u: { name: string }) => u.name).sort()).toEqual(['student4', 'student5', 'student6']);
    // --cull-users: users with no active servers and old activity are deleted
    const inactive = await get('/hub/api/users?state=inactive');
    for (const u of inactive.body.items as Array<{ name: string; last_activity: string | null }>) {
      if (!u.name.startsWith('student') || Date.parse(u.last_activity ?? '1970-01-01') > cutoff) continue;
      expect((await t.api.delete(`/hub/api/users/${u.name}`).set('Authorization', `token ${cullerToken}`)).status).toBe(204);
    }
    const left = await get('/hub/api/users?name_filter=student');
    expect(left.body.items.map((u: { name: string }) => u.name).sort()).toEqual(['student4', 'student5', 'student6']);
  });

  it('the culler token cannot start servers or read tokens (its role does not allow it)', async () => {
    expect((await t.api.post('/hub/api/users/student4/server').set('Authorization', `token ${cullerToken}`)).status).toBe(403);
    expect((await t.api.get('/hub/api/users/student4/tokens').set('Authorization', `token ${cullerToken}`)).status).toBe(403);
  });
});
