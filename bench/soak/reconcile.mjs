#!/usr/bin/env node
/**
 * What reconciliation costs with many servers: seeds N (default 10,000) users whose servers are
 * "running" (local-spawner state pointing at one tiny HTTP server process, as in
 * test/ops/proxy-restart.test.ts), starts the real `labhub` (dist/) and measures
 *   - hub start with N servers to re-attach (poll each, route each),
 *   - a route check when the proxy is in sync (POST /hub/api/proxy),
 *   - a route check that re-adds every route (after the proxy's table was emptied),
 *   - the hub's CPU time and RSS while idle over 30 s (poll loop every pollIntervalSeconds).
 *
 *   node bench/soak/reconcile.mjs [--servers 10000] [--concurrency 20]
 */
import Database from 'better-sqlite3';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { freePort } from '../common.mjs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LABHUB = join(REPO, 'dist', 'hub', 'main.js');
const { openDb } = await import(join(REPO, 'dist', 'hub', 'db', 'db.js'));
const { processStartTime } = await import(join(REPO, 'dist', 'spawners', 'process-info.js'));
const arg = (k, d) => {
  const i = process.argv.indexOf(`--${k}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const N = arg('servers', 10_000);
const CONC = arg('concurrency', 20);

const backend = spawn(process.execPath, ['-e', "const s=require('http').createServer((q,r)=>r.end('ok'));s.listen(0,'127.0.0.1',()=>console.log(s.address().port))"], { stdio: ['ignore', 'pipe', 'inherit'] });
const bport = await new Promise((r) => backend.stdout.once('data', (b) => r(Number(String(b).trim()))));
const dataDir = mkdtempSync(join(tmpdir(), 'labhub-reconcile-'));
const db = openDb(join(dataDir, 'labhub.sqlite'));
const now = new Date().toISOString();
const state = JSON.stringify({ pid: backend.pid, port: bport, ip: '127.0.0.1', startTime: processStartTime(backend.pid), logFile: '' });
const insU = db.prepare('INSERT INTO users (name, created, cookie_id) VALUES (?, ?, ?)');
const insS = db.prepare("INSERT INTO servers (user_id, name, spawner_kind, url, state, started, last_activity) VALUES (?, '', 'local', ?, ?, ?, ?)");
db.transaction(() => {
  for (let i = 0; i < N; i++) {
    const id = insU.run(`r${i}`, now, randomBytes(16).toString('hex')).lastInsertRowid;
    insS.run(id, `http://127.0.0.1:${bport}`, state, now, now);
  }
})();
db.close();
const port = await freePort();
const hubPort = await freePort();
const apiPort = await freePort();
writeFileSync(join(dataDir, 'labhub.yaml'), `logLevel: warn\npollIntervalSeconds: 10\noperations:\n  reconcileConcurrency: ${CONC}\nproxy:\n  apiPort: ${apiPort}\n  routeCheckIntervalSeconds: 3600\n`);
const t0 = Date.now();
const hub = spawn(process.execPath, [LABHUB, '--config', join(dataDir, 'labhub.yaml'), '--port', String(port), '--hub-port', String(hubPort), '--data-dir', dataDir], { env: { ...process.env, LABHUB_ADMIN_PASSWORD: 'x-admin-password' }, stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
hub.stdout.on('data', (b) => (out += b));
while (!out.includes('LabHub is running')) {
  if (hub.exitCode !== null) throw new Error(out);
  await sleep(20);
}
const startMs = Date.now() - t0;
const token = execFileSync(process.execPath, [LABHUB, 'token', 'admin', '--data-dir', dataDir], { encoding: 'utf8' }).trim();
const proxyToken = readFileSync(join(dataDir, 'labhub_proxy_token'), 'utf8').trim();
const routes = async () => Object.keys(await (await fetch(`http://127.0.0.1:${apiPort}/api/routes`, { headers: { Authorization: `token ${proxyToken}` } })).json()).length;
const check = async () => {
  const t = Date.now();
  const r = await fetch(`http://127.0.0.1:${hubPort}/hub/api/proxy`, { method: 'POST', headers: { Authorization: `token ${token}` } });
  if (r.status !== 200) throw new Error(`check_routes: ${r.status}`);
  return Date.now() - t;
};
const inSync = await check();
const before = await routes();
// empty the proxy's table (as a proxy restart would), then one check puts everything back
const all = await (await fetch(`http://127.0.0.1:${apiPort}/api/routes`, { headers: { Authorization: `token ${proxyToken}` } })).json();
for (const p of Object.keys(all)) if (p !== '/') await fetch(`http://127.0.0.1:${apiPort}/api/routes${p}`, { method: 'DELETE', headers: { Authorization: `token ${proxyToken}` } });
const emptied = await routes();
const refill = await check();
const after = await routes();
const cpu0 = readFileSync(`/proc/${hub.pid}/stat`, 'utf8').split(') ')[1].split(' ');
await sleep(30_000);
const cpu1 = readFileSync(`/proc/${hub.pid}/stat`, 'utf8').split(') ')[1].split(' ');
const ticks = (s) => Number(s[11]) + Number(s[12]);
const rss = Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${hub.pid}/status`, 'utf8'))[1]) / 1024);
hub.kill('SIGTERM');
await new Promise((r) => hub.once('exit', r));
backend.kill('SIGKILL');
console.log(JSON.stringify({ servers: N, concurrency: CONC, hubStartWithRestoreMs: startMs, routesAfterStart: before, checkRoutesInSyncMs: inSync, routesAfterEmptying: emptied, checkRoutesRefillMs: refill, routesAfterRefill: after, idleCpuPercentOver30s: Math.round(((ticks(cpu1) - ticks(cpu0)) / 100 / 30) * 1000) / 10, hubRssMB: rss }, null, 2));
