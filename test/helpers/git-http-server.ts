/**
 * A tiny smart-HTTP git server for tests: `git http-backend` (CGI) behind node's http server, with
 * HTTP Basic auth. Serves bare repositories under `root`; counts authenticated and rejected requests.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface GitHttpServer {
  url: string;
  root: string;
  stats: { ok: number; rejected: number };
  close(): Promise<void>;
}

/** Creates bare repo `name` under root with one commit holding `files`. */
export function makeRepo(root: string, name: string, files: Record<string, string>): void {
  const bare = join(root, name);
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  execFileSync('git', ['-C', bare, 'config', 'http.receivepack', 'true']);
  const work = mkdtempSync(join(tmpdir(), 'labhub-git-work-'));
  execFileSync('git', ['init', '-q', '-b', 'main', work]);
  for (const [f, content] of Object.entries(files)) {
    mkdirSync(join(work, f, '..'), { recursive: true });
    writeFileSync(join(work, f), content);
  }
  const g = (...a: string[]) => execFileSync('git', ['-C', work, '-c', 'user.name=t', '-c', 'user.email=t@example', ...a]);
  g('add', '.');
  g('commit', '-q', '-m', 'initial');
  g('push', '-q', bare, 'main');
}

export async function startGitHttpServer(o: { host: string; root: string; username: string; password: string }): Promise<GitHttpServer> {
  const stats = { ok: 0, rejected: 0 };
  const expected = `Basic ${Buffer.from(`${o.username}:${o.password}`).toString('base64')}`;
  const server: Server = createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      stats.rejected++;
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="labhub-test-git"' }).end('auth required\n');
      return;
    }
    stats.ok++;
    const url = new URL(req.url ?? '/', 'http://x');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: o.root,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: o.username,
        REMOTE_ADDR: req.socket.remoteAddress ?? '',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
      },
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const i = line.indexOf(':');
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === 'status') status = parseInt(v, 10);
        else res.setHeader(k, v);
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
    });
    cgi.on('close', () => res.end());
    cgi.on('error', () => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${o.host}:${port}`,
    root: o.root,
    stats,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
