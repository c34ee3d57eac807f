// Correctness check through a relay: N ws connections to <url>, each sends `per` messages with
// (conn, seq, random length 1..maxLen, deterministic content), keeps `window` in flight, and verifies
// every echo arrives complete, unmodified and in order. Prints totals + a checksum.
//   node ws-check.mjs <url> [total=100000] [window=16] [conns=8] [maxLen=4096]
import crypto from 'node:crypto';
import { WebSocket } from 'ws';
const [url, total = 100000, window = 16, conns = 8, maxLen = 4096] = [process.argv[2], ...process.argv.slice(3).map(Number)];
const per = Math.ceil(total / conns);
let bad = 0, ok = 0, bytes = 0;
const hashes = Array.from({ length: conns }, () => crypto.createHash('sha256'));
function msgFor(c, seq) {
  // deterministic pseudo-random length and content
  let x = (c * 1000003 + seq * 7919) >>> 0;
  const len = 16 + (x % maxLen);
  const b = Buffer.alloc(len);
  b.writeUInt32LE(c, 0); b.writeUInt32LE(seq, 4); b.writeUInt32LE(len, 8);
  for (let i = 12; i < len; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}
const timer = setTimeout(() => { console.log(`TIMEOUT ok=${ok} bad=${bad}`); process.exit(2); }, 120_000);
const t0 = Date.now();
await Promise.all(Array.from({ length: conns }, (_, c) => new Promise((resolve, reject) => {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  let sent = 0, recv = 0;
  ws.on('open', () => { for (; sent < Math.min(window, per); sent++) ws.send(msgFor(c, sent)); });
  ws.on('message', (m) => {
    const exp = msgFor(c, recv);
    if (!exp.equals(m)) { if (bad++ < 5) console.log(`MISMATCH conn ${c} seq ${recv}: got seq ${m.readUInt32LE?.(4)} len ${m.length} expected len ${exp.length}`); }
    else { ok++; bytes += m.length; hashes[c].update(m); }
    recv++;
    if (recv >= per) { ws.close(); resolve(); }
    else if (sent < per) ws.send(msgFor(c, sent++));
  });
  ws.on('error', reject);
})));
clearTimeout(timer);
console.log(`${ok} ok, ${bad} bad, ${bytes} bytes echoed in ${(Date.now() - t0)} ms, sha256 over per-connection sha256s ${crypto.createHash('sha256').update(hashes.map((h) => h.digest('hex')).join()).digest('hex').slice(0, 16)}`);
process.exit(bad ? 1 : 0);
