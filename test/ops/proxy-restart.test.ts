/**
 * Proxy restart alone, 1,000 routes: the hub runs `labhub-proxy` from dist/ as a subprocess
 * (proxy.mode 'subprocess'); the test kills the proxy with SIGKILL and measures the time until its
 * route table holds every route again. Must be < 5 s. The hub notices the exit and restarts the
 * proxy, which comes back with its table from its SQLite file (proxy.persistRoutes), so the hub's
 * route check after the restart has nothing to add.
 *
 * How 1,000 running servers are made cheaply: the database is seeded with 1,000 users whose server
 * rows point (local-spawner state: pid, start time, port) at ONE tiny HTTP server process started by
 * the test. The hub re-attaches them at start exactly as after a restart (poll = the pid is alive)
 * and routes /user/uNNNN/ to it.
 *
 * Also: a request for /user/x/ whose route is missing reaches the hub, which re-adds the route at
 * once and sends the browser back (no redirect loop); and a proxy orphaned by a kill -9 of the hub
 * is replaced by the next hub (pid file), which routes everything again; a hung proxy (SIGSTOP) is
 * detected by the 1 s health check and replaced.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb } from '../../hub/db/db.js';
import { ServerRepo } from '../../hub/db/servers.js';
import { UserRepo } from '../../hub/db/users.js';
import { testPort } from '../helpers/test-ports.js';
import { processStartTime } from '../../spawners/process-info.js';
import { FAKE_SINGLEUSER } from '../helpers/test-hub.js';
import { runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';

const N = 1000;
const dataDir = mkdtempSync(join(tmpdir(), 'labhub-ops-proxy-'));
let hub: HubProcess | undefined;
let backend: ChildProcess | undefined;
let port = 0;
let apiPort = 0;
let proxyToken = '';

/** Starts one tiny HTTP server (a separate process, so the hub could stop it without touching us). */
async function startBackend(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['-e', "const s=require('http').createServer((q,r)=>r.end('ok '+q.url));s.listen(0,'127.0.0.1',()=>console.log(s.address().port))"], { stdio: ['ignore', 'pipe', 'inherit'] });
  const p = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (b: Buffer) => resolve(Number(b.toString().trim())));
    child.once('exit', () => reject(new Error('backend exited')));
  });
  return { child, port: p };
}

function proxyPids(): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.endsWith('proxy/main.js')) && cmd.includes(String(apiPort))) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

async function routeCount(): Promise<number> {
  try {
    const r = await fetch(`http://127.0.0.1:${apiPort}/api/routes`, { headers: { Authorization: `token ${proxyToken}` }, signal: AbortSignal.timeout(2000) });
    if (r.status !== 200) return -1;
    return Object.keys((await r.json()) as object).length;
  } catch {
    return -1;
  }
}

beforeAll(async () => {
  const b = await startBackend();
  backend = b.child;
  const db = openDb(join(dataDir, 'labhub.sqlite'));
  const users = new UserRepo(db);
  const servers = new ServerRepo(db);
  const now = new Date().toISOString();
  const state = { pid: backend.pid!, port: b.port, ip: '127.0.0.1', startTime: processStartTime(backend.pid!), logFile: '' };
  db.transaction(() => {
    for (let i = 0; i < N; i++) {
      const u = users.create(`u${String(i).padStart(4, '0')}`, { now });
      const row = servers.ensure(u.id, '', 'local');
      servers.markStarted(row.id, `http://127.0.0.1:${b.port}`, state, now);
    }
  })();
  db.close();
  port = await testPort();
  apiPort = await testPort();
  const cfg = join(dataDir, 'labhub.yaml');
  writeFileSync(
    cfg,
    [
      'pollIntervalSeconds: 600',
      'spawner:',
      '  kind: local',
      `  cmd: [${JSON.stringify(process.execPath)}, ${JSON.stringify(FAKE_SINGLEUSER)}]`,
      'proxy:',
      '  mode: subprocess',
      '  command: [labhub-proxy]',
      `  apiPort: ${apiPort}`,
      '  routeCheckIntervalSeconds: 3600', // only the proxy watchdog may restore routes in this test
      'operations:',
      '  proxyCheckIntervalSeconds: 1',
    ].join('\n'),
  );
  hub = await startHubProcess({ dataDir, port, args: ['--config', cfg] });
  proxyToken = readFileSync(join(dataDir, 'labhub_proxy_token'), 'utf8').trim();
}, 60_000);

afterAll(async () => {
  // servers are left running by a hub shutdown; the backend is ours to stop
  if (hub) await hub.stop('SIGTERM');
  backend?.kill('SIGKILL');
  for (const pid of proxyPids()) process.kill(pid, 'SIGKILL');
});

describe('proxy restart', () => {
  it(`restores all ${N} routes within 5 s after the proxy is killed`, async () => {
    // the hub re-attached every seeded server at start
    for (let i = 0; i < 100 && (await routeCount()) < N + 1; i++) await sleep(100);
    expect(await routeCount()).toBe(N + 1); // + the hub's own route
    const [pid] = proxyPids();
    expect(pid).toBeGreaterThan(0);

    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    let count = -1;
    while (Date.now() - t0 < 15_000) {
      count = await routeCount();
      if (count === N + 1) break;
      await sleep(20);
    }
    const ms = Date.now() - t0;
    console.log(`proxy killed → ${count} routes back in ${ms} ms`, hub!.output().split('\n').filter((l) => /proxy (restarted|routes restored|exited)/.test(l)).join('\n'));
    expect(count).toBe(N + 1);
    expect(ms).toBeLessThan(5000);
    const [newPid] = proxyPids();
    expect(newPid).not.toBe(pid);
    const res = await fetch(`http://127.0.0.1:${port}/user/u0999/lab`);
    expect(await res.text()).toBe('ok /user/u0999/lab');
    // the restarted proxy came back with its table (labhub-proxy --storage-path): the hub's check found nothing to add
    const restored = async () =>
      hub!
        .output()
        .split('\n')
        .filter((l) => l.includes('proxy routes restored'))
        .map((l) => JSON.parse(l) as { why?: string; added?: number })
        .find((r) => r.why === 'proxy restarted');
    for (let i = 0; i < 100 && !(await restored()); i++) await sleep(100);
    expect(await restored()).toMatchObject({ why: 'proxy restarted', added: 0 });
  });

  it('a request for a running server whose route is missing re-adds the route at once (no redirect loop)', async () => {
    const admin = (await runLabhub(['token', 'u0001', '--data-dir', dataDir])).stdout.trim();
    const del = await fetch(`http://127.0.0.1:${apiPort}/api/routes/user/u0001`, { method: 'DELETE', headers: { Authorization: `token ${proxyToken}` } });
    expect(del.status).toBe(204);
    expect(await routeCount()).toBe(N);
    // step through the redirects by hand: proxy → hub (/hub/user/u0001/…) → back to /user/u0001/…
    let url = `http://127.0.0.1:${port}/user/u0001/tree`;
    const hops: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await fetch(url, { redirect: 'manual', headers: { Authorization: `token ${admin}` } });
      if (r.status !== 302 && r.status !== 303) {
        expect(r.status).toBe(200);
        expect(await r.text()).toMatch(/^ok \/user\/u0001\/tree/);
        break;
      }
      url = new URL(r.headers.get('location')!, url).toString();
      hops.push(new URL(url).pathname + new URL(url).search);
    }
    expect(hops).toEqual(['/hub/user/u0001/tree', '/user/u0001/tree?redirects=1']);
    expect(await routeCount()).toBe(N + 1);
  });

  it('a hung proxy (SIGSTOP: accepts connections, never answers) is replaced and re-routed', async () => {
    const [hung] = proxyPids();
    const t0 = Date.now();
    process.kill(hung, 'SIGSTOP');
    let pids: number[] = [];
    while (Date.now() - t0 < 30_000) {
      pids = proxyPids().filter((p) => p !== hung);
      if (pids.length === 1 && (await routeCount()) === N + 1) break;
      await sleep(100);
    }
    console.log(`proxy hung → replaced and ${await routeCount()} routes back in ${Date.now() - t0} ms`);
    expect(pids).toHaveLength(1);
    expect(await routeCount()).toBe(N + 1);
    expect(proxyPids()).not.toContain(hung); // the hung one was killed
    expect(hub!.output()).toContain('proxy not answering; replacing it');
  });

  it('kill -9 of the hub leaves its proxy behind; the next hub replaces it (pid file) and routes everything again', async () => {
    const [stale] = proxyPids();
    await hub!.stop('SIGKILL');
    expect(proxyPids()).toEqual([stale]); // still serving users while the hub is down
    expect((await fetch(`http://127.0.0.1:${port}/user/u0500/x`)).status).toBe(200);
    hub = await startHubProcess({ dataDir, port, args: ['--config', join(dataDir, 'labhub.yaml')] });
    const now = proxyPids();
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(stale);
    expect(readFileSync(join(dataDir, 'labhub-proxy.pid'), 'utf8').trim()).toBe(String(now[0]));
    for (let i = 0; i < 100 && (await routeCount()) < N + 1; i++) await sleep(100);
    expect(await routeCount()).toBe(N + 1);
    expect(await (await fetch(`http://127.0.0.1:${port}/user/u0500/x`)).text()).toBe('ok /user/u0500/x');
  });
});
