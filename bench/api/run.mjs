#!/usr/bin/env node
// bench/api: LabHub vs Debian's real JupyterHub 3.0 on this machine, in one run (a script, not a test).
// Measures: GET /hub/api/users/{name} throughput with 50 concurrent clients (wrk), bulk create of
// 1,000 users in one POST, listing 1,000 users (p50), listing 10,000 users paginated (LabHub), and
// hub RSS (JupyterHub at 1,000 users, LabHub at 10,000). JupyterHub runs with its best setting for
// this (trust_user_provided_tokens, so the service token is hashed once).
// Needs: `apt-get install -y wrk jupyterhub`, `npm run build`. Loopback only; every loop is bounded.
// Usage: node bench/api/run.mjs [--seconds 5]
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, processCpu } from '../common.mjs';
import { setTimeout as sleep } from 'node:timers/promises';

const REPO = resolve(import.meta.dirname, '..', '..');
const SECONDS = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 5;
const TOKEN = 'bench0123456789abcdef0123456789ab';

const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
// CPU time the hub process used (user + system), from /proc: robust against a busy machine,
// unlike wall-clock throughput, because it counts only the hub's own work.
const cpuMs = (pid) => processCpu(pid).total;

/** Sends exactly `count` GETs with `concurrency` keep-alive connections; returns hub CPU ms per request. */
async function cpuPerRequest(url, pid, count = 4000, concurrency = 50) {
  const { Pool } = await import('undici');
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections: concurrency, pipelining: 1 });
  let sent = 0;
  let failed = 0;
  const before = cpuMs(pid);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (sent < count) {
      sent++;
      const r = await pool.request({ path: u.pathname + u.search, method: 'GET', headers: { authorization: `token ${TOKEN}` } });
      await r.body.arrayBuffer();
      if (r.statusCode !== 200) failed++;
    }
  }));
  const wall = performance.now() - t0;
  const cpu = cpuMs(pid) - before;
  await pool.close();
  if (failed) throw new Error(`${failed} failed requests to ${url}`);
  return { cpuMsPerReq: cpu / count, wallRps: count / (wall / 1000) };
}

async function waitHttp(url, ms = 60_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try { const r = await fetch(url); await r.arrayBuffer(); if (r.status < 500) return; } catch {}
    await sleep(200);
  }
  throw new Error(`not up: ${url}`);
}

function wrk(url, seconds, { threads = 2, connections = 50, headers = [] } = {}) {
  const out = execFileSync('wrk', [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency', '-H', `Authorization: token ${TOKEN}`, ...headers.flatMap((h) => ['-H', h]), url], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const p99ms = p99 ? Number(p99[1]) * { us: 0.001, ms: 1, s: 1000 }[p99[2]] : NaN;
  if (non2xx) throw new Error(`${non2xx} non-2xx responses from ${url}`);
  const p50 = /50%\s+([\d.]+)(us|ms|s)/.exec(out);
  const p50ms = p50 ? Number(p50[1]) * { us: 0.001, ms: 1, s: 1000 }[p50[2]] : NaN;
  return { rps, p99ms, p50ms };
}

async function api(base, method, path, body, headers = {}) {
  const r = await fetch(`${base}/hub/api${path}`, { method, headers: { Authorization: `token ${TOKEN}`, 'Content-Type': 'application/json', ...headers }, body: body && JSON.stringify(body) });
  const text = await r.text();
  if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : null;
}

async function timeIt(fn) { const t = performance.now(); await fn(); return performance.now() - t; }

// Listing uses undici's request() with a keep-alive pool for both hubs: fetch() adds ≈ 0.7 ms per call
// on this machine, which would measure the client more than the hub.
const pools = new Map();
async function getJson(base, path, headers) {
  const { Pool } = await import('undici');
  let pool = pools.get(base);
  if (!pool) pools.set(base, (pool = new Pool(base, { connections: 1 })));
  const r = await pool.request({ path: `/hub/api${path}`, method: 'GET', headers: { authorization: `token ${TOKEN}`, ...headers } });
  const text = await r.body.text();
  if (r.statusCode >= 400) throw new Error(`GET ${path}: ${r.statusCode} ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

/**
 * A minimal keep-alive HTTP/1.1 client for the listing (both hubs): one socket, one request at a time,
 * Content-Length bodies, JSON.parse — what wrk is for throughput. undici spends ≈ 0.3–0.5 ms per 40 KB page
 * on its own (stream, decoder, promise hops), which is more than LabHub needs to answer the page, so the
 * end-to-end listing is measured with both clients: undici's shows what a Node client sees, this one the hubs.
 */
async function minimalClient(base) {
  const { connect } = await import('node:net');
  const u = new URL(base);
  const socket = connect(Number(u.port), u.hostname);
  socket.setNoDelay(true);
  await new Promise((res, rej) => { socket.once('connect', res); socket.once('error', rej); });
  let waiting = null;
  let buf = Buffer.alloc(0);
  let bodyStart = -1;
  let bodyEnd = -1;
  let status = 0;
  const fail = (err) => { const w = waiting; waiting = null; w?.reject(err); };
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('connection closed')));
  socket.on('data', (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    if (bodyStart < 0) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.toString('latin1', 0, end);
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (!length) return fail(new Error(`no Content-Length in ${head.slice(0, 200)}`));
      status = Number(head.slice(9, 12));
      bodyStart = end + 4;
      bodyEnd = bodyStart + Number(length[1]);
    }
    if (buf.length < bodyEnd) return;
    const text = buf.toString('utf8', bodyStart, bodyEnd);
    if (buf.length > bodyEnd) return fail(new Error('unexpected bytes after the response'));
    buf = Buffer.alloc(0);
    bodyStart = bodyEnd = -1;
    const w = waiting;
    waiting = null;
    if (status >= 400) w.reject(new Error(`${status} ${text.slice(0, 200)}`));
    else w.resolve(JSON.parse(text));
  });
  const get = (path, headers = {}) => new Promise((resolve, reject) => {
    waiting = { resolve, reject };
    const lines = Object.entries({ authorization: `token ${TOKEN}`, ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(`GET /hub/api${path} HTTP/1.1\r\nhost: ${u.host}\r\n${lines}\r\n`);
  });
  return { get, close: () => socket.destroy() };
}

/**
 * The listing client's own floor: the same pages LabHub just answered, pre-rendered and served by a bare
 * node:http process that does nothing else, listed with the same client and warm-up. No hub can list faster
 * for this client, so JupyterHub's time divided by this is the highest ratio the end-to-end row can show.
 */
async function clientFloor(base, listAll) {
  const pages = {};
  for (let offset = 0; offset < 1200; offset += 200) {
    const r = await fetch(`${base}/hub/api/users?limit=200&offset=${offset}`, { headers: { authorization: `token ${TOKEN}`, accept: 'application/jupyterhub-pagination+json' } });
    pages[offset] = await r.text();
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-floor-'));
  writeFileSync(join(dir, 'pages.json'), JSON.stringify(pages));
  const port = await freePort();
  const server = spawn(process.execPath, ['-e', `
    const pages = JSON.parse(require('fs').readFileSync(${JSON.stringify(join(dir, 'pages.json'))}, 'utf8'));
    const bodies = Object.fromEntries(Object.entries(pages).map(([k, v]) => [k, Buffer.from(v)]));
    require('http').createServer((req, res) => {
      const body = bodies[new URL(req.url, 'http://x').searchParams.get('offset') ?? '0'] ?? bodies['0'];
      res.writeHead(200, { 'content-type': 'application/jupyterhub-pagination+json', 'content-length': body.length });
      res.end(body);
    }).listen(${port}, '127.0.0.1');`], { stdio: 'ignore' });
  const floorBase = `http://127.0.0.1:${port}`;
  try {
    await waitHttp(`${floorBase}/hub/api`);
    const minimal = await minimalClient(floorBase);
    const timed = async (get) => {
      for (let i = 0; i < 40; i++) await listAll(10, get);
      const times = [];
      for (let i = 0; i < 15; i++) times.push(await timeIt(async () => { await listAll(10, get); }));
      return median(times);
    };
    const undiciP50 = await timed((path, headers) => getJson(floorBase, path, headers));
    const minimalP50 = await timed(minimal.get);
    minimal.close();
    return { undiciP50, minimalP50 };
  } finally {
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(name, base, pid, { bigList }) {
  const names = (from, n) => Array.from({ length: n }, (_, i) => `user${String(from + i).padStart(5, '0')}`);
  const createMs = await timeIt(() => api(base, 'POST', '/users', { usernames: names(0, 1000) }));
  // all 1,000 users, as 5 pages of 200 (JupyterHub's maximum page) with the pagination header
  const listAll = async (max, get = (path, headers) => getJson(base, path, headers)) => {
    let url = '/users?limit=200&offset=0';
    let n = 0;
    let total = -1;
    for (let pages = 0; pages < max && url; pages++) {
      const page = await get(url, { accept: 'application/jupyterhub-pagination+json' });
      n += page.items.length;
      total = page._pagination.total;
      url = page._pagination.next ? `/users?limit=200&offset=${page._pagination.next.offset}` : null;
    }
    if (n !== total || n < 1000) throw new Error(`listing returned ${n} of ${total} users`);
    return n;
  };
  const list1k = [];
  // warm-up, not counted: the connection, caches and — for LabHub — V8's optimizing compiler, which needs a few
  // hundred requests before the listing code runs at its steady-state speed (measured: hub CPU per page falls
  // from ≈ 0.5 ms to ≈ 0.23 ms); a hub serves for months, so steady state is what users get. Same for both hubs.
  for (let i = 0; i < 40; i++) await listAll(10);
  for (let i = 0; i < 15; i++) list1k.push(await timeIt(async () => { await listAll(10); }));
  const minimal = await minimalClient(base);
  for (let i = 0; i < 40; i++) await listAll(10, minimal.get);
  const list1kMinimal = [];
  for (let i = 0; i < 15; i++) list1kMinimal.push(await timeIt(async () => { await listAll(10, minimal.get); }));
  // hub CPU per listing over 60 listings: /proc counts in 10 ms ticks, so fewer listings of LabHub's ≈ 1 ms
  // would measure the tick more than the hub
  const listCpuBefore = cpuMs(pid);
  for (let i = 0; i < 60; i++) await listAll(10, minimal.get);
  const list1kCpu = (cpuMs(pid) - listCpuBefore) / 60;
  minimal.close();
  // The same pages from wrk on one connection: the hub's own listing speed, without Node's HTTP client
  // (which spends ≈ 0.8 ms per 40 KB page here, more than LabHub takes to answer it).
  const pageWrk = wrk(`${base}/hub/api/users?limit=200&offset=400`, Math.max(2, Math.round(SECONDS / 2)), { threads: 1, connections: 1, headers: ['Accept: application/jupyterhub-pagination+json'] });
  const get = wrk(`${base}/hub/api/users/user00042`, SECONDS);
  const cpu = await cpuPerRequest(`${base}/hub/api/users/user00042`, pid);
  const result = { name, createMs, list1kP50: median(list1k), list1kMinimalP50: median(list1kMinimal), list1kCpu, pageP50: pageWrk.p50ms, getRps: get.rps, getP99: get.p99ms, getCpuUs: cpu.cpuMsPerReq * 1000, rss1k: rssMb(pid) };
  if (bigList) result.clientFloor = await clientFloor(base, listAll);
  if (bigList) {
    for (let b = 1; b < 10; b++) await api(base, 'POST', '/users', { usernames: names(b * 1000, 1000) });
    const pages = [];
    for (let i = 0; i < 5; i++) pages.push(await timeIt(async () => { await listAll(60); }));
    result.list10kPagedP50 = median(pages);
    result.rss10k = rssMb(pid);
  }
  return result;
}

async function runJupyterHub() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-jh-'));
  const [port, hubPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(join(dir, 'jupyterhub_config.py'), `
c.JupyterHub.ip = '127.0.0.1'
c.JupyterHub.port = ${port}
c.JupyterHub.hub_port = ${hubPort}
c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:${apiPort}'
c.JupyterHub.authenticator_class = 'dummy'
c.JupyterHub.spawner_class = 'simple'
c.JupyterHub.db_url = 'sqlite:///${dir}/jupyterhub.sqlite'
c.JupyterHub.cookie_secret_file = '${dir}/cookie_secret'
c.JupyterHub.pid_file = '${dir}/jupyterhub.pid'
c.JupyterHub.trust_user_provided_tokens = True
c.JupyterHub.services = [{'name': 'bench', 'api_token': '${TOKEN}'}]
c.JupyterHub.load_roles = [{'name': 'bench', 'scopes': ['admin:users', 'admin:servers', 'list:users'], 'services': ['bench']}]
c.JupyterHub.log_level = 'WARN'
c.Authenticator.allow_all = True
`);
  const child = spawn('/usr/bin/jupyterhub', ['-f', join(dir, 'jupyterhub_config.py')], { cwd: dir, env: { ...process.env, NODE_PATH: '/usr/share/nodejs' }, stdio: 'ignore' });
  const base = `http://127.0.0.1:${hubPort}`;
  try {
    await waitHttp(`${base}/hub/api`);
    // the hub's own python process (not the proxy child)
    const result = await measure('JupyterHub 3.0', base, child.pid, { bigList: false });
    // JupyterHub's proxy is a separate process (configurable-http-proxy, its child); LabHub's default
    // proxy runs inside the hub process, so the fair total for memory is hub + proxy
    const proxyPids = execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
    result.proxyRss = proxyPids.reduce((sum, p) => sum + rssMb(p), 0);
    return result;
  } finally {
    child.kill('SIGTERM');
    await sleep(1000);
    try { process.kill(child.pid, 'SIGKILL'); } catch {}
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runLabHub() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-lh-'));
  const [port, hubPort] = [await freePort(), await freePort()];
  // the `labhub` bin itself, as users run it: its #! line carries the hub's V8 flags (README → Memory)
  const child = spawn(join(REPO, 'dist/hub/main.js'), ['--port', String(port), '--hub-port', String(hubPort), '--data-dir', dir, '--log-level', 'warn'], { env: { ...process.env, LABHUB_ADMIN_PASSWORD: 'bench-password' }, stdio: 'ignore' });
  const base = `http://127.0.0.1:${hubPort}`;
  try {
    await waitHttp(`${base}/hub/api`);
    // an admin token with the same value JupyterHub gets, inserted the way `labhub token` does
    execFileSync(process.execPath, ['-e', `
      const { openDb } = await import(${JSON.stringify(join(REPO, 'dist/hub/db/db.js'))});
      const { TokenRepo } = await import(${JSON.stringify(join(REPO, 'dist/hub/db/tokens.js'))});
      const { UserRepo } = await import(${JSON.stringify(join(REPO, 'dist/hub/db/users.js'))});
      const db = openDb(${JSON.stringify(join(dir, 'labhub.sqlite'))});
      new TokenRepo(db).create({ kind: 'api', userId: new UserRepo(db).byName('admin').id, scopes: ['inherit'], now: new Date().toISOString(), value: ${JSON.stringify(TOKEN)} });
      db.close();`], { input: '', stdio: ['pipe', 'inherit', 'inherit'], env: { ...process.env }, });
    return await measure('LabHub', base, child.pid, { bigList: true });
  } finally {
    child.kill('SIGTERM');
    await sleep(500);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The runtime's own floor for the RSS row: the smallest Node server built from the hub's named dependencies
 * (express + better-sqlite3, with the hub's V8 flag), holding 10,000 users and answering the same wrk GET
 * load and a paginated listing, with nothing else — no auth, RBAC, proxy, sessions, pages or metrics.
 */
async function runtimeFloorRss() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-rss-floor-'));
  const port = await freePort();
  const script = `
    const express = require(${JSON.stringify(join(REPO, 'node_modules/express'))});
    const Database = require(${JSON.stringify(join(REPO, 'node_modules/better-sqlite3'))});
    const db = new Database(${JSON.stringify(join(dir, 'floor.sqlite'))});
    db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, admin INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL, last_activity TEXT)');
    const add = db.prepare('INSERT INTO users (name, created) VALUES (?, ?)');
    db.transaction(() => { for (let i = 0; i < 10000; i++) add.run('user' + String(i).padStart(5, '0'), new Date().toISOString()); })();
    const one = db.prepare('SELECT * FROM users WHERE name = ?');
    const page = db.prepare('SELECT * FROM users ORDER BY id LIMIT ? OFFSET ?');
    const app = express();
    app.get('/hub/api/users/:name', (req, res) => { const u = one.get(req.params.name); if (!u) return res.status(404).end(); res.json({ kind: 'user', ...u }); });
    app.get('/hub/api/users', (req, res) => res.json(page.all(200, Number(req.query.offset || 0))));
    app.get('/hub/api', (req, res) => res.json({ version: 'floor' }));
    app.listen(${port}, '127.0.0.1');`;
  const child = spawn(process.execPath, ['--max-semi-space-size=4', '-e', script], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitHttp(`${base}/hub/api`);
    for (let offset = 0; offset < 10000; offset += 200) await (await fetch(`${base}/hub/api/users?offset=${offset}`)).arrayBuffer();
    wrk(`${base}/hub/api/users/user00042`, SECONDS);
    return { afterLoad: rssMb(child.pid) };
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const jh = await runJupyterHub();
const lh = await runLabHub();
const floorRss = await runtimeFloorRss();
const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '—');
const rows = [
  ['GET /hub/api/users/{name}, 50 clients (req/s)', f(jh.getRps), f(lh.getRps), `${f(lh.getRps / jh.getRps, 1)}× faster`],
  ['  p99 latency (ms)', f(jh.getP99, 1), f(lh.getP99, 1), `${f(jh.getP99 / lh.getP99, 1)}× lower`],
  ['  hub CPU per request (µs, 4,000 requests, 50 connections)', f(jh.getCpuUs), f(lh.getCpuUs), `${f(jh.getCpuUs / lh.getCpuUs, 1)}× less`],
  ['POST /hub/api/users, 1,000 users (ms)', f(jh.createMs), f(lh.createMs), `${f(jh.createMs / lh.createMs, 1)}× faster`],
  ['GET /hub/api/users, all 1,000 users in pages of 200, p50 (ms): undici client', f(jh.list1kP50, 1), f(lh.list1kP50, 1), `${f(jh.list1kP50 / lh.list1kP50, 1)}× faster`],
  ['  the same, minimal keep-alive client (one socket, JSON.parse)', f(jh.list1kMinimalP50, 1), f(lh.list1kMinimalP50, 1), `${f(jh.list1kMinimalP50 / lh.list1kMinimalP50, 1)}× faster`],
  ['  one page of 200 users from wrk, 1 connection, p50 (ms)', f(jh.pageP50, 2), f(lh.pageP50, 2), `${f(jh.pageP50 / lh.pageP50, 1)}× faster`],
  ['  client floor, undici: the same pages pre-rendered, from a bare node:http server (ms)', '—', f(lh.clientFloor.undiciP50, 1), `${f(jh.list1kP50 / lh.clientFloor.undiciP50, 1)}× is the most any hub can show with undici`],
  ['  client floor, minimal client (ms)', '—', f(lh.clientFloor.minimalP50, 1), `${f(jh.list1kMinimalP50 / lh.clientFloor.minimalP50, 1)}× is the most any hub can show with it`],
  ['  hub CPU per listing of 1,000 users (ms, mean of 60)', f(jh.list1kCpu, 1), f(lh.list1kCpu, 2), `${f(jh.list1kCpu / lh.list1kCpu, 1)}× less`],
  ['GET /hub/api/users, 10,000 users in pages of 200, p50 (ms)', '—', f(lh.list10kPagedP50), ''],
  ['hub RSS (MB): JupyterHub at 1,000 users, LabHub at 10,000', f(jh.rss1k), f(lh.rss10k), `${f(lh.rss10k / jh.rss1k, 2)}× of JupyterHub's`],
  ['hub RSS (MB) at 1,000 users', f(jh.rss1k), f(lh.rss1k), ''],
  ['  the runtime floor: a bare express + better-sqlite3 server with 10,000 users after the same GET load (MB)', '—', f(floorRss.afterLoad), `${f(floorRss.afterLoad / jh.rss1k, 2)}× of JupyterHub's`],
  ['hub + proxy RSS (MB): JupyterHub + CHP at 1,000 users, LabHub (in-process proxy) at 10,000', f(jh.rss1k + jh.proxyRss), f(lh.rss10k), `${f(lh.rss10k / (jh.rss1k + jh.proxyRss), 2)}× of JupyterHub's`],
];
console.log(`\nbench/api — ${new Date().toISOString()} — wrk -t2 -c50 -d${SECONDS}s, hub ports directly (no proxy)\n`);
console.log('| measure | JupyterHub 3.0 | LabHub | ratio |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
await Promise.all([...pools.values()].map((p) => p.destroy()));
