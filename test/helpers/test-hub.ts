/**
 * An in-process hub for API tests: real SQLite (temp file), LabHub's real in-process proxy, and the
 * local spawner running the tiny fake single-user server (real processes, fast). Requests go through
 * supertest against the Express app (no listening hub socket needed).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import supertest from 'supertest';
import { ConfigSchema, type Config } from '../../config/schema.js';
import { createHub, type Hub } from '../../hub/app.js';
import { openDb } from '../../hub/db/db.js';
import { createLogger } from '../../hub/log.js';
import { isoNow, type Clock } from '../../hub/clock.js';
import { ProxyClient } from '../../proxy/client.js';
import { startProxy } from '../../proxy/proxy.js';
import { silentLogger } from '../../proxy/log.js';

export const FAKE_SINGLEUSER = resolve(import.meta.dirname, '..', 'fakes', 'fake-singleuser.mjs');

/** Whether a response body came from the fake single-user server's extra app (FAKE_EXTRA_APP_PORT). */
export function isExtraApp(body: string): boolean {
  try {
    return (JSON.parse(body) as { app?: string }).app === 'extra';
  } catch {
    return false;
  }
}
const WHOAMI_SERVICE = resolve(import.meta.dirname, '..', 'fakes', 'whoami-oauth.py');

/**
 * Config lines for JupyterHub's own HubOAuth client code (test/fakes/whoami-oauth.py) as a
 * hub-managed service listening on `port`, and the user role that lets users reach services.
 */
export function whoamiServiceYaml(port: number): string[] {
  return [
    'services:',
    '  - name: whoami',
    `    url: http://127.0.0.1:${port}`,
    `    command: [/usr/bin/python3, ${WHOAMI_SERVICE}]`,
    '    oauthNoConfirm: true',
    'roles:',
    '  - name: user',
    '    scopes: [self, access:services]',
  ];
}

export interface TestHub {
  hub: Hub;
  api: supertest.Agent;
  dataDir: string;
  proxyApiUrl: string;
  proxyPublicUrl: string;
  proxyToken: string;
  /** Creates a user (if needed) and a token for it with the given scopes (default: inherit). */
  tokenFor(user: string, opts?: { admin?: boolean; scopes?: string[] }): string;
  close(): Promise<void>;
}

export async function startTestHub(overrides: Record<string, unknown> = {}, opts: { clock?: Clock; serviceTokens?: Record<string, string> } = {}): Promise<TestHub> {
  const dataDir = mkdtempSync(join(tmpdir(), 'labhub-api-'));
  const config: Config = ConfigSchema.parse({
    dataDir,
    logLevel: 'silent',
    slowSpawnTimeoutSeconds: 5,
    spawner: { kind: 'local', cmd: [process.execPath, FAKE_SINGLEUSER], stopGraceSeconds: 2 },
    ...overrides,
  });
  const proxyToken = randomBytes(16).toString('hex');
  const proxy = await startProxy({ authToken: proxyToken, port: 0, apiPort: 0, log: silentLogger });
  const db = openDb(join(dataDir, 'labhub.sqlite'));
  const secrets = { cookieSecret: randomBytes(32).toString('hex'), cryptKeys: [randomBytes(32)], proxyAuthToken: proxyToken };
  const hub = createHub({ config, secrets, db, log: createLogger('silent'), clock: opts.clock, proxy: new ProxyClient({ apiUrl: proxy.apiUrl, authToken: proxyToken }), serviceTokens: opts.serviceTokens });
  const api = supertest.agent(hub.app);
  return {
    hub,
    api,
    dataDir,
    proxyApiUrl: proxy.apiUrl,
    proxyPublicUrl: proxy.publicUrl,
    proxyToken,
    tokenFor(user, o = {}) {
      const d = hub.deps;
      const row = d.users.byName(user) ?? d.users.create(user, { admin: o.admin, now: isoNow(d.clock) });
      if (o.admin && !row.admin) d.users.setAdmin(row.id, true);
      return d.tokens.create({ kind: 'api', userId: row.id, scopes: o.scopes ?? ['inherit'], now: isoNow(d.clock) }).token;
    },
    async close() {
      await hub.deps.serverManager.stopAll();
      await hub.deps.serverManager.dispose();
      await hub.deps.serviceManager.stopManaged();
      await proxy.close();
      db.close();
    },
  };
}
