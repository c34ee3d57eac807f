// ws echo rate: direct vs C epoll relay vs sockmap relay, interleaved rounds (order reversed each round).
// Same client as bench/proxy/run.mjs wsRate(): 8 connections, 20,000 round trips, window 1 and 16.
//   needs root, clang, libbpf-dev (`make -C bench/proxy/sockmap`, see README.md there); run from the repo root:
//   node bench/proxy/sockmap/bench.mjs [--rounds 5] [--ws-messages 20000]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { freePort, numberOption, processCpu } from '../../common.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROUNDS = numberOption('rounds', 5);
const WS_MESSAGES = numberOption('ws-messages', 20_000);
const WS_CONNS = 8;
const children = new Set();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
process.on('SIGINT', () => process.exit(130));
setTimeout(() => { console.error('global timeout'); process.exit(3); }, 20 * 60_000).unref();

function start(cmd, args, env = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}
async function waitPort(port, ms = 10_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try { const r = await fetch(`http://127.0.0.1:${port}/`); await r.arrayBuffer(); return; } catch { await sleep(50); }
  }
  throw new Error(`not up: ${port}`);
}
async function wsRate(url, window = 1) { // copied from bench/proxy/run.mjs
  const payload = 'x'.repeat(32);
  const per = Math.ceil(WS_MESSAGES / WS_CONNS);
  const conns = await Promise.all(Array.from({ length: WS_CONNS }, () => new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  })));
  const t0 = process.hrtime.bigint();
  await Promise.race([
    Promise.all(conns.map((ws) => new Promise((resolve) => {
      let received = 0; let sent = 0;
      ws.on('message', () => {
        if (++received >= per) resolve();
        else if (sent < per) { sent++; ws.send(payload); }
      });
      for (; sent < Math.min(window, per); sent++) ws.send(payload);
    }))),
    sleep(60_000).then(() => { throw new Error(`ws run timed out: ${url}`); }),
  ]);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  conns.forEach((ws) => ws.close());
  return (per * WS_CONNS) / secs;
}
function machineBusyMs() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (f.reduce((a, b) => a + b, 0) - f[3] - f[4]) * 10;
}
function kernelThreadsCpuMs() { // ksoftirqd + kworkers (the sockmap backlog runs in kworkers)
  let ms = 0;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      if (Number(f[6]) & 0x00200000) ms += (Number(f[11]) + Number(f[12])) * 10;
    } catch { /* gone */ }
  }
  return ms;
}
const median = (xs) => { const v = [...xs].sort((a, b) => a - b); const m = v.length >> 1; return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2; };

const upPort = await freePort();
const upstream = start(process.execPath, [path.join(HERE, '..', 'upstream.mjs'), String(upPort)]);
await waitPort(upPort);
const cPort = await freePort();
const cRelay = start(`${HERE}/c-relay`, [String(cPort), String(upPort)]);
const sPort = await freePort();
const sRelay = start(`${HERE}/sockmap-relay`, [String(sPort), String(upPort)]);
const pPort = await freePort();
const pRelay = start(`${HERE}/sockmap-relay`, [String(pPort), String(upPort)], { MODE: 'strparser' });
await waitPort(cPort);
await waitPort(sPort);
await waitPort(pPort);
const cases = [
  ['direct', `ws://127.0.0.1:${upPort}/ws`, null],
  ['C epoll relay', `ws://127.0.0.1:${cPort}/ws`, cRelay.pid],
  ['sockmap relay', `ws://127.0.0.1:${sPort}/ws`, sRelay.pid],
  ['sockmap relay (strparser)', `ws://127.0.0.1:${pPort}/ws`, pRelay.pid],
];
console.error(`ws bench: ${WS_MESSAGES} round trips over ${WS_CONNS} conns, ${ROUNDS} rounds; load avg ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
for (const [, url] of cases) { await wsRate(url, 1); await wsRate(url, 16); } // warm-up
const rounds = new Map(cases.map(([l]) => [l, []]));
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 ? [...cases].reverse() : cases;
  for (const [label, url, pid] of order) {
    await sleep(300);
    const c0 = pid ? processCpu(pid).total : 0;
    const m0 = machineBusyMs();
    const k0 = kernelThreadsCpuMs();
    const t0 = performance.now();
    const pp = await wsRate(url, 1);
    const busy = (machineBusyMs() - m0) / (performance.now() - t0) / os.cpus().length; // share of all cores
    const machUs = ((machineBusyMs() - m0) * 1000) / WS_MESSAGES;
    const kUs = ((kernelThreadsCpuMs() - k0) * 1000) / WS_MESSAGES;
    const relayUs = pid ? ((processCpu(pid).total - c0) * 1000) / WS_MESSAGES : NaN;
    const w16 = await wsRate(url, 16);
    rounds.get(label).push({ pp, w16, machUs, relayUs, busy, kUs });
    console.error(`  ${`${label} #${round + 1}`.padEnd(30)} ping-pong ${pp.toFixed(0).padStart(6)} msgs/s  (machine CPU ${machUs.toFixed(1)} µs/msg, kthreads ${kUs.toFixed(1)} µs/msg, ${(100 * busy).toFixed(0)}% of cores busy${pid ? `, relay process ${relayUs.toFixed(1)} µs/msg` : ''})   16 in flight ${w16.toFixed(0).padStart(6)} msgs/s`);
  }
}
const f2 = (x) => x.toFixed(2);
console.log(`\nmachine: ${os.cpus().length} CPUs, load avg at end ${os.loadavg()[0].toFixed(1)}`);
console.log('| case | ping-pong msgs/s (median) | ping-pong / direct, paired median (range) | 16 in flight msgs/s (median) | 16 in flight / direct, paired median (range) | machine CPU µs per ping-pong msg (median) | kernel threads CPU µs per ping-pong msg (median) |');
console.log('|---|---|---|---|---|---|---|');
for (const [label] of cases) {
  const rs = rounds.get(label);
  const d = rounds.get('direct');
  const ratio = (k) => { const xs = rs.map((r, i) => r[k] / d[i][k]); return `${f2(median(xs))} (${f2(Math.min(...xs))}–${f2(Math.max(...xs))})`; };
  console.log(`| ${label} | ${median(rs.map((r) => r.pp)).toFixed(0)} | ${label === 'direct' ? '1.00' : ratio('pp')} | ${median(rs.map((r) => r.w16)).toFixed(0)} | ${label === 'direct' ? '1.00' : ratio('w16')} | ${median(rs.map((r) => r.machUs)).toFixed(1)} | ${median(rs.map((r) => r.kUs)).toFixed(1)} |`);
}
sRelay.kill('SIGTERM');
pRelay.kill('SIGTERM');
await sleep(300);
process.exit(0);
