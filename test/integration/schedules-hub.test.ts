/**
 * Schedules wired into the real hub (config key `schedules`, runner started by startHub): an idle
 * stop rule stops a running server through ServerManager, the route disappears.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';

const FAKE = resolve(import.meta.dirname, '..', 'fakes', 'fake-singleuser.mjs');

describe('schedules in the running hub', () => {
  let hub: HubProcess | undefined;
  let dir: string | undefined;
  let token = '';
  afterAll(async () => {
    // if the schedule did not stop it, stop it here: local servers outlive the hub by design
    if (hub && token) await fetch(`${hub.publicUrl}/hub/api/users/admin/server`, { method: 'DELETE', headers: { Authorization: `token ${token}` } }).catch(() => undefined);
    await hub?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (hub) rmSync(hub.dataDir, { recursive: true, force: true });
  });

  it('an idle-stop schedule stops a running server within one tick (30 s)', { timeout: 90_000 }, async () => {
    dir = mkdtempSync(join(tmpdir(), 'labhub-sched-'));
    const file = join(dir, 'labhub.yaml');
    writeFileSync(file, JSON.stringify({ spawner: { kind: 'local', cmd: [process.execPath, FAKE] }, schedules: [{ name: 'idle-test', timezone: 'Europe/London', stopAt: '18:00', idleStopMinutes: 0.05 }] }));
    hub = await startHubProcess({ args: ['--config', file] });
    token = (await runLabhub(['token', 'admin', '--data-dir', hub.dataDir])).stdout.trim();
    const api = (method: string, path: string) => fetch(`${hub!.publicUrl}/hub/api${path}`, { method, headers: { Authorization: `token ${token}` } });
    expect((await api('POST', '/users/admin/server')).status).toBeLessThan(300);
    const model = async () => ((await (await api('GET', '/users/admin')).json()) as { servers: Record<string, { ready: boolean }> }).servers[''];
    for (let i = 0; i < 100 && !(await model())?.ready; i++) await new Promise((r) => setTimeout(r, 100));
    expect((await model())?.ready).toBe(true);
    const t0 = Date.now();
    for (let i = 0; i < 200 && (await model()); i++) await new Promise((r) => setTimeout(r, 250));
    expect(await model()).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(45_000);
  });
});
