// Bare TCP relay (no HTTP at all): the floor for any proxy process on the websocket path.
// `node tcp-relay.mjs <listenPort> <upstreamPort>`
import net from 'node:net';

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
const server = net.createServer((client) => {
  const upstream = net.connect(upstreamPort, '127.0.0.1');
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
});
server.listen(listenPort, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
