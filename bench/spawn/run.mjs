#!/usr/bin/env node
// Spawn benchmark for the Docker spawner on a real dockerd (a script, not a test).
//
//   bash test/setup/docker.sh && npm run build
//   node bench/spawn/run.mjs [--n 20] [--sweeps 20] [--socket /tmp/labhub-ci/docker/docker.sock]
//
// All on one engine, with the busybox test image (httpd as the "server"), bounded in count and time:
//  1. engine: raw dockerode create + start + inspect of an equivalent container (no LabHub)    → engine time
//  2. spawner: DockerSpawner.start() in-process (placement probe, volumes, env file, create, start)
//  3. hub: the real `labhub` CLI, POST /hub/api/users/:name/server until ready (201), incl. readiness probe,
//     proxy route and database                                                                   → hub overhead = 3 − 2
//  each for 1 spawn and for N concurrent spawns; then
//  4. polling cost with N running servers: JupyterHub/DockerSpawner style (one `docker inspect` per server per
//     poll, all at once) vs LabHub's spawner.poll() (one label-filtered list per host per sweep), wall time per
//     sweep and dockerd CPU time per sweep (from /proc/<dockerd>/stat).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';

const REPO = resolve(import.meta.dirname, '..', '..');
const args = Object.fromEntries(process.argv.slice(2).map((a, i, all) => (a.startsWith('--') ? [a.slice(2), all[i + 1]] : null)).filter(Boolean));
const envFile = Object.fromEntries(
  readFileSync('/tmp/labhub-ci/docker.env', 'utf8')
    .split('\n')
    .filter((l) => l.includes('='))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);
const SOCK = args.socket ?? envFile.DOCKER_SOCK;
const IMAGE = envFile.LABHUB_TEST_IMAGE_BB;
const N = Math.min(50, Number(args.n ?? 20));
const SWEEPS = Math.min(100, Number(args.sweeps ?? 20));
const RUN = `bench-${process.pid}`;
const docker = new Docker({ socketPath: SOCK });
const { DockerSpawner } = await import(join(REPO, 'dist/spawners/docker.js'));
const { DockerSpawnerSchema } = await import(join(REPO, 'dist/spawners/docker-options.js'));
const { buildSingleUserEnv, serverPrefix } = await import(join(REPO, 'dist/hub/env.js'));
const deadline = Date.now() + 10 * 60_000;
const check = () => {
  if (Date.now() > deadline) throw new Error('benchmark exceeded 10 minutes');
};

const CMD = ['httpd', '-f', '-p', '8888', '-h', '/www'];
const spawnerConfig = {
  kind: 'docker',
  hosts: [{ url: `unix://${SOCK}` }],
  image: IMAGE,
  pullPolicy: 'never',
  cmd: CMD,
  home: { type: 'volume', source: `labhub-home-{username}-${RUN}` },
  labels: { 'labhub.test': RUN },
  stopTimeoutSeconds: 1,
};

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const now = () => process.hrtime.bigint();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => `${x.toFixed(0).padStart(6)} ms`;

function dockerdPid() {
  try {
    return Number(readFileSync('/tmp/labhub-ci/docker/dockerd.pid', 'utf8').trim());
  } catch {
    return null;
  }
}
function cpuMs(pid) {
  if (!pid) return 0;
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, USER_HZ = 100
}

async function waitHttp(url, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status < 500) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`not up: ${url}`);
}

async function cleanup() {
  const filters = JSON.stringify({ label: [`labhub.test=${RUN}`] });
  const cs = await docker.listContainers({ all: true, filters });
  await Promise.all(cs.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
  const vs = (await docker.listVolumes({ filters })).Volumes ?? [];
  await Promise.all(vs.map((v) => docker.getVolume(v.Name).remove().catch(() => {})));
}

// ---------- 1. raw engine ----------
async function rawEngine(count) {
  const times = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const t0 = now();
      const c = await docker.createContainer({
        name: `${RUN}-raw-${count}-${i}`,
        Image: IMAGE,
        Cmd: CMD,
        Labels: { 'labhub.test': RUN },
        ExposedPorts: { '8888/tcp': {} },
        HostConfig: { Init: true, PortBindings: { '8888/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
      });
      await c.start();
      const info = await c.inspect();
      const t = ms(t0);
      await waitHttp(`http://127.0.0.1:${info.NetworkSettings.Ports['8888/tcp'][0].HostPort}/`);
      return t;
    }),
  );
  await cleanup();
  return times;
}

// ---------- 2. spawner in-process ----------
async function spawnerStarts(count, tag = '') {
  const opts = DockerSpawnerSchema.parse(spawnerConfig);
  const ctx = { dataDir: '/nonexistent', log: { info() {}, warn() {}, error() {}, debug() {} }, hubId: RUN };
  const spawners = [];
  const times = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const user = `s${count}${tag}x${i}`;
      const s = new DockerSpawner(ctx, opts, { user, serverName: '' });
      spawners.push(s);
      const t0 = now();
      await s.start({
        user,
        serverName: '',
        servicePrefix: serverPrefix(user, ''),
        env: buildSingleUserEnv({ user, serverName: '', apiToken: 'x'.repeat(32), hubApiUrl: 'http://127.0.0.1:1/hub/api' }),
        userOptions: {},
        signal: AbortSignal.timeout(120_000),
      });
      return ms(t0);
    }),
  );
  return { times, spawners };
}

// ---------- 3. through the hub ----------
async function freePort() {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function startHub() {
  const dir = mkdtempSync(join(tmpdir(), 'labhub-bench-spawn-'));
  const cfg = join(dir, 'labhub.yaml');
  writeFileSync(cfg, JSON.stringify({ slowSpawnTimeoutSeconds: 60, startTimeoutSeconds: 120, concurrentSpawnLimit: 0, spawner: spawnerConfig }));
  const port = await freePort();
  const hubPort = await freePort();
  const child = spawn(process.execPath, [join(REPO, 'dist/hub/main.js'), '--config', cfg, '--data-dir', dir, '--port', String(port), '--hub-port', String(hubPort), '--log-level', 'error'], {
    env: { ...process.env, LABHUB_ADMIN_PASSWORD: 'bench-admin-password' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  for (let i = 0; i < 200 && !out.includes('LabHub is running at'); i++) await new Promise((r) => setTimeout(r, 100));
  if (!out.includes('LabHub is running at')) throw new Error(`hub did not start:\n${out}`);
  const tok = spawn(process.execPath, [join(REPO, 'dist/hub/main.js'), 'token', 'admin', '--data-dir', dir]);
  let token = '';
  tok.stdout.on('data', (b) => (token += b));
  await new Promise((r) => tok.on('exit', r));
  return { child, base: `http://127.0.0.1:${port}/hub/api`, token: token.trim(), output: () => out };
}

async function hubStarts(hub, count, tag) {
  const h = { Authorization: `token ${hub.token}`, 'Content-Type': 'application/json' };
  const names = Array.from({ length: count }, (_, i) => `h${tag}x${i}`);
  const r = await fetch(`${hub.base}/users`, { method: 'POST', headers: h, body: JSON.stringify({ usernames: names }) });
  if (r.status !== 201) throw new Error(`create users: ${r.status} ${await r.text()}`);
  const times = await Promise.all(
    names.map(async (name) => {
      const t0 = now();
      const res = await fetch(`${hub.base}/users/${name}/server`, { method: 'POST', headers: h });
      if (res.status === 202) {
        for (let i = 0; i < 600; i++) {
          const m = await (await fetch(`${hub.base}/users/${name}`, { headers: h })).json();
          if (m.servers?.['']?.ready) break;
          await new Promise((r) => setTimeout(r, 25));
        }
      } else if (res.status !== 201) throw new Error(`spawn ${name}: ${res.status} ${await res.text()}\n${hub.output()}`);
      return ms(t0);
    }),
  );
  await Promise.all(names.map((name) => fetch(`${hub.base}/users/${name}/server`, { method: 'DELETE', headers: h })));
  for (let i = 0; i < 200; i++) {
    const left = await docker.listContainers({ filters: JSON.stringify({ label: [`labhub.test=${RUN}`] }) });
    if (!left.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return times;
}

// ---------- 4. polling cost ----------
async function pollingCost(spawners) {
  const pid = dockerdPid();
  const ids = spawners.map((s) => s.getState().containerId);
  const sweep = async (fn) => {
    const c0 = cpuMs(pid);
    const t0 = now();
    for (let i = 0; i < SWEEPS; i++) {
      await fn();
      await new Promise((r) => setTimeout(r, 2100)); // a new poll interval: LabHub's 2 s list cache has expired
      check();
    }
    return { wall: ms(t0) / SWEEPS - 2100, cpu: (cpuMs(pid) - c0) / SWEEPS };
  };
  let wall = 0;
  const jh = await sweep(async () => {
    const t0 = now();
    await Promise.all(ids.map((id) => docker.getContainer(id).inspect()));
    wall += ms(t0);
  });
  const jhWall = wall / SWEEPS;
  wall = 0;
  const lh = await sweep(async () => {
    const t0 = now();
    for (const s of spawners) await s.poll(); // ServerManager.pollAll polls one after the other
    wall += ms(t0);
  });
  return { jh: { wall: jhWall, cpu: jh.cpu }, lh: { wall: wall / SWEEPS, cpu: lh.cpu } };
}

const rows = [];
let hub;
try {
  await cleanup();
  // warm-up (image layers in page cache, first-container network setup)
  await rawEngine(1);

  const REPS = 3; // single spawns are repeated; the median is reported (shared machine)
  const e1 = [];
  for (let i = 0; i < REPS; i++) e1.push(...(await rawEngine(1)));
  const eN = await rawEngine(N);
  check();
  const s1 = { times: [] };
  for (let i = 0; i < REPS; i++) {
    const r = await spawnerStarts(1, `r${i}`);
    s1.times.push(...r.times);
    await Promise.all(r.spawners.map((s) => s.stop({ now: true })));
  }
  const sN = await spawnerStarts(N);
  check();
  const poll = await pollingCost(sN.spawners);
  await Promise.all(sN.spawners.map((s) => s.stop({ now: true })));
  await cleanup();
  check();
  hub = await startHub();
  const h1 = [];
  for (let i = 0; i < REPS; i++) h1.push(...(await hubStarts(hub, 1, `a${i}`)));
  const hN = await hubStarts(hub, N, 'b');

  rows.push(['', '1 spawn (median of 3)', `${N} concurrent (median / max)`]);
  rows.push(['engine: create+start+inspect', fmt(median(e1)), `${fmt(median(eN))} / ${fmt(Math.max(...eN))}`]);
  rows.push(['spawner.start()', fmt(median(s1.times)), `${fmt(median(sN.times))} / ${fmt(Math.max(...sN.times))}`]);
  rows.push(['hub: API request → ready', fmt(median(h1)), `${fmt(median(hN))} / ${fmt(Math.max(...hN))}`]);
  rows.push(['  spawner overhead (spawner − engine)', fmt(median(s1.times) - median(e1)), `${fmt(median(sN.times) - median(eN))}`]);
  rows.push(['  hub overhead (hub − spawner)', fmt(median(h1) - median(s1.times)), `${fmt(median(hN) - median(sN.times))}`]);
  console.log(`\nSpawn latency on dockerd (${IMAGE}, busybox httpd; ${N} concurrent)\n`);
  for (const r of rows) console.log(`${r[0].padEnd(40)} ${String(r[1]).padStart(12)}   ${r[2]}`);
  console.log(`\nPolling ${N} running servers, per sweep (mean of ${SWEEPS} sweeps):`);
  console.log(`  JupyterHub/DockerSpawner style (${N}× docker inspect): wall ${poll.jh.wall.toFixed(1)} ms, dockerd CPU ${poll.jh.cpu.toFixed(1)} ms`);
  console.log(`  LabHub spawner.poll() ×${N} (1 label-filtered list): wall ${poll.lh.wall.toFixed(1)} ms, dockerd CPU ${poll.lh.cpu.toFixed(1)} ms`);
} finally {
  hub?.child.kill('SIGTERM');
  await cleanup().catch(() => {});
}
