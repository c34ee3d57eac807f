#!/usr/bin/env node
// A tiny stand-in for jupyterhub-singleuser used where the real one would only slow tests down
// (spawner contract, API suites, soak bench). It honours the same environment contract: listens on
// JUPYTERHUB_SERVICE_URL, serves under JUPYTERHUB_SERVICE_PREFIX, answers {prefix}api with JSON.
// FAKE_SINGLEUSER_EXIT=1 makes it exit at once with a message (for failure-path tests).
// FAKE_EXTRA_APP_PORT=n also serves a small app on that port (HTTP + WebSocket echo), like a
// Dash/Streamlit demo a user starts inside their workspace (shared-ports tests).
import { createServer } from 'node:http';

if (process.env.FAKE_SINGLEUSER_EXIT) {
  console.error('fake-singleuser: asked to fail at startup');
  process.exit(3);
}
// FAKE_SINGLEUSER_DELAY=N waits N seconds before listening (a slow start, for hub-crash-during-spawn
// tests); FAKE_SINGLEUSER_DELAY_USERS=a,b limits that to those users.
const delayUsers = (process.env.FAKE_SINGLEUSER_DELAY_USERS ?? '').split(',').filter(Boolean);
if (process.env.FAKE_SINGLEUSER_DELAY && (!delayUsers.length || delayUsers.includes(process.env.JUPYTERHUB_USER ?? ''))) {
  await new Promise((r) => setTimeout(r, Number(process.env.FAKE_SINGLEUSER_DELAY) * 1000));
}
const url = new URL(process.env.JUPYTERHUB_SERVICE_URL ?? 'http://127.0.0.1:0/');
const prefix = process.env.JUPYTERHUB_SERVICE_PREFIX ?? '/';
const server = createServer((req, res) => {
  if (!req.url.startsWith(prefix)) {
    res.writeHead(404).end('not under prefix');
    return;
  }
  const rest = req.url.slice(prefix.length);
  res.setHeader('X-JupyterHub-Version', '5.4.0');
  if (rest === 'api' || rest.startsWith('api?')) {
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ version: 'fake', user: process.env.JUPYTERHUB_USER }));
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ path: req.url, user: process.env.JUPYTERHUB_USER, server: process.env.JUPYTERHUB_SERVER_NAME, home: process.env.HOME, cwd: process.cwd() }));
});
server.listen(Number(url.port), url.hostname, () => console.log(`fake-singleuser listening on ${url.host}${prefix}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));

if (process.env.FAKE_EXTRA_APP_PORT) {
  const { WebSocketServer } = await import('ws');
  const app = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ app: 'extra', path: req.url, cookie: req.headers.cookie ?? null, owner: process.env.JUPYTERHUB_USER }));
  });
  const wss = new WebSocketServer({ server: app });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${m}`)));
  app.listen(Number(process.env.FAKE_EXTRA_APP_PORT), '127.0.0.1');
}
