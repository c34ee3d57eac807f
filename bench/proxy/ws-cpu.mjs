#!/usr/bin/env node
// Where the CPU of a websocket ping-pong goes: per-process user/system CPU per round trip for the
// client (this process), the upstream and the relay in between — direct, LabHub, CHP 5.3, the bare
// Node TCP relay and (if a C compiler is present) the bare C epoll relay — plus TCP segments per
// round trip (nstat, if installed) and optional CPU pinning. The diagnosis behind the README's
// "websocket ping-pong" paragraph; run.mjs measures the targets.
//
//   npm run build && node bench/proxy/ws-cpu.mjs [--rounds 3] [--messages 40000]
//   PIN_CLIENT=0 PIN_UPSTREAM=1 PIN_RELAY=1 node bench/proxy/ws-cpu.mjs   # taskset -c placement
//   NICE_RELAY=-10 node bench/proxy/ws-cpu.mjs      # relays/proxies at a higher scheduling priority (root)
//
// Loopback only, bounded: rounds × cases × messages round trips over 8 connections.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { freePort, numberOption, processCpu } from '../common.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HERE = path.join(ROOT, 'bench/proxy');
const ROUNDS = numberOption('rounds', 3);
const MESSAGES = numberOption('messages', 40_000);
const CONNS = 8;
const pin = { client: process.env.PIN_CLIENT, upstream: process.env.PIN_UPSTREAM, relay: process.env.PIN_RELAY };
const NICE = process.env.NICE_RELAY;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
if (pin.client) execFileSync('taskset', ['-pc', pin.client, String(process.pid)], { stdio: 'ignore' });

function start(cmd, args, cpus, nice) {
  let [c, a] = cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args];
  if (nice) [c, a] = ['nice', ['-n', nice, c, ...a]];
  const child = spawn(c, a, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, CONFIGPROXY_AUTH_TOKEN: 'ws-cpu' } });
  children.push(child);
  return child;
}

/** [user, system] CPU ms of a process */
function cpu(pid) {
  const { user, system } = processCpu(pid);
  return [user, system];
}

function tcpSegments() {
  try {
    const out = execFileSync('nstat', ['-az', 'TcpOutSegs'], { encoding: 'utf8' });
    return Number(/TcpOutSegs\s+(\d+)/.exec(out)?.[1]);
  } catch {
    return NaN;
  }
}

async function pingPong(url) {
  const per = Math.ceil(MESSAGES / CONNS);
  const payload = 'x'.repeat(32);
  const conns = await Promise.all(
    Array.from({ length: CONNS }, () => new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })),
  );
  const t0 = performance.now();
  await Promise.all(conns.map((ws) => new Promise((resolve) => {
    let received = 0;
    ws.on('message', () => {
      if (++received >= per) resolve();
      else ws.send(payload);
    });
    ws.send(payload);
  })));
  const ms = performance.now() - t0;
  conns.forEach((ws) => ws.close());
  return { rate: (per * CONNS) / (ms / 1000), ms, n: per * CONNS };
}

async function main() {
  const upPort = await freePort();
  const upstream = start(process.execPath, [path.join(HERE, 'upstream.mjs'), String(upPort)], pin.upstream);
  const cases = [{ name: 'direct', url: `ws://127.0.0.1:${upPort}/ws`, pid: null }];
  const proxyArgs = (port, apiPort) => ['--ip', '127.0.0.1', '--port', String(port), '--api-ip', '127.0.0.1', '--api-port', String(apiPort),
    '--default-target', `http://127.0.0.1:${upPort}`, '--log-level', 'error'];
  for (const [name, bin] of [['LabHub', path.join(ROOT, 'dist/proxy/main.js')], ['CHP 5.3', path.join(ROOT, 'node_modules/configurable-http-proxy/bin/configurable-http-proxy')]]) {
    const port = await freePort();
    const child = start(process.execPath, [bin, ...proxyArgs(port, await freePort())], pin.relay, NICE);
    cases.push({ name, url: `ws://127.0.0.1:${port}/user/x`, pid: child.pid });
  }
  let port = await freePort();
  cases.push({ name: 'bare Node TCP relay', url: `ws://127.0.0.1:${port}/ws`, pid: start(process.execPath, [path.join(HERE, 'tcp-relay.mjs'), String(port), String(upPort)], pin.relay, NICE).pid });
  const cBin = path.join(os.tmpdir(), `labhub-c-relay-${process.pid}`);
  if (['cc', 'gcc', 'clang'].some((cc) => spawnSync(cc, ['-O2', '-o', cBin, path.join(HERE, 'c-relay.c')], { stdio: 'ignore' }).status === 0)) {
    process.on('exit', () => fs.rmSync(cBin, { force: true }));
    port = await freePort();
    cases.push({ name: 'bare C epoll relay', url: `ws://127.0.0.1:${port}/ws`, pid: start(cBin, [String(port), String(upPort)], pin.relay, NICE).pid });
  }
  await sleep(2000);
  console.log(`ws ping-pong CPU per round trip (µs, user/system), ${MESSAGES} round trips over ${CONNS} connections, ${ROUNDS} rounds; pinning ${JSON.stringify(pin)}${NICE ? `, relays at nice ${NICE}` : ''}`);
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of round % 2 ? [...cases].reverse() : cases) {
      const pids = [upstream.pid, ...(c.pid ? [c.pid] : [])];
      const before = pids.map(cpu);
      const me0 = process.cpuUsage();
      const seg0 = tcpSegments();
      const r = await pingPong(c.url);
      const segs = (tcpSegments() - seg0) / r.n;
      const me = process.cpuUsage(me0);
      const after = pids.map(cpu);
      const us = (ms) => ((ms * 1000) / r.n).toFixed(1);
      const parts = [`client ${us(me.user / 1000)}/${us(me.system / 1000)}`];
      let total = (me.user + me.system) / 1000;
      pids.forEach((pid, i) => {
        const u = after[i][0] - before[i][0];
        const s = after[i][1] - before[i][1];
        total += u + s;
        parts.push(`${pid === upstream.pid ? 'upstream' : 'relay'} ${us(u)}/${us(s)}`);
      });
      console.log(
        `  ${`${c.name} #${round + 1}`.padEnd(24)} ${r.rate.toFixed(0).padStart(6)} rt/s   ${parts.join('   ')}   total ${us(total)} µs/rt   ${(total / r.ms).toFixed(2)} cores busy` +
          (Number.isNaN(segs) ? '' : `   ${segs.toFixed(2)} TCP segments/rt`),
      );
      await sleep(300);
    }
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
