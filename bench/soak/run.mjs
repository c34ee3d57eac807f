#!/usr/bin/env node
/**
 * Soak: 1,000 users, up to 200 running servers, spawn/stop cycles through the REST API and random
 * hub restarts (kill -9 and SIGTERM), bounded in time. Uses the real `labhub` CLI from dist/
 * (`npm run build` first) with the local spawner; each server is bench/soak/tiny-singleuser.py
 * (a ~9 MB raw-socket HTTP server honouring the JupyterHub env contract).
 *
 * After every restart all work pauses and the hub is checked against reality:
 *   API says running ⇔ exactly one server process in /proc ⇔ reachable through the proxy.
 * Reports errors (must be 0), leaked processes at the end (must be 0) and the hub's memory over
 * time. Exit code 1 when errors or leaks are found.
 *
 *   node bench/soak/run.mjs [--duration 90] [--users 1000] [--servers 200] [--workers 12]
 *                           [--restart-every 20] [--proxy inprocess|subprocess] [--json FILE]
 *
 * Operations cut by a restart (connection refused/reset while the hub is down) are counted as
 * "interrupted", not errors: the check after the restart decides whether the hub got them right.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, createWriteStream } from 'node:fs';
import { freePort } from '../common.mjs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const LABHUB = join(REPO, 'dist', 'hub', 'main.js');
const TINY = join(HERE, 'tiny-singleuser.py');

const args = Object.fromEntries(
  process.argv
    .slice(2)
    .join(' ')
    .split('--')
    .filter(Boolean)
    .map((a) => a.trim().split(/\s+/))
    .map(([k, v]) => [k, v ?? 'true']),
);
const DURATION = Number(args.duration ?? 90) * 1000;
const USERS = Number(args.users ?? 1000);
const SERVERS = Number(args.servers ?? 200);
const WORKERS = Number(args.workers ?? 12);
const RESTART_EVERY = Number(args['restart-every'] ?? 20) * 1000;
const PROXY = args.proxy ?? 'inprocess';


const dataDir = mkdtempSync(join(tmpdir(), 'labhub-soak-'));
const port = await freePort();
const hubPort = await freePort();
const apiPort = await freePort();
const cfg = join(dataDir, 'labhub.yaml');
writeFileSync(
  cfg,
  [
    `logLevel: ${args['log-level'] ?? 'warn'}`,
    'pollIntervalSeconds: 5',
    'slowSpawnTimeoutSeconds: 5',
    'startTimeoutSeconds: 30',
    'httpTimeoutSeconds: 30',
    'concurrentSpawnLimit: 0',
    'spawner:',
    '  kind: local',
    `  cmd: ["/usr/bin/python3", "-S", ${JSON.stringify(TINY)}]`,
    '  stopGraceSeconds: 3',
    'proxy:',
    `  mode: ${PROXY}`,
    `  apiPort: ${apiPort}`,
    '  routeCheckIntervalSeconds: 30',
  ].join('\n'),
);

// ---------------------------------------------------------------------------------------------
// the hub process

const hubLog = createWriteStream(join(dataDir, 'hub.log'));
let hub = null;
async function startHub() {
  const child = spawn(process.execPath, [LABHUB, '--config', cfg, '--port', String(port), '--hub-port', String(hubPort), '--data-dir', dataDir], {
    env: { ...process.env, LABHUB_ADMIN_PASSWORD: 'soak-admin-password' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => ((out += b), hubLog.write(b)));
  child.stderr.on('data', (b) => hubLog.write(b));
  const t0 = Date.now();
  while (!out.includes('LabHub is running at')) {
    if (child.exitCode !== null) throw new Error(`hub exited during start (see ${join(dataDir, 'hub.log')})`);
    if (Date.now() - t0 > 60_000) throw new Error('hub did not start within 60 s');
    await sleep(50);
  }
  hub = child;
  return Date.now() - t0;
}
function stopHub(signal) {
  return new Promise((res) => {
    if (!hub || hub.exitCode !== null || hub.signalCode !== null) return res();
    hub.once('exit', () => res());
    hub.kill(signal);
  });
}

const hubUrl = `http://127.0.0.1:${hubPort}`;
const publicUrl = `http://127.0.0.1:${port}`;
let token = '';
async function api(method, path, body) {
  const r = await fetch(`${hubUrl}/hub/api${path}`, {
    method,
    headers: { Authorization: `token ${token}`, Accept: 'application/jupyterhub-pagination+json', ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

// ---------------------------------------------------------------------------------------------
// reality: server processes in /proc

function serverProcs() {
  const byUser = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('tiny-singleuser.py')) continue;
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const env = readFileSync(`/proc/${d}/environ`, 'utf8').split('\0');
      if (!env.some((e) => e.startsWith(`HOME=${dataDir}`))) continue;
      const user = env.find((e) => e.startsWith('JUPYTERHUB_USER='))?.slice(16);
      if (!byUser.has(user)) byUser.set(user, []);
      byUser.get(user).push(Number(d));
    } catch {
      /* gone */
    }
  }
  return byUser;
}

function rssMB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// the run

const names = Array.from({ length: USERS }, (_, i) => `soak${String(i).padStart(4, '0')}`);
const running = new Set();
const busy = new Set();
const stats = { spawns: 0, stops: 0, interrupted: 0, errors: 0, errorSamples: [], restarts: [], checks: 0, memory: [] };
let epoch = 0;
let paused = null; // a promise workers wait on while the hub restarts or is checked
const error = (what) => {
  stats.errors++;
  if (stats.errorSamples.length < 20) stats.errorSamples.push(what);
  console.error(`ERROR: ${what}`);
};

async function waitReady(user, myEpoch) {
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline && epoch === myEpoch) {
    const r = await api('GET', `/users/${user}`);
    const s = r.body?.servers?.[''];
    if (s?.ready) return true;
    if (!r.body?.pending && !s) return false; // failed
    await sleep(200);
  }
  return null;
}

async function op(user) {
  const myEpoch = epoch;
  try {
    if (running.has(user)) {
      const r = await api('DELETE', `/users/${user}/server`);
      if (r.status === 202) {
        for (let i = 0; i < 100 && epoch === myEpoch; i++) {
          const m = await api('GET', `/users/${user}`);
          if (!m.body.pending && !m.body.servers['']) break;
          await sleep(200);
        }
      } else if (r.status !== 204) return error(`stop ${user}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      if (epoch !== myEpoch) return stats.interrupted++;
      running.delete(user);
      stats.stops++;
    } else {
      const r = await api('POST', `/users/${user}/server`);
      if (r.status === 202) {
        const ok = await waitReady(user, myEpoch);
        if (epoch !== myEpoch) return stats.interrupted++;
        if (!ok) return error(`spawn ${user}: ${ok === null ? 'not ready in 45 s' : 'failed'}`);
      } else if (r.status !== 201) return error(`spawn ${user}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      const via = await fetch(`${publicUrl}/user/${user}/api`, { signal: AbortSignal.timeout(10_000) });
      const body = await via.json().catch(() => null);
      if (epoch !== myEpoch) return stats.interrupted++;
      if (via.status !== 200 || body?.user !== user) return error(`spawn ${user}: proxy answered ${via.status} ${JSON.stringify(body)}`);
      running.add(user);
      stats.spawns++;
    }
  } catch (err) {
    if (epoch !== myEpoch || paused) return stats.interrupted++;
    error(`${user}: ${err.message}`);
  }
}

async function worker(deadline) {
  while (Date.now() < deadline) {
    if (paused) {
      await paused;
      continue;
    }
    // below the target: a random user (mostly spawns); at the target: stop a running one
    const pool = running.size >= SERVERS ? [...running].filter((n) => !busy.has(n)) : names.filter((n) => !busy.has(n));
    const user = pool[Math.floor(Math.random() * pool.length)];
    if (!user || busy.has(user)) {
      await sleep(20);
      continue;
    }
    busy.add(user);
    await op(user).finally(() => busy.delete(user));
  }
}

/** Hub's view (API) vs processes vs proxy; retried for up to 15 s (a stop in progress at kill -9 finishes, the poller catches it). */
async function check(label) {
  stats.checks++;
  let problems = [];
  for (let attempt = 0; attempt < 30; attempt++) {
    problems = [];
    const apiRunning = new Set();
    for (let offset = 0; offset < USERS + 200; offset += 200) {
      const r = await api('GET', `/users?offset=${offset}&limit=200`);
      for (const u of r.body.items) {
        if (u.pending) problems.push(`${u.name} pending after restart`);
        if (u.servers?.['']?.ready) apiRunning.add(u.name);
      }
      if (!r.body._pagination.next) break;
    }
    const procs = serverProcs();
    for (const [user, pids] of procs) {
      if (pids.length > 1) problems.push(`${user}: ${pids.length} processes (duplicate)`);
      if (!apiRunning.has(user)) problems.push(`${user}: process ${pids.join(',')} but the hub says stopped (orphan)`);
    }
    for (const user of apiRunning) if (!procs.has(user)) problems.push(`${user}: hub says running, no process`);
    if (!problems.length) {
      const unreachable = [];
      await Promise.all(
        [...apiRunning].map(async (u) => {
          const r = await fetch(`${publicUrl}/user/${u}/api`, { signal: AbortSignal.timeout(10_000) }).catch(() => null);
          if (r?.status !== 200) unreachable.push(`${u}: ${r?.status ?? 'no answer'}`);
          await r?.arrayBuffer().catch(() => undefined);
        }),
      );
      if (unreachable.length) problems.push(...unreachable.map((u) => `unreachable ${u}`));
    }
    if (!problems.length) {
      running.clear();
      for (const u of apiRunning) running.add(u);
      console.log(`  check after ${label}: ${apiRunning.size} running, all reachable, processes match${attempt ? ` (settled after ${attempt * 0.5} s)` : ''}`);
      return;
    }
    await sleep(500);
  }
  for (const p of problems.slice(0, 10)) error(`after ${label}: ${p}`);
  // carry on from what the hub says, so one problem is not counted again by every later operation
  running.clear();
  for (let offset = 0; offset < USERS + 200; offset += 200) {
    const r = await api('GET', `/users?offset=${offset}&limit=200`);
    for (const u of r.body.items) if (u.servers?.['']?.ready) running.add(u.name);
    if (!r.body._pagination.next) break;
  }
}

console.log(`soak: ${USERS} users, up to ${SERVERS} servers, ${WORKERS} workers, ${DURATION / 1000} s, restarts every ~${RESTART_EVERY / 1000} s, proxy ${PROXY}; data ${dataDir}`);
const started = Date.now();
await startHub();
token = execFileSync(process.execPath, [LABHUB, 'token', 'admin', '--data-dir', dataDir], { encoding: 'utf8' }).trim();
for (let i = 0; i < USERS; i += 200) {
  const r = await api('POST', '/users', { usernames: names.slice(i, i + 200) });
  if (r.status !== 201) throw new Error(`creating users: HTTP ${r.status}`);
}
console.log(`created ${USERS} users in ${Date.now() - started} ms`);

const memTimer = setInterval(() => {
  if (hub?.exitCode === null) stats.memory.push({ t: Math.round((Date.now() - started) / 1000), rssMB: rssMB(hub.pid), running: running.size, epoch });
}, 2000);

const deadline = Date.now() + DURATION;
const workers = Array.from({ length: WORKERS }, () => worker(deadline));
const restarter = (async () => {
  while (Date.now() + RESTART_EVERY * 0.5 < deadline) {
    await sleep(RESTART_EVERY * (0.5 + Math.random()));
    if (Date.now() > deadline - 5000) break;
    const signal = Math.random() < 0.5 ? 'SIGKILL' : 'SIGTERM';
    let resume;
    paused = new Promise((r) => (resume = r));
    epoch++;
    const t0 = Date.now();
    await stopHub(signal);
    const startMs = await startHub();
    // let operations cut by the restart fail and the workers park
    await sleep(500);
    while (busy.size) await sleep(50);
    console.log(`restart ${stats.restarts.length + 1} (${signal === 'SIGKILL' ? 'kill -9' : 'SIGTERM'}): hub back in ${Date.now() - t0} ms (start ${startMs} ms)`);
    stats.restarts.push({ signal, ms: Date.now() - t0 });
    await check(`${signal === 'SIGKILL' ? 'kill -9' : 'SIGTERM'} restart`);
    paused = null;
    resume();
  }
})();
await Promise.all([...workers, restarter]);
clearInterval(memTimer);

// final check, then stop everything and look for leaks
paused = new Promise(() => undefined);
await check('the run');
const toStop = [...running];
await Promise.all(
  Array.from({ length: 16 }, async () => {
    for (let u = toStop.pop(); u; u = toStop.pop()) {
      const r = await api('DELETE', `/users/${u}/server`).catch((e) => ({ status: String(e) }));
      if (r.status !== 204 && r.status !== 202) error(`final stop ${u}: ${r.status}`);
    }
  }),
);
for (let i = 0; i < 100 && serverProcs().size; i++) await sleep(200);
await stopHub('SIGTERM');
await sleep(500);
const leaked = [...serverProcs().values()].flat();
for (const pid of leaked) process.kill(pid, 'SIGKILL');

const mem = stats.memory.filter((m) => m.rssMB !== null);
const result = {
  durationSeconds: Math.round((Date.now() - started) / 1000),
  users: USERS,
  maxServers: SERVERS,
  spawns: stats.spawns,
  stops: stats.stops,
  restarts: stats.restarts,
  interrupted: stats.interrupted,
  checks: stats.checks,
  errors: stats.errors,
  errorSamples: stats.errorSamples,
  leakedProcesses: leaked.length,
  hubMemoryMB: { first: mem[0]?.rssMB, max: Math.max(...mem.map((m) => m.rssMB)), last: mem.at(-1)?.rssMB, samples: mem },
};
console.log('\nhub memory over time (RSS MB, sampled every 2 s; a restart starts a new process):');
for (const m of mem.filter((_, i) => i % 5 === 0)) console.log(`  t=${String(m.t).padStart(4)} s  rss=${String(m.rssMB).padStart(4)} MB  running=${m.running}  hub#${m.epoch + 1}`);
console.log(`\nspawns ${result.spawns}, stops ${result.stops}, restarts ${result.restarts.length} (${result.restarts.filter((r) => r.signal === 'SIGKILL').length} kill -9), interrupted ops ${result.interrupted}, consistency checks ${result.checks}`);
console.log(`ERRORS: ${result.errors}   LEAKED PROCESSES: ${result.leakedProcesses}   hub RSS first/max/last: ${result.hubMemoryMB.first}/${result.hubMemoryMB.max}/${result.hubMemoryMB.last} MB`);
if (args.json) writeFileSync(args.json, JSON.stringify(result, null, 2));
process.exit(result.errors || result.leakedProcesses ? 1 : 0);
