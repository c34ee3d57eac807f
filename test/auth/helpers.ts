/**
 * In-process hub for the auth tests: the real createHub() app with a real SQLite file, listening on
 * 127.0.0.1:0 so browsers, identity providers and redirects all use real HTTP. No proxy is needed
 * for login flows (the ProxyClient points at a closed port). Logs are captured so tests can check
 * that secrets never reach them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { ConfigSchema, type Config } from '../../config/schema.js';
import { createHub, type Hub } from '../../hub/app.js';
import { ensureFirstAdmin } from '../../hub/auth/bootstrap.js';
import { openDb } from '../../hub/db/db.js';
import { createLogger } from '../../hub/log.js';
import { isoNow, type Clock } from '../../hub/clock.js';
import { ProxyClient } from '../../proxy/client.js';
import type { SpawnerBuilder } from '../../hub/servers.js';
import { startTestOp, type TestOp } from './fixtures/oidc-op.js';

export interface AuthTestHub {
  hub: Hub;
  url: string;
  dataDir: string;
  dbFile: string;
  logs: () => string;
  /** An API token for `user` (created if needed), with the user's own scopes. */
  tokenFor(user: string, opts?: { admin?: boolean }): string;
  close(): Promise<void>;
}

export async function startAuthHub(overrides: Record<string, unknown>, opts: { clientSecrets?: Record<string, string>; clock?: Clock; adminPassword?: string; buildSpawner?: SpawnerBuilder; proxy?: ProxyClient } = {}): Promise<AuthTestHub> {
  const dataDir = mkdtempSync(join(tmpdir(), 'labhub-auth-'));
  const config: Config = ConfigSchema.parse({ dataDir, logLevel: 'debug', ...overrides });
  const dbFile = join(dataDir, 'labhub.sqlite');
  const db = openDb(dbFile);
  let logText = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logText += chunk.toString();
      cb();
    },
  });
  const log = createLogger('debug', sink);
  if (opts.adminPassword) await ensureFirstAdmin(new (await import('../../hub/db/users.js')).UserRepo(db), { password: opts.adminPassword, now: new Date().toISOString(), announce: () => undefined });
  const secrets = { cookieSecret: randomBytes(32).toString('hex'), cryptKeys: [randomBytes(32)], proxyAuthToken: randomBytes(16).toString('hex') };
  const hub = createHub({ config, secrets, db, log, clock: opts.clock, proxy: opts.proxy ?? new ProxyClient({ apiUrl: 'http://127.0.0.1:9', authToken: secrets.proxyAuthToken }), clientSecrets: opts.clientSecrets, buildSpawner: opts.buildSpawner });
  const server: Server = createServer(hub.app);
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const port = (server.address() as { port: number }).port;
  return {
    hub,
    url: `http://127.0.0.1:${port}`,
    dataDir,
    dbFile,
    logs: () => logText,
    tokenFor(user, o = {}) {
      const d = hub.deps;
      const row = d.users.byName(user) ?? d.users.create(user, { admin: o.admin, now: isoNow(d.clock) });
      if (o.admin && !row.admin) d.users.setAdmin(row.id, true);
      return d.tokens.create({ kind: 'api', userId: row.id, scopes: ['inherit'], now: isoNow(d.clock) }).token;
    },
    async close() {
      await new Promise<void>((res) => {
        server.close(() => res());
        server.closeAllConnections();
      });
      await hub.deps.serverManager.dispose();
      db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The hidden _xsrf value of a form page. */
/**
 * A real OpenID provider (oidc-provider) on loopback and an in-process hub whose `auth` config is built
 * from the provider's issuer; the provider knows the hub as client 'labhub' with `secret`, redirecting
 * to its OIDC callback and, after logout, to its login page.
 */
export async function startOidcHub(
  auth: (issuer: string) => Record<string, unknown>,
  o: { secret: string; accessTokenTtl: number; buildSpawner?: SpawnerBuilder },
): Promise<{ op: TestOp; h: AuthTestHub }> {
  const op = await startTestOp();
  const h = await startAuthHub({ auth: auth(op.issuer) }, { clientSecrets: { oidc: o.secret }, buildSpawner: o.buildSpawner });
  op.configure({ clientId: 'labhub', clientSecret: o.secret, redirectUri: `${h.url}/hub/oauth/oidc/callback`, postLogoutRedirectUri: `${h.url}/hub/login`, accessTokenTtl: o.accessTokenTtl });
  return { op, h };
}

export function xsrfOf(html: string): string {
  const m = /name="_xsrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error(`no _xsrf in page:\n${html.slice(0, 500)}`);
  return m[1];
}

export function form(fields: Record<string, string>): RequestInit {
  return { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() };
}
