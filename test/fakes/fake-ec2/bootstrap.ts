/**
 * Stand-in for the hub's single-use bootstrap endpoint (GET /hub/api/bootstrap/:code → {env} once,
 * then 404), for spawner-level tests that run without a hub.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export class BootstrapServer {
  private server!: Server;
  private readonly codes = new Map<string, Record<string, string>>();
  readonly fetched: string[] = [];
  base = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const code = /^\/hub\/api\/bootstrap\/([\w-]+)$/.exec(req.url ?? '')?.[1] ?? '';
      const env = this.codes.get(code);
      this.codes.delete(code);
      if (!env) return void res.writeHead(404).end('{"status":404}');
      this.fetched.push(code);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ env }));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  url(env: Record<string, string>): string {
    const code = randomBytes(12).toString('base64url');
    this.codes.set(code, env);
    return `${this.base}/hub/api/bootstrap/${code}`;
  }

  async close(): Promise<void> {
    await new Promise((r) => this.server?.close(r));
    this.server?.closeAllConnections();
  }
}
