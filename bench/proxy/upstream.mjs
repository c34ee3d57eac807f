// Benchmark upstream: 100-byte keep-alive HTTP responses and a websocket echo, on 127.0.0.1:<port>.
// Prints "listening <port>" once ready.
import http from 'node:http';
import { WebSocketServer } from 'ws';

const body = Buffer.alloc(100, 'x');
const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
  res.end(body);
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
