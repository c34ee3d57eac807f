import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
const REPO = '/work/main', TOKEN = 'bench0123456789abcdef0123456789ab';
const dir = mkdtempSync(join(tmpdir(), 'lc-'));
const child = spawn(join(REPO, 'dist/hub/main.js'), ['--port', '18200', '--hub-port', '18202', '--data-dir', dir, '--log-level', 'warn'], { env: { ...process.env, LABHUB_ADMIN_PASSWORD: 'bench-password' }, stdio: 'ignore' });
const base = 'http://127.0.0.1:18202';
for (let i = 0; i < 100; i++) { try { await fetch(base + '/hub/api'); break; } catch { await sleep(200); } }
execFileSync(process.execPath, ['-e', `
  const { openDb } = await import('${REPO}/dist/hub/db/db.js');
  const { TokenRepo } = await import('${REPO}/dist/hub/db/tokens.js');
  const { UserRepo } = await import('${REPO}/dist/hub/db/users.js');
  const db = openDb('${dir}/labhub.sqlite');
  new TokenRepo(db).create({ kind: 'api', userId: new UserRepo(db).byName('admin').id, scopes: ['inherit'], now: new Date().toISOString(), value: '${TOKEN}' });
  db.close();`], { input: '' });
await fetch(base + '/hub/api/users', { method: 'POST', headers: { authorization: `token ${TOKEN}` }, body: JSON.stringify({ usernames: Array.from({ length: 1000 }, (_, i) => `user${String(i).padStart(5, '0')}`) }) });
const H = { authorization: `token ${TOKEN}`, accept: 'application/jupyterhub-pagination+json' };
const pool = new Pool(base, { connections: 1 });
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const clients = {
  undici: async (path) => { const r = await pool.request({ path, method: 'GET', headers: H }); return JSON.parse(await r.body.text()); },
  nodehttp: (path) => new Promise((res, rej) => { http.get(base + path, { agent, headers: H }, (r) => { const c = []; r.on('data', (b) => c.push(b)); r.on('end', () => res(JSON.parse(Buffer.concat(c).toString()))); }).on('error', rej); }),
};
const listAll = async (get) => { let url = '/hub/api/users?limit=200'; let n = 0; let pages = 0; while (url) { const p = await get(url); pages++; n += p.items.length; url = p._pagination.next ? `/hub/api/users?limit=200&offset=${p._pagination.next.offset}` : null; } return [n, pages]; };
for (let round = 0; round < 3; round++) for (const [name, get] of Object.entries(clients)) {
  await listAll(get); const ts = [];
  for (let i = 0; i < 30; i++) { const t = performance.now(); await listAll(get); ts.push(performance.now() - t); }
  ts.sort((a, b) => a - b); console.log(name, 'p50', ts[15].toFixed(2), 'ms', await listAll(get));
}

import { readFileSync } from 'node:fs';
const cpuMs = (pid) => { const st=readFileSync(`/proc/${pid}/stat`, 'utf8'); const f = st.slice(st.lastIndexOf(')') + 2).split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
const c0 = cpuMs(child.pid); const selfc0 = process.cpuUsage();
{ const ts=[]; for (let i=0;i<200;i++){ const t0=performance.now(); let tf=0; await new Promise((res)=>{ http.get(base+'/hub/api/users?limit=200&offset=400',{agent,headers:H},(r)=>{ r.once('data',()=>{tf=performance.now();}); const c=[]; r.on('data',b=>c.push(b)); r.on('end',()=>{ ts.push([tf-t0, performance.now()-t0, c.length]); res(); }); }); }); }
  ts.sort((a,b)=>a[1]-b[1]); console.log('hub cpu ms/req', (cpuMs(child.pid)-c0)/200, 'client cpu ms/req', (process.cpuUsage(selfc0).user+process.cpuUsage(selfc0).system)/1000/200); console.log('first byte / last byte / chunks p50', ts[100].map(x=>typeof x==='number'?x.toFixed(3):x)); }
const txt = await (await fetch(base + '/hub/api/users?limit=200', { headers: H })).text();
let t = performance.now(); for (let i = 0; i < 200; i++) JSON.parse(txt); console.log('JSON.parse 1 page', ((performance.now() - t) / 200).toFixed(3), 'ms', txt.length, 'bytes');
await pool.close(); agent.destroy(); console.log("PID", child.pid); child.unref();
