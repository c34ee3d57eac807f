import net from 'node:net';
import { readFileSync } from 'node:fs';
const pid = Number(process.argv[2]);
const cpuMs = () => { const st=readFileSync(`/proc/${pid}/stat`, 'utf8'); const f = st.slice(st.lastIndexOf(')') + 2).split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
const req = 'GET /hub/api/users?limit=200&offset=400 HTTP/1.1\r\nHost: 127.0.0.1:18202\r\nAuthorization: token bench0123456789abcdef0123456789ab\r\nAccept: application/jupyterhub-pagination+json\r\n\r\n';
const s = net.connect(18202, '127.0.0.1'); await new Promise(r => s.once('connect', r)); s.setNoDelay(true);
let buf = Buffer.alloc(0), want = -1, done;
s.on('data', (b) => { buf = Buffer.concat([buf, b]); if (want < 0) { const i = buf.indexOf('\r\n\r\n'); if (i >= 0) { want = i + 4 + Number(/content-length: (\d+)/i.exec(buf.subarray(0, i).toString())[1]); } } if (want >= 0 && buf.length >= want) { buf = Buffer.alloc(0); want = -1; done(); } });
const one = () => new Promise(r => { done = r; s.write(req); });
for (let i = 0; i < 100; i++) await one();
const N = Number(process.argv[3] ?? 2000); const c0 = cpuMs(); const t0 = performance.now();
const gapMs = Number(process.argv[4] ?? 0);
for (let i = 0; i < N; i++) { await one(); if (gapMs) await new Promise(r => setTimeout(r, gapMs)); }
console.log('gap', gapMs, 'hub cpu ms/req', ((cpuMs() - c0) / N).toFixed(3), 'wall ms/req', ((performance.now() - t0) / N).toFixed(3));
s.destroy();
