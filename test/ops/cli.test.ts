/**
 * `labhub db backup FILE` (SQLite online backup, while the hub runs and writes) and
 * `labhub db upgrade` (pending migrations) through the real CLI from dist/; graceful SIGTERM
 * (an in-flight request is answered, a spawn still starting is cancelled and cleaned up) and
 * operations.stopServersOnShutdown.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { listMigrations } from '../../hub/db/db.js';
import { FAKE_SINGLEUSER } from '../helpers/test-hub.js';
import { isPidAlive, runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { fakeServerProcs } from '../helpers/procs.js';

const hubs: HubProcess[] = [];
afterAll(async () => {
  for (const h of hubs) if (h.child.exitCode === null) await h.stop('SIGKILL');
  for (const h of hubs) for (const u of ['alice', 'slowpoke']) for (const p of fakeServerProcs(u, h.dataDir)) process.kill(p.pid, 'SIGKILL');
});

function config(dir: string, extra: string[] = []): string {
  const file = join(dir, 'labhub.yaml');
  writeFileSync(
    file,
    [
      'slowSpawnTimeoutSeconds: 2',
      'httpTimeoutSeconds: 120',
      'spawner:',
      '  kind: local',
      `  cmd: [${JSON.stringify(process.execPath)}, ${JSON.stringify(FAKE_SINGLEUSER)}]`,
      '  stopGraceSeconds: 2',
      '  environment: {FAKE_SINGLEUSER_DELAY: "60", FAKE_SINGLEUSER_DELAY_USERS: "slowpoke"}',
      ...extra,
    ].join('\n'),
  );
  return file;
}

const api = (hub: HubProcess, token: string, method: string, path: string) => fetch(`${hub.hubUrl}/hub/api${path}`, { method, headers: { Authorization: `token ${token}` } });

describe('labhub db', () => {
  it('backup: a consistent copy while the hub runs and writes; restore = start a hub on the copy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'labhub-ops-db-'));
    const hub = await startHubProcess({ dataDir: dir });
    hubs.push(hub);
    const token = (await runLabhub(['token', 'admin', '--data-dir', dir])).stdout.trim();
    // keep writing while the backup runs
    let writing = true;
    let n = 0;
    const writer = (async () => {
      while (writing && n < 300) if ((await api(hub, token, 'POST', `/users/w${n++}`)).status !== 201) throw new Error('write failed');
    })();
    await sleep(200);
    const file = join(dir, 'backup.sqlite');
    const r = await runLabhub(['db', 'backup', file, '--data-dir', dir]);
    writing = false;
    await writer;
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/backed up .* \(schema version \d+\) to /);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const copy = new Database(file, { readonly: true });
    expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
    const users = (copy.prepare("SELECT COUNT(*) AS n FROM users WHERE name LIKE 'w%'").get() as { n: number }).n;
    expect(users).toBeGreaterThan(0);
    expect(copy.pragma('user_version', { simple: true })).toBe(listMigrations().at(-1)!.version);
    copy.close();
    // refuses to overwrite
    expect((await runLabhub(['db', 'backup', file, '--data-dir', dir])).code).toBe(1);
    await hub.stop();

    // restore: put the copy in place of the database and start the hub on it
    const restored = mkdtempSync(join(tmpdir(), 'labhub-ops-restore-'));
    writeFileSync(join(restored, 'labhub.sqlite'), readFileSync(file));
    for (const f of readdirSync(dir)) if (f.startsWith('labhub_')) writeFileSync(join(restored, f), readFileSync(join(dir, f)), { mode: 0o600 });
    const hub2 = await startHubProcess({ dataDir: restored });
    hubs.push(hub2);
    expect((await api(hub2, token, 'GET', '/users/w0')).status).toBe(200); // same users, same tokens
    await hub2.stop();
  });

  it('upgrade: applies pending migrations to an old database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'labhub-ops-upgrade-'));
    const file = join(dir, 'labhub.sqlite');
    const db = new Database(file);
    const all = listMigrations();
    for (const m of all.slice(0, 2)) db.exec(m.sql);
    db.pragma('user_version = 2');
    db.close();
    const r = await runLabhub(['db', 'upgrade', '--data-dir', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`upgraded database from schema version 2 to ${all.at(-1)!.version}\n`);
    const after = new Database(file, { readonly: true });
    expect(after.prepare("SELECT name FROM sqlite_master WHERE name = 'audit_log'").get()).toBeDefined();
    after.close();
    expect((await runLabhub(['db', 'upgrade', '--data-dir', dir])).stdout).toMatch(/up to date/);
    expect((await runLabhub(['db', 'upgrade', '--data-dir', join(dir, 'nope')])).code).toBe(1);
    expect(existsSync(join(dir, 'nope', 'labhub.sqlite'))).toBe(false);
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM answers the request in flight, cancels a spawn still starting (no orphan) and leaves running servers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'labhub-ops-term-'));
    const hub = await startHubProcess({ dataDir: dir, args: ['--config', config(dir)] });
    hubs.push(hub);
    const token = (await runLabhub(['token', 'admin', '--data-dir', dir])).stdout.trim();
    for (const u of ['alice', 'slowpoke']) expect((await api(hub, token, 'POST', `/users/${u}`)).status).toBe(201);
    expect((await api(hub, token, 'POST', '/users/alice/server')).status).toBe(201);
    const alice = fakeServerProcs('alice', dir)[0];
    // this request waits slowSpawnTimeout (2 s) before answering 202
    const inFlight = api(hub, token, 'POST', '/users/slowpoke/server');
    await sleep(500);
    const slow = fakeServerProcs('slowpoke', dir)[0];
    expect(slow).toBeDefined();
    const exited = hub.stop('SIGTERM');
    expect((await inFlight).status).toBe(202);
    expect(await exited).toBe(0);
    expect(isPidAlive(alice.pid)).toBe(true);
    expect(isPidAlive(slow.pid)).toBe(false);
    process.kill(alice.pid, 'SIGKILL');
  });

  it('operations.stopServersOnShutdown stops servers on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'labhub-ops-term2-'));
    const hub = await startHubProcess({ dataDir: dir, args: ['--config', config(dir, ['operations:', '  stopServersOnShutdown: true'])] });
    hubs.push(hub);
    const token = (await runLabhub(['token', 'admin', '--data-dir', dir])).stdout.trim();
    expect((await api(hub, token, 'POST', '/users/alice')).status).toBe(201);
    expect((await api(hub, token, 'POST', '/users/alice/server')).status).toBe(201);
    const alice = fakeServerProcs('alice', dir)[0];
    expect(await hub.stop('SIGTERM')).toBe(0);
    expect(hub.output()).toContain('stopping servers');
    expect(isPidAlive(alice.pid)).toBe(false);
  });
});
