/**
 * Restart survival with the real `labhub` CLI (dist/) and the local spawner running the fake
 * single-user server as real processes:
 *  - kill -9 of the hub in steady state: after a restart the server is reachable through the proxy,
 *    it is the same process (no duplicate), and both the user's API token and the server's own
 *    token still work;
 *  - kill -9 during a spawn (the fake server waits 60 s before listening): the restarted hub kills
 *    the half-started process (checked in /proc), marks the server stopped and revokes its token;
 *  - SIGTERM: graceful, servers keep running and are re-attached;
 *  - a login lockout and the per-IP login request count are kept across a restart (counters in the database).
 */
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPort, testPortPair } from '../helpers/test-ports.js';
import { FAKE_SINGLEUSER } from '../helpers/test-hub.js';
import { isPidAlive, runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { fakeServerProcs } from '../helpers/procs.js';
import { Browser } from '../helpers/browser.js';

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

let hub: HubProcess | undefined;
const dataDir = mkdtempSync(join(tmpdir(), 'labhub-ops-restart-'));
const cfgFile = join(dataDir, 'labhub.yaml');
let port = 0;
let hubPort = 0;
let admin = '';

const api = (method: string, path: string, token = admin, body?: unknown) =>
  fetch(`${hub!.hubUrl}/hub/api${path}`, { method, headers: { Authorization: `token ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });

const start = async () => (hub = await startHubProcess({ dataDir, port, hubPort, args: ['--config', cfgFile] }));

beforeAll(async () => {
  port = await testPortPair();
  hubPort = await testPort();
  writeFileSync(
    cfgFile,
    [
      'slowSpawnTimeoutSeconds: 1',
      'startTimeoutSeconds: 30',
      'httpTimeoutSeconds: 120',
      'pollIntervalSeconds: 2',
      'spawner:',
      '  kind: local',
      `  cmd: [${JSON.stringify(process.execPath)}, ${JSON.stringify(FAKE_SINGLEUSER)}]`,
      '  stopGraceSeconds: 2',
      '  environment: {FAKE_SINGLEUSER_DELAY: "60", FAKE_SINGLEUSER_DELAY_USERS: "slowpoke"}',
    ].join('\n'),
  );
  await start();
  const t = await runLabhub(['token', 'admin', '--data-dir', dataDir]);
  admin = t.stdout.trim();
  expect(admin).toMatch(/^\S{20,}$/);
  for (const u of ['alice', 'slowpoke']) expect((await api('POST', `/users/${u}`)).status).toBe(201);
}, 60_000);

afterAll(async () => {
  if (hub && hub.child.exitCode === null) {
    for (const u of ['alice', 'slowpoke']) await api('DELETE', `/users/${u}/server`).catch(() => undefined);
    await hub.stop('SIGTERM');
  }
  // whatever happened, leave no process behind
  for (const u of ['alice', 'slowpoke']) for (const p of fakeServerProcs(u, dataDir)) process.kill(p.pid, 'SIGKILL');
});

describe('hub restart survival', () => {
  it('kill -9 in steady state: same server process reachable, tokens valid', async () => {
    expect((await api('POST', '/users/alice/server')).status).toBe(201);
    const [before] = fakeServerProcs('alice', dataDir);
    expect(before).toBeDefined();
    const serverToken = before.env.JUPYTERHUB_API_TOKEN;
    const viaProxy = () => fetch(`http://127.0.0.1:${port}/user/alice/api`).then((r) => r.status, () => 0);
    expect(await viaProxy()).toBe(200);

    await hub!.stop('SIGKILL');
    expect(await viaProxy()).toBe(0); // the in-process proxy died with the hub
    expect(isPidAlive(before.pid)).toBe(true); // the server did not
    await start();

    expect(await until('route back', async () => ((await viaProxy()) === 200 ? true : undefined))).toBe(true);
    const after = fakeServerProcs('alice', dataDir);
    expect(after.map((p) => p.pid)).toEqual([before.pid]); // no duplicate, same process
    expect((await api('GET', '/user', admin)).status).toBe(200);
    const who = await api('GET', '/user', serverToken);
    expect(who.status).toBe(200);
    expect(((await who.json()) as { name: string }).name).toBe('alice');
    const model = (await (await api('GET', '/users/alice')).json()) as { servers: Record<string, { ready: boolean }> };
    expect(model.servers['']?.ready).toBe(true);
  });

  it('kill -9 during a spawn: the half-started server is cleaned up, its token revoked', async () => {
    expect((await api('POST', '/users/slowpoke/server')).status).toBe(202);
    const proc = await until('slowpoke process', () => fakeServerProcs('slowpoke', dataDir)[0]);
    const token = proc.env.JUPYTERHUB_API_TOKEN;
    expect((await api('GET', '/user', token)).status).toBe(200); // valid while spawning

    await hub!.stop('SIGKILL');
    expect(isPidAlive(proc.pid)).toBe(true); // orphaned until the hub comes back
    await start();

    await until('interrupted spawn cleaned up', () => (fakeServerProcs('slowpoke', dataDir).length === 0 && !isPidAlive(proc.pid) ? true : undefined), 10_000);
    expect((await api('GET', '/user', token)).status).toBe(403);
    const model = (await (await api('GET', '/users/slowpoke')).json()) as { servers: Record<string, unknown>; pending: string | null };
    expect(model.servers).toEqual({});
    expect(model.pending).toBeNull();
    // alice was untouched
    expect(fakeServerProcs('alice', dataDir)).toHaveLength(1);
    // the audit log says what happened
    const audit = (await (await api('GET', '/audit?action=server-cleaned-up')).json()) as Array<{ actor: string; target: string; details: { reason: string } }>;
    expect(audit[0]).toMatchObject({ actor: 'system', target: 'server:slowpoke/', details: { reason: 'spawn interrupted by hub restart' } });
  });

  it('SIGTERM: graceful, servers keep running and are re-attached', async () => {
    const [before] = fakeServerProcs('alice', dataDir);
    expect(await hub!.stop('SIGTERM')).toBe(0);
    expect(hub!.output()).toContain('servers keep running');
    expect(isPidAlive(before.pid)).toBe(true);
    await start();
    expect(await until('route back', async () => ((await fetch(`http://127.0.0.1:${port}/user/alice/api`).then((r) => r.status, () => 0)) === 200 ? true : undefined))).toBe(true);
    expect(fakeServerProcs('alice', dataDir).map((p) => p.pid)).toEqual([before.pid]);
  });

  it('a login lockout outlives a restart: the right password is still refused until an admin unlocks', async () => {
    expect((await api('POST', '/users/mallet')).status).toBe(201);
    expect((await api('POST', '/users/mallet/password', admin, { password: 'mallet-password-1' })).status).toBe(204);
    const b = new Browser(hub!.publicUrl);
    for (let i = 1; i <= 4; i++) expect((await b.login('mallet', `wrong-${i}-password`)).status).toBe(403);
    const fifth = await b.login('mallet', 'wrong-5-password');
    expect(fifth.status).toBe(429); // the 5th failure locks (default lockout)
    // the per-IP request limit (express-rate-limit, draft-8 header: r = requests left in the window)
    const left = (r: { headers: Headers }) => Number(/;\s*r=(\d+)/.exec(r.headers.get('ratelimit') ?? '')?.[1]);
    const leftBefore = left(fifth);
    expect(leftBefore).toBeGreaterThan(0);
    expect(await hub!.stop('SIGTERM')).toBe(0);
    await start();
    const again = await new Browser(hub!.publicUrl).login('mallet', 'mallet-password-1', '/hub/api/user');
    expect(again.status).toBe(429);
    expect(again.text).toMatch(/Too many failed login attempts/);
    // ... and its window went on counting across the restart (counters in the database since migration 0007)
    expect(left(again)).toBe(leftBefore - 1);
    expect((await api('DELETE', '/users/mallet/lockout')).status).toBe(204);
    expect((await new Browser(hub!.publicUrl).login('mallet', 'mallet-password-1', '/hub/api/user')).status).toBe(200);
  });
});
