/** POST /hub/api/shutdown: the hub answers 202 and exits; servers keep running unless asked to stop. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isPidAlive, runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { FAKE_SINGLEUSER } from '../helpers/test-hub.js';

describe('shutdown API', () => {
  const hubs: HubProcess[] = [];
  afterAll(async () => {
    for (const h of hubs) await h.stop('SIGKILL');
  });

  async function hubWithServer() {
    const dir = mkdtempSync(join(tmpdir(), 'labhub-shutdown-'));
    writeFileSync(join(dir, 'labhub.yaml'), `spawner:\n  kind: local\n  cmd: [${process.execPath}, ${FAKE_SINGLEUSER}]\n`);
    const hub = await startHubProcess({ args: ['--config', join(dir, 'labhub.yaml')], dataDir: join(dir, 'data') });
    hubs.push(hub);
    const token = (await runLabhub(['token', 'admin', '--data-dir', hub.dataDir])).stdout.trim();
    const api = (method: string, path: string, body?: unknown) => fetch(`${hub.publicUrl}/hub/api${path}`, { method, headers: { Authorization: `token ${token}`, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    expect((await api('POST', '/users/admin/server')).status).toBe(201);
    const pid = ((await (await api('GET', '/users/admin')).json()) as { servers: Record<string, { state: { pid: number } }> }).servers[''].state.pid;
    const userToken = (await runLabhub(['token', 'admin', '--data-dir', hub.dataDir, '--scopes', 'read:users!user=admin'])).stdout.trim();
    return { hub, api, pid, userToken };
  }

  const exited = (hub: HubProcess) => new Promise<number | null>((resolve) => (hub.child.exitCode !== null ? resolve(hub.child.exitCode) : hub.child.once('exit', (c) => resolve(c))));

  it('needs the shutdown scope and validates its body', async () => {
    const { hub, api, userToken } = await hubWithServer();
    const denied = await fetch(`${hub.publicUrl}/hub/api/shutdown`, { method: 'POST', headers: { Authorization: `token ${userToken}` } });
    expect(denied.status).toBe(403);
    expect((await api('POST', '/shutdown', { servers: 'yes' })).status).toBe(400);
    expect(hub.child.exitCode).toBeNull();
    await api('DELETE', '/users/admin/server');
  });

  it('exits and leaves servers running by default; {servers: true} stops them', async () => {
    const a = await hubWithServer();
    const res = await a.api('POST', '/shutdown', {});
    expect(res.status).toBe(202);
    expect(await exited(a.hub)).toBe(0);
    expect(isPidAlive(a.pid)).toBe(true);
    process.kill(a.pid, 'SIGTERM');

    const b = await hubWithServer();
    expect((await b.api('POST', '/shutdown', { servers: true })).status).toBe(202);
    expect(await exited(b.hub)).toBe(0);
    for (let i = 0; i < 50 && isPidAlive(b.pid); i++) await new Promise((r) => setTimeout(r, 100));
    expect(isPidAlive(b.pid)).toBe(false);
  });
});
