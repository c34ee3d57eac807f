#!/usr/bin/env node
// Stand-in single-user server for EC2 spawner tests: honours the JupyterHub env contract like
// test/fakes/fake-singleuser.mjs, and reads/writes files in its HOME under {prefix}home/<name>
// so tests can check that a VM's files survive stop/start or terminate with a home volume.
import { createServer } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const url = new URL(process.env.JUPYTERHUB_SERVICE_URL ?? 'http://127.0.0.1:0/');
const prefix = process.env.JUPYTERHUB_SERVICE_PREFIX ?? '/';
const home = process.env.HOME ?? process.cwd();
const server = createServer((req, res) => {
  if (!req.url.startsWith(prefix)) return void res.writeHead(404).end('not under prefix');
  const rest = req.url.slice(prefix.length);
  if (rest === 'api') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ version: 'fake' }));
  const m = /^home\/([\w.-]+)$/.exec(rest);
  if (m && req.method === 'PUT') {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      writeFileSync(join(home, m[1]), body);
      res.writeHead(201).end();
    });
    return;
  }
  if (m) {
    try {
      return void res.writeHead(200).end(readFileSync(join(home, m[1])));
    } catch {
      return void res.writeHead(404).end();
    }
  }
  res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ user: process.env.JUPYTERHUB_USER, home, cwd: process.cwd(), url: url.href, token: process.env.JUPYTERHUB_API_TOKEN ? 'set' : 'unset' }));
});
server.listen(Number(url.port), url.hostname, () => console.log(`home-server listening on ${url.host}${prefix}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
