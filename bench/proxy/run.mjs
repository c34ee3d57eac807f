#!/usr/bin/env node
// Proxy benchmark: LabHub's labhub-proxy vs the real configurable-http-proxy 5.3 vs direct, in ONE run.
//
//   npm run build && apt-get install -y wrk      (this script installs nothing)
//   node bench/proxy/run.mjs [--duration 2] [--rounds 3] [--routes 10000] [--ws-messages 20000] [--no-bare]
//
// Measures, all on 127.0.0.1 and bounded in time and count:
//   * HTTP throughput + p99 latency with wrk (-t2 -c64, keep-alive, 100-byte body): direct upstream,
//     CHP with 1 route, LabHub with 1 route, CHP with N routes, LabHub with N routes
//     (+ two bare forwarders that isolate the upstream client: node:http Agent vs undici Pool)
//     Cases run in interleaved rounds (order reversed every other round, so each LabHub case runs right
//     before or after its CHP counterpart). The targets are judged on PAIRED ratios: one ratio per round
//     from two cases measured back to back, then the median over the rounds (range printed next to it).
//     The machine is shared; a neighbour's load burst then spoils one round's ratio instead of deciding
//     which case gets the best slot. Each wrk line also reports the CPU that processes outside the
//     benchmark used meanwhile ("neighbours", % of all cores), so a disturbed round is visible.
//   * websocket message round-trips (8 connections × fixed count), same paired rounds: direct, CHP,
//     LabHub, a bare Node TCP relay, and — if a C compiler is present — a bare C epoll relay
//     (c-relay.c), the floor for any user-space relay
//   * peak RSS (VmHWM) of each proxy process
// and prints a table with the ratios the targets are stated in.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { freePort, numberOption, processCpu } from '../common.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HERE = path.join(ROOT, 'bench/proxy');
const LABHUB = path.join(ROOT, 'dist/proxy/main.js');
const CHP = path.join(ROOT, 'node_modules/configurable-http-proxy/bin/configurable-http-proxy');

const DURATION = numberOption('duration', 2);
const ROUNDS = numberOption('rounds', 5);
const ROUTES = numberOption('routes', 10_000);
const WS_MESSAGES = numberOption('ws-messages', 20_000);
const WS_CONNS = 8;
const BARE = !process.argv.includes('--no-bare');
const TOKEN = 'bench-token';

try {
  execFileSync('wrk', ['--version'], { stdio: 'ignore' });
} catch (e) {
  if (e.code === 'ENOENT') {
    console.error('wrk not found: apt-get install -y wrk');
    process.exit(1);
  }
}
if (!fs.existsSync(LABHUB)) {
  console.error('dist/proxy/main.js not found: run `npm run build` first');
  process.exit(1);
}

const children = new Set();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
process.on('SIGINT', () => process.exit(130));

async function waitHttp(url, ms = 10_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`not up: ${url}`);
}

function start(args, env = {}) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NO_COLOR: '1', ...env } });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([done, sleep(3000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

async function startProxy(kind, upstreamPort) {
  const port = await freePort();
  const apiPort = await freePort();
  const bin = kind === 'labhub' ? LABHUB : CHP;
  const child = start([bin, '--ip', '127.0.0.1', '--port', String(port), '--api-ip', '127.0.0.1', '--api-port', String(apiPort),
    '--default-target', `http://127.0.0.1:${upstreamPort}`, '--log-level', 'error'], { CONFIGPROXY_AUTH_TOKEN: TOKEN });
  await waitHttp(`http://127.0.0.1:${port}/_chp_healthz`);
  await waitHttp(`http://127.0.0.1:${apiPort}/api/routes`);
  return { kind, child, port, apiPort };
}

async function addRoutes(proxy, n, upstreamPort) {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const r = await fetch(`http://127.0.0.1:${proxy.apiPort}/api/routes/user/u${i}`, {
        method: 'POST',
        headers: { Authorization: `token ${TOKEN}` },
        body: JSON.stringify({ target: `http://127.0.0.1:${upstreamPort}`, user: `u${i}`, server_name: '', jupyterhub: true }),
      });
      await r.arrayBuffer();
      if (r.status !== 201) throw new Error(`route add failed: ${r.status}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

function toMs(v) {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v);
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
}

function wrk(url, seconds) {
  const out = execFileSync('wrk', ['-t2', '-c64', `-d${seconds}s`, '--latency', url], { encoding: 'utf8', timeout: (seconds + 20) * 1000 });
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const errors = /Socket errors:.*/.exec(out)?.[0] ?? '';
  return { rps, p99, non2xx, errors, requests };
}

/** One wrk run; with a pid, also the CPU time that process spent per request (µs). */
async function http(label, url, pid) {
  const c0 = pid ? cpuMs(pid) : 0;
  const [r, others] = await withNeighbours(() => wrk(url, DURATION));
  r.cpuUs = pid ? ((cpuMs(pid) - c0) * 1000) / r.requests : NaN;
  r.others = others;
  if (r.non2xx || r.errors) console.error(`  ! ${label}: non-2xx=${r.non2xx} ${r.errors}`);
  console.error(
    `  ${label.padEnd(26)} ${r.rps.toFixed(0).padStart(7)} req/s   p99 ${r.p99.toFixed(2).padStart(7)} ms   ${pid ? r.cpuUs.toFixed(1) + ' µs CPU/req' : ''}   neighbours ${(100 * others).toFixed(0)}%`,
  );
  return r;
}

/** Compile c-relay.c if a C compiler is there (diagnostic row only); returns the binary or null. */
function buildCRelay() {
  const out = path.join(os.tmpdir(), `labhub-c-relay-${process.pid}`);
  for (const cc of ['cc', 'gcc', 'clang']) {
    const r = spawnSync(cc, ['-O2', '-o', out, path.join(HERE, 'c-relay.c')], { stdio: 'ignore' });
    if (r.status === 0) {
      process.on('exit', () => fs.rmSync(out, { force: true }));
      return out;
    }
  }
  return null;
}

/**
 * Websocket echo rate over WS_CONNS connections: each keeps `window` messages in flight
 * (window 1 = strict ping-pong, latency-bound; 16 = pipelined message throughput).
 */
async function wsRate(url, window = 1) {
  const payload = 'x'.repeat(32);
  const per = Math.ceil(WS_MESSAGES / WS_CONNS);
  const conns = await Promise.all(
    Array.from({ length: WS_CONNS }, () => new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })),
  );
  const t0 = process.hrtime.bigint();
  await Promise.all(conns.map((ws) => new Promise((resolve) => {
    let received = 0;
    let sent = 0;
    ws.on('message', () => {
      if (++received >= per) resolve();
      else if (sent < per) {
        sent++;
        ws.send(payload);
      }
    });
    for (; sent < Math.min(window, per); sent++) ws.send(payload);
  })));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  conns.forEach((ws) => ws.close());
  return (per * WS_CONNS) / secs;
}

/** user+system CPU time of a process in ms (from /proc, clock ticks of 10 ms). */
function cpuMs(pid) {
  return processCpu(pid).total;
}

/** busy CPU time of the whole machine in ms (/proc/stat, all cores). */
function machineBusyMs() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (f.reduce((a, b) => a + b, 0) - f[3] - f[4]) * 10;
}

/** CPU time of this benchmark: this process, its reaped children (wrk) and the running servers, in ms. */
function benchCpuMs() {
  const f = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  let ms = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 10;
  for (const c of children) {
    try {
      ms += cpuMs(c.pid);
    } catch {
      /* exited meanwhile */
    }
  }
  return ms;
}

/**
 * CPU time of kernel threads (ksoftirqd, kworkers) in ms: under loopback load they do part of the
 * benchmark's own network processing, so they are not counted as neighbours.
 */
function kernelThreadsCpuMs() {
  let ms = 0;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      if (Number(f[6]) & 0x00200000) ms += (Number(f[11]) + Number(f[12])) * 10; // PF_KTHREAD
    } catch {
      /* gone */
    }
  }
  return ms;
}

/** Run fn; also return the share of all cores that user processes outside the benchmark used meanwhile. */
async function withNeighbours(fn) {
  const t0 = performance.now();
  const m0 = machineBusyMs();
  const b0 = benchCpuMs();
  const k0 = kernelThreadsCpuMs();
  const result = await fn();
  const wall = performance.now() - t0;
  const others = machineBusyMs() - m0 - (benchCpuMs() - b0) - (kernelThreadsCpuMs() - k0);
  return [result, Math.max(0, others) / (wall * os.cpus().length)];
}

function rssMb(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

async function main() {
  const load0 = os.loadavg()[0];
  console.error(`proxy bench: wrk -t2 -c64 -d${DURATION}s, 100-byte body, ${ROUNDS} interleaved rounds (targets: median of paired per-round ratios); ${ROUTES} routes; ${WS_MESSAGES} ws round-trips over ${WS_CONNS} connections`);
  const upPort = await freePort();
  const upstream = start([path.join(HERE, 'upstream.mjs'), String(upPort)]);
  await waitHttp(`http://127.0.0.1:${upPort}/`);
  const path1 = '/user/u5000/api/contents';

  // four proxies: CHP and LabHub, each once with only the default route and once with N routes
  const chp1 = await startProxy('chp', upPort);
  const lab1 = await startProxy('labhub', upPort);
  const idle = { chp: rssMb(chp1.child.pid).rss, labhub: rssMb(lab1.child.pid).rss };
  const chpN = await startProxy('chp', upPort);
  const labN = await startProxy('labhub', upPort);
  const t0 = Date.now();
  await addRoutes(chpN, ROUTES, upPort);
  await addRoutes(labN, ROUTES, upPort);
  console.error(`  added ${ROUTES} routes to each proxy in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const bare = {};
  if (BARE) {
    for (const kind of ['http', 'undici']) {
      const port = await freePort();
      bare[kind] = { child: start([path.join(HERE, 'bare-forwarders.mjs'), kind, String(port), String(upPort)]), port };
      await waitHttp(`http://127.0.0.1:${port}/`);
    }
  }

  const relayPort = await freePort();
  const relay = start([path.join(HERE, 'tcp-relay.mjs'), String(relayPort), String(upPort)]);
  const cRelayBin = buildCRelay();
  let cRelay = null;
  if (cRelayBin) {
    const port = await freePort();
    const child = spawn(cRelayBin, [String(port), String(upPort)], { stdio: ['ignore', 'ignore', 'inherit'] });
    children.add(child);
    child.on('exit', () => children.delete(child));
    cRelay = { child, port };
  }
  await sleep(300);

  const cases = [
    ['direct', upPort, upstream.pid],
    ['CHP 5.3, 1 route', chp1.port, chp1.child.pid],
    ['LabHub, 1 route', lab1.port, lab1.child.pid],
    [`CHP 5.3, ${ROUTES} routes`, chpN.port, chpN.child.pid],
    [`LabHub, ${ROUTES} routes`, labN.port, labN.child.pid],
    ...(BARE ? [['bare node:http Agent', bare.http.port, bare.http.child.pid], ['bare undici Pool', bare.undici.port, bare.undici.child.pid]] : []),
  ];
  // warm-up (JIT, pools), then interleaved rounds; keep each case's best round (the machine is shared)
  for (const [, port] of cases) wrk(`http://127.0.0.1:${port}${path1}`, 1);
  const rounds = new Map(cases.map(([label]) => [label, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // alternate the order, and pause between cases so the previous process settles (GC, sockets)
    const order = round % 2 ? [...cases].reverse() : cases;
    for (const [label, port, pid] of order) {
      await sleep(1000);
      rounds.get(label).push(await http(`${label} #${round + 1}`, `http://127.0.0.1:${port}${path1}`, pid));
    }
  }
  // per case: best throughput and lowest CPU per request (the least disturbed rounds), median p99
  const median = (xs) => {
    const v = [...xs].sort((a, b) => a - b);
    const m = v.length >> 1;
    return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
  };
  /** one ratio per round from two cases measured back to back: [median, min, max, all] */
  const paired = (a, b, f) => {
    const ra = rounds.get(a);
    const rb = rounds.get(b);
    const xs = ra.map((r, i) => f(r, rb[i]));
    return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), all: xs };
  };
  const best = new Map(
    [...rounds].map(([label, rs]) => [
      label,
      {
        rps: Math.max(...rs.map((r) => r.rps)),
        cpuUs: Math.min(...rs.map((r) => r.cpuUs)),
        p99: median(rs.map((r) => r.p99)),
        others: median(rs.map((r) => r.others)),
      },
    ]),
  );
  const res = {
    direct: best.get('direct'),
    chp1: best.get('CHP 5.3, 1 route'),
    lab1: best.get('LabHub, 1 route'),
    chpN: best.get(`CHP 5.3, ${ROUTES} routes`),
    labN: best.get(`LabHub, ${ROUTES} routes`),
    bare_http: best.get('bare node:http Agent'),
    bare_undici: best.get('bare undici Pool'),
  };
  const mem = { chp: rssMb(chpN.child.pid), labhub: rssMb(labN.child.pid) };
  const pair = {
    rps: paired('LabHub, 1 route', 'CHP 5.3, 1 route', (l, c) => l.rps / c.rps),
    cpu: paired('LabHub, 1 route', 'CHP 5.3, 1 route', (l, c) => c.cpuUs / l.cpuUs),
    p99: paired('LabHub, 1 route', 'CHP 5.3, 1 route', (l, c) => l.p99 / c.p99),
    routes: paired(`LabHub, ${ROUTES} routes`, 'LabHub, 1 route', (n, one) => n.rps / one.rps),
    routesCpu: paired(`LabHub, ${ROUTES} routes`, 'LabHub, 1 route', (n, one) => one.cpuUs / n.cpuUs),
  };
  const neighbours = median([...rounds.values()].flat().map((r) => r.others));

  // websockets: interleaved rounds (order reversed every other round), ping-pong and 16 in flight;
  // per case the best rate, and per round the paired ratio to direct (median over rounds)
  const wsCases = [
    ['direct', `ws://127.0.0.1:${upPort}/ws`, null],
    ['CHP 5.3', `ws://127.0.0.1:${chp1.port}${path1}`, chp1.child.pid],
    ['LabHub', `ws://127.0.0.1:${lab1.port}${path1}`, lab1.child.pid],
    ['bare Node TCP relay', `ws://127.0.0.1:${relayPort}/ws`, relay.pid],
    ...(cRelay ? [['bare C epoll relay', `ws://127.0.0.1:${cRelay.port}/ws`, cRelay.child.pid]] : []),
  ];
  const wsRounds = new Map(wsCases.map(([label]) => [label, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...wsCases].reverse() : wsCases;
    for (const [label, url, pid] of order) {
      const c0 = pid ? cpuMs(pid) : 0;
      const [pp, others] = await withNeighbours(() => wsRate(url, 1));
      const cpuUs = pid ? ((cpuMs(pid) - c0) * 1000) / WS_MESSAGES : NaN;
      const w16 = await wsRate(url, 16);
      wsRounds.get(label).push({ pp, w16, cpuUs, others });
      console.error(
        `  ws ${`${label} #${round + 1}`.padEnd(26)} ping-pong ${pp.toFixed(0).padStart(6)} msgs/s${pid ? ` (${cpuUs.toFixed(1)} µs CPU/msg)` : ''}   16 in flight ${w16.toFixed(0).padStart(6)} msgs/s   neighbours ${(100 * others).toFixed(0)}%`,
      );
    }
  }
  const wsBest = (label, k) => Math.max(...wsRounds.get(label).map((r) => r[k]));
  const wsPaired = (label, k) => {
    const xs = wsRounds.get(label).map((r, i) => r[k] / wsRounds.get('direct')[i][k]);
    return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), all: xs };
  };
  const wsCpu = (label) => median(wsRounds.get(label).map((r) => r.cpuUs));
  const memWs = { chp: rssMb(chp1.child.pid).hwm, labhub: rssMb(lab1.child.pid).hwm };

  for (const c of [chp1, lab1, chpN, labN]) await stop(c.child);
  await stop(relay);
  if (cRelay) await stop(cRelay.child);
  for (const b of Object.values(bare)) await stop(b.child);
  await stop(upstream);

  console.log(`machine: ${os.cpus().length} CPUs, load average ${load0.toFixed(1)} at start, ${os.loadavg()[0].toFixed(1)} at end (node ${process.version})`);
  const f0 = (n) => n.toFixed(0);
  const f2 = (n) => n.toFixed(2);
  const f1 = (n) => n.toFixed(1);
  const row = (label, r, cpuLabel = true) => [
    label,
    f0(r.rps),
    f2(r.p99),
    f2(r.rps / res.chp1.rps) + '×',
    cpuLabel ? f1(r.cpuUs) : f1(r.cpuUs) + ' (upstream)',
    f2(res.chp1.cpuUs / r.cpuUs) + '×',
    f0(100 * r.others),
  ];
  const rows = [
    ['case', 'req/s (best)', 'p99 ms (median)', 'req/s vs CHP', 'CPU µs/req (best)', 'CPU efficiency vs CHP', 'neighbours % (median)'],
    row('direct', res.direct, false),
    row('CHP 5.3, 1 route', res.chp1),
    row('LabHub, 1 route', res.lab1),
    row(`CHP 5.3, ${ROUTES} routes`, res.chpN),
    row(`LabHub, ${ROUTES} routes`, res.labN),
  ];
  if (BARE) {
    rows.push(row('bare node:http Agent', res.bare_http));
    rows.push(row('bare undici Pool', res.bare_undici));
  }
  const width = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => '| ' + r.map((c, i) => c.padEnd(width[i])).join(' | ') + ' |';
  console.log();
  console.log(line(rows[0]));
  console.log('|' + width.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  rows.slice(1).forEach((r) => console.log(line(r)));
  console.log();
  const rng = (p) => `${f2(p.median)} (${f2(p.min)}–${f2(p.max)})`;
  console.log(`| websocket echo (${WS_CONNS} conns) | ping-pong msgs/s (best) | ping-pong vs direct, paired median (range) | 16 in flight msgs/s (best) | 16 in flight vs direct, paired median (range) | CPU µs per ping-pong msg (median) |`);
  console.log(`|---|---|---|---|---|---|`);
  for (const [label] of wsCases) {
    const name = label === 'bare Node TCP relay' ? 'bare Node TCP relay (floor for a Node relay)' : label === 'bare C epoll relay' ? 'bare C epoll relay (floor for any user-space relay)' : label;
    const cpu = label === 'direct' ? '—' : f1(wsCpu(label));
    console.log(`| ${name} | ${f0(wsBest(label, 'pp'))} | ${label === 'direct' ? '1.00' : rng(wsPaired(label, 'pp'))} | ${f0(wsBest(label, 'w16'))} | ${label === 'direct' ? '1.00' : rng(wsPaired(label, 'w16'))} | ${cpu} |`);
  }
  console.log();
  console.log(`| memory (MB) | RSS idle | RSS after HTTP load, ${ROUTES} routes | peak RSS, ${ROUTES} routes | peak RSS, 1 route + ws |`);
  console.log(`|---|---|---|---|---|`);
  console.log(`| CHP 5.3 | ${f0(idle.chp)} | ${f0(mem.chp.rss)} | ${f0(mem.chp.hwm)} | ${f0(memWs.chp)} |`);
  console.log(`| LabHub | ${f0(idle.labhub)} | ${f0(mem.labhub.rss)} | ${f0(mem.labhub.hwm)} | ${f0(memWs.labhub)} |`);
  console.log();
  const wsPP = wsPaired('LabHub', 'pp');
  const ws16 = wsPaired('LabHub', 'w16');
  const checks = [
    [`HTTP throughput LabHub/CHP (1 route) ≥ 2`, pair.rps, res.lab1.rps / res.chp1.rps, (v) => v >= 2],
    [`HTTP CPU per request CHP/LabHub (1 route; noise-robust view of the same) ≥ 2`, pair.cpu, res.chp1.cpuUs / res.lab1.cpuUs, (v) => v >= 2],
    [`p99 LabHub/CHP (1 route) ≤ 0.6`, pair.p99, res.lab1.p99 / res.chp1.p99, (v) => v <= 0.6],
    [`ws rate LabHub/direct ≥ 0.8 (ping-pong)`, wsPP, wsBest('LabHub', 'pp') / wsBest('direct', 'pp'), (v) => v >= 0.8],
    [`ws rate LabHub/direct ≥ 0.8 (16 in flight)`, ws16, wsBest('LabHub', 'w16') / wsBest('direct', 'w16'), (v) => v >= 0.8],
    [`peak RSS LabHub/CHP ≤ 1`, null, mem.labhub.hwm / mem.chp.hwm, (v) => v <= 1],
    [`LabHub ${ROUTES} routes / 1 route throughput (≈1 = no slowdown)`, pair.routes, res.labN.rps / res.lab1.rps, (v) => v >= 0.9],
    [`LabHub 1 route / ${ROUTES} routes CPU per request (≈1 = no slowdown)`, pair.routesCpu, res.lab1.cpuUs / res.labN.cpuUs, (v) => v >= 0.9],
  ];
  console.log(`neighbours (CPU of processes outside this benchmark, median over the HTTP runs): ${(100 * neighbours).toFixed(0)}% of all cores`);
  console.log();
  console.log(`| target | paired per-round ratio: median (range over ${ROUNDS} rounds) | ratio of best values | met (median) |`);
  console.log('|---|---|---|---|');
  for (const [name, p, bestRatio, ok] of checks) {
    const v = p ? p.median : bestRatio;
    console.log(`| ${name} | ${p ? rng(p) : '—'} | ${f2(bestRatio)} | ${ok(v) ? 'yes' : 'NO'} |`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
