// Minimal forwarders used only to compare upstream HTTP clients in isolation (the README's
// "why undici" numbers): `node bare-forwarders.mjs <http|undici> <listenPort> <upstreamPort>`.
import http from 'node:http';
import { Pool } from 'undici';

const [kind, listenPort, upstreamPort] = process.argv.slice(2);
const origin = `http://127.0.0.1:${upstreamPort}`;
let handler;
if (kind === 'http') {
  const agent = new http.Agent({ keepAlive: true });
  handler = (req, res) => {
    const up = http.request({ host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method, headers: req.headers, agent }, (ures) => {
      res.writeHead(ures.statusCode, ures.headers);
      ures.pipe(res);
    });
    up.on('error', () => { res.statusCode = 503; res.end(); });
    req.pipe(up);
  };
} else {
  const pool = new Pool(origin, { connections: null, pipelining: 1 });
  handler = (req, res) => {
    pool.dispatch(
      { path: req.url, method: req.method, headers: { host: req.headers.host } },
      {
        onConnect() {},
        onHeaders(status, raw) {
          const h = [];
          for (let i = 0; i < raw.length; i += 2) {
            const k = raw[i].toString('latin1');
            const kl = k.toLowerCase();
            if (kl !== 'connection' && kl !== 'keep-alive' && kl !== 'transfer-encoding') h.push(k, raw[i + 1].toString('latin1'));
          }
          res.writeHead(status, h);
          return true;
        },
        onData(chunk) { return res.write(chunk); },
        onComplete() { res.end(); },
        onError() { res.statusCode = 503; res.end(); },
      },
    );
  };
}
const server = http.createServer({ keepAlive: true, keepAliveTimeout: 5000 }, handler);
server.listen(Number(listenPort), '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
