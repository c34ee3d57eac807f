/**
 * The one composition root: createHub(deps) builds the Express app from injected dependencies;
 * startHub(config) wires real ones (database, secrets, proxy, spawners) and listens.
 */
import express, { type Express } from 'express';
import session from 'express-session';
import helmet from 'helmet';
import { Subdomains } from './subdomains.js';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { TerminalManager } from './terminals.js';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { ProxyClient } from '../proxy/client.js';
import { createSpawner, loadSpawnerKinds } from '../spawners/registry.js';
import { checkOrphans } from './orphans.js';
import { AccessService } from './access.js';
import { AuthStateStore } from './auth-state.js';
import { Crypter } from './crypto.js';
import { ensureFirstAdmin } from './auth/bootstrap.js';
import { AuthService } from './auth/service.js';
import { systemClock, isoNow, type Clock } from './clock.js';
import { openDb, type Db } from './db/db.js';
import { GroupRepo } from './db/groups.js';
import { OAuthRepo } from './db/oauth.js';
import { RoleRepo } from './db/roles.js';
import { ServiceRepo } from './db/services.js';
import { ShareRepo } from './db/shares.js';
import { PortRepo } from './db/ports.js';
import { RouteAuth } from './route-auth.js';
import { HubMetrics } from './metrics.js';
import { resolveSpawn } from './profiles.js';
import { applyRbacConfig } from './rbac-sync.js';
import { ServiceManager } from './services.js';
import { ServerRepo } from './db/servers.js';
import { SqliteSessionStore } from './db/session-store.js';
import { TokenRepo } from './db/tokens.js';
import { UserRepo } from './db/users.js';
import type { HubDeps } from './deps.js';
import { resolveIdentity } from './http/auth.js';
import { Csrf } from './http/csrf.js';
import { createLogger, type Logger } from './log.js';
import { startProxyFor, type RunningProxy } from './proxy-launcher.js';
import { registerApiRoutes, registerRoutes } from './routes/index.js';
import { ApiRouter } from './http/api-router.js';
import { createApiCaller, type SessionMiddleware } from './http/api-auth.js';
import { createDispatcher } from './http/dispatch.js';
import { hubCookies } from './http/hub-cookies.js';
import { resolveSecrets, type HubSecrets } from './secrets.js';
import { ServerManager, type SpawnerBuilder } from './servers.js';
import { startSchedules } from './schedule-wiring.js';
import { JUPYTERHUB_API_VERSION } from './version.js';
import { randomBytes } from 'node:crypto';
import { AuditLog, auditingLogger } from './audit.js';
import { Culler } from './culler.js';
import { jitter } from './concurrency.js';
import { Quotas } from './quotas.js';
import { UserModels } from './user-models.js';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface CreateHubInput {
  config: Config;
  secrets: HubSecrets;
  db: Db;
  log: Logger;
  clock?: Clock;
  proxy: ProxyClient;
  buildSpawner?: SpawnerBuilder;
  hubApiUrl?: string;
  /** OAuth client secrets of login methods, by method name (env LABHUB_<NAME>_CLIENT_SECRET). */
  clientSecrets?: Record<string, string>;
  /** Tokens of externally managed services (from their apiTokenEnv variables). */
  serviceTokens?: Record<string, string>;
}

export interface Hub {
  /** The hub's request listener: the REST API router, else the Express app. */
  app: RequestListener;
  /** The Express part (pages, OAuth, static files). */
  pages: Express;
  /** WebSocket upgrades the hub serves itself (web terminals). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  terminals: TerminalManager;
  deps: HubDeps;
  sessionStore: SqliteSessionStore;
  /** Where the proxy reaches the hub, once it listens (port 0 in tests). */
  setHubTarget(url: string): void;
  /** The REST API's routes (method, path pattern, scope). */
  apiRoutes: ReadonlyArray<{ method: string; path: string; scope?: string }>;
}

export function hubId(db: Db): string {
  db.exec("CREATE TABLE IF NOT EXISTS hub_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  const row = db.prepare("SELECT value FROM hub_meta WHERE key = 'hub_id'").get() as { value: string } | undefined;
  if (row) return row.value;
  const id = randomBytes(6).toString('hex');
  db.prepare("INSERT INTO hub_meta (key, value) VALUES ('hub_id', ?)").run(id);
  return id;
}

export function createHub(input: CreateHubInput): Hub {
  const { config, secrets, db } = input;
  const clock = input.clock ?? systemClock;
  // every `event:` log line is also an audit log entry (hub/audit.ts)
  const audit = new AuditLog(db, clock);
  const log = auditingLogger(input.log, (e) => audit.fromEvent(e), (err) => input.log.error({ err: String(err) }, 'audit log write failed'));
  const users = new UserRepo(db);
  const servers = new ServerRepo(db);
  const tokens = new TokenRepo(db);
  const oauth = new OAuthRepo(db);
  const groups = new GroupRepo(db);
  const roles = new RoleRepo(db);
  const services = new ServiceRepo(db);
  const shares = new ShareRepo(db);
  const access = new AccessService({ users, tokens, servers, roles, services, shares }, clock);
  tokens.onRevoke = () => access.invalidate();
  const hubApiUrl = input.hubApiUrl ?? `${config.hubConnectUrl ?? `http://${config.hubIp}:${config.hubPort}`}/hub/api`;
  const id = hubId(db);
  const metrics = new HubMetrics();
  const buildSpawner: SpawnerBuilder =
    input.buildSpawner ?? ((identity, state, spawnerConfig) => createSpawner({ dataDir: config.dataDir, log: log.child({ component: 'spawner' }), hubId: id }, spawnerConfig ?? config.spawner, identity, state));
  const subdomains = config.subdomainHost ? new Subdomains(config.subdomainHost) : undefined;
  const serviceManager = new ServiceManager({ config, services, tokens, oauth, clock, log, hubApiUrl, subdomains, serviceTokens: input.serviceTokens ?? {} });
  // services first: roles may be assigned to them
  serviceManager.applyConfig();
  applyRbacConfig(config, { roles, groups, users, services }, isoNow(clock));
  const serverManager = new ServerManager({ config, clock, log, subdomains, proxy: input.proxy, users, servers, tokens, oauth, buildSpawner, resolveSpawn: (u, opts) => resolveSpawn(config, users.groupNames(u.id), opts), hubApiUrl, metrics, extraRoutes: () => [...serviceManager.routes(), ...deps.routeAuth.portRoutes()], routeAuth: () => deps.routeAuth.routeData(), preSpawn: (u) => deps.auth.refreshAuthState(u.id), checkQuota: (u, s, r) => quotas.check(u, s, r) });
  const quotas = new Quotas({ config, users, servers, active: () => serverManager.activeServers() });
  const cookies = hubCookies(config.cookieHostPrefix);
  const csrf = new Csrf(secrets.cookieSecret, config.secureCookies, { name: cookies.xsrf, path: cookies.hubPath });
  const authState = new AuthStateStore(db, new Crypter(secrets.cryptKeys));
  const auth = new AuthService({ config: config.auth, db, users, authState, clock, log, csrf, secureCookies: config.secureCookies, sessionIdCookie: cookies.sessionId, clientSecrets: input.clientSecrets });
  let hubTarget = `http://${config.hubIp}:${config.hubPort}`;
  const deps: HubDeps = {
    config, hubId: id, secrets, db, log, clock, cookies, proxy: input.proxy, users, servers, tokens, oauth, access, serverManager, csrf, authState, auth,
    groups, roles, services, shares, serviceManager, metrics, audit,
    userModels: new UserModels({ db, access, authState, serverManager, clock }),
    ports: new PortRepo(db),
    subdomains,
    routeAuth: undefined as unknown as RouteAuth,
    culler: undefined as unknown as Culler,
    hubTarget: () => hubTarget,
    shutdown: async () => {
      throw new Error('shutdown is only available in a started hub');
    },
  };
  deps.routeAuth = new RouteAuth(deps);


  deps.culler = new Culler(deps);

  const app = express();
  app.disable('x-powered-by');
  // API answers are small and never revalidated: hashing every body for an ETag is wasted CPU
  app.set('etag', false);
  app.set('trust proxy', 'loopback');
  app.set('views', join(HERE, 'views'));
  app.set('view engine', 'ejs');
  // one short, unambiguous time format on every page
  app.locals.fmtTime = (iso: string | null | undefined) => (iso ? `${iso.slice(0, 16).replace('T', ' ')} UTC` : '—');
  // Pages get the full set of security headers (CSP etc.); JSON answers of the API paths Express
  // still serves (OAuth token, unknown-path 404s) only need nosniff and no framing.
  // form-action also governs the redirects after a form post: logging in on the way to a shared
  // port on its own subdomain ends on that host
  const formAction = ["'self'", ...(subdomains ? [subdomains.wildcardSource()] : [])];
  const pageHeaders = helmet({
    contentSecurityPolicy: { directives: { 'frame-ancestors': ["'none'"], 'script-src': ["'self'"], 'connect-src': ["'self'"], 'form-action': formAction } },
    crossOriginEmbedderPolicy: false,
    hsts: config.secureCookies,
  });
  app.use((req, res, next) => {
    if (!req.path.startsWith('/hub/api/') || req.path.startsWith('/hub/api/oauth2/')) return pageHeaders(req, res, next);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    next();
  });
  const sessionStore = new SqliteSessionStore(db, clock, config.cookieMaxAgeDays * 86400_000);
  const sessionMiddleware = session({
      name: cookies.login,
      secret: secrets.cookieSecret,
      store: sessionStore,
      resave: false,
      saveUninitialized: false,
      rolling: false,
      cookie: { path: cookies.hubPath, httpOnly: true, sameSite: 'lax', secure: config.secureCookies, maxAge: config.cookieMaxAgeDays * 86400_000 },
    });
  // Token-authenticated calls never use the session or CSRF cookies: skip both on the API hot path.
  const tokenAuth = (req: express.Request) => req.headers.authorization !== undefined && req.path.startsWith('/hub/api');
  app.use((req, res, next) => (tokenAuth(req) ? next() : sessionMiddleware(req, res, next)));
  app.use(resolveIdentity(access, users));
  const issueCsrf = csrf.issue();
  // The nonce cookie lives at /hub/: only pages there get one. A request outside it (the browser's
  // /favicon.ico) never carries the cookie and must not overwrite it, nor may static files.
  const needsCsrf = (req: express.Request) => !tokenAuth(req) && req.path.startsWith('/hub/') && !req.path.startsWith('/hub/static/');
  app.use((req, res, next) => (needsCsrf(req) ? issueCsrf(req, res, next) : next()));
  const api = new ApiRouter();
  registerApiRoutes(api, deps);
  registerRoutes(app, deps, join(HERE, 'static'));
  const listener = createDispatcher({
    api,
    caller: createApiCaller({ access, users, csrf, log, session: sessionMiddleware as unknown as SessionMiddleware }),
    pages: app,
    metrics,
    // any write may change who can do what: drop cached token identities when it completes
    afterWrite: () => access.invalidate(),
  });
  const terminals = new TerminalManager(deps);
  const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node hands an upgraded socket over without an 'error' listener; a client resetting it while the
    // session is looked up would otherwise be an uncaught exception
    socket.on('error', () => socket.destroy());
    if (!TerminalManager.matches(req.url)) {
      socket.write('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return void socket.destroy();
    }
    // the login session decides who is asking; express-session only reads here (no response yet)
    sessionMiddleware(req as express.Request, { getHeader: () => undefined, setHeader: () => undefined, on: () => undefined, end: () => undefined } as unknown as express.Response, () => {
      const r = req as express.Request;
      const s = r.session;
      const user = s?.userId ? users.byId(s.userId) : undefined;
      const identity = user && user.cookie_id === s?.cookieId ? access.forUser(user, s?.hubSessionId) : undefined;
      terminals.handleUpgrade(req, socket, head, identity).catch(() => socket.destroy());
    });
  };
  return { app: listener, pages: app, deps, sessionStore, setHubTarget: (url) => (hubTarget = url), handleUpgrade, terminals, apiRoutes: api.routes() };
}

export interface RunningHub {
  hub: Hub;
  server: Server;
  proxy: RunningProxy;
  hubUrl: string;
  publicUrl: string;
  /** Stops listening (in-flight requests finish) and the proxy; servers keep running unless `servers` or operations.stopServersOnShutdown. */
  close(opts?: { servers?: boolean }): Promise<void>;
}

/** Creates everything real for a configuration and starts listening. */
export async function startHub(loaded: LoadedConfig, opts: { log?: Logger; announce?: (line: string) => void; onShutdown?: () => void } = {}): Promise<RunningHub> {
  const startedAt = Date.now();
  // Absolute data dir: servers and their state (log files, homes) must not depend on the hub's cwd.
  const config: Config = Object.freeze({ ...loaded.config, dataDir: resolvePath(loaded.config.dataDir) });
  const log = opts.log ?? createLogger(config.logLevel);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const secrets = resolveSecrets(config, loaded.secrets);
  // every spawner kind the configuration can reach: top level, profiles, and profile choices
  const kinds = [config.spawner.kind];
  for (const p of config.profiles) {
    if (typeof p.spawner.kind === 'string') kinds.push(p.spawner.kind as typeof config.spawner.kind);
    for (const o of Object.values(p.options)) for (const c of Object.values(o.choices)) if (typeof c.spawner.kind === 'string') kinds.push(c.spawner.kind as typeof config.spawner.kind);
  }
  await loadSpawnerKinds(kinds);
  const db = openDb(config.db ?? join(config.dataDir, 'labhub.sqlite'));
  const clock = systemClock;
  await ensureFirstAdmin(new UserRepo(db), { password: loaded.secrets.adminPassword, now: isoNow(clock), announce: opts.announce ?? ((l) => process.stdout.write(`${l}\n`)) });
  for (const name of config.adminUsers) {
    const users = new UserRepo(db);
    const u = users.byName(name) ?? users.create(name, { admin: true, now: isoNow(clock) });
    if (!u.admin) users.setAdmin(u.id, true);
  }

  const hubTarget = `http://${config.hubIp}:${config.hubPort}`;
  const proxy = await startProxyFor(config, secrets.proxyAuthToken, hubTarget, log.child({ component: 'proxy' }));
  const proxyClient = new ProxyClient({ apiUrl: proxy.apiUrl, authToken: secrets.proxyAuthToken });
  let hub: Hub;
  let server: Server;
  try {
    hub = createHub({ config, secrets, db, log, clock, proxy: proxyClient, clientSecrets: loaded.secrets.clientSecrets, serviceTokens: loaded.secrets.serviceTokens });
    server = createServer(hub.app);
    const h = hub;
    server.on('upgrade', (req, socket, head) => h.handleUpgrade(req, socket, head));
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(config.hubPort, config.hubIp, () => res());
    });
  } catch (err) {
    await proxy.close();
    db.close();
    throw err;
  }
  const addr = server.address();
  const hubUrl = `http://${config.hubIp}:${typeof addr === 'object' && addr ? addr.port : config.hubPort}`;
  hub.setHubTarget(hubUrl);
  await proxyClient.addRoute('/', { hub: true, target: hubUrl, jupyterhub: true });
  hub.deps.serviceManager.startManaged();
  await hub.deps.serverManager.restore();
  await hub.deps.serverManager.checkRoutes(hubUrl).catch((err) => log.warn({ err: String(err) }, 'initial route check failed'));
  hub.deps.serverManager.startPolling();
  const schedules = startSchedules(hub.deps, config.schedules);
  hub.deps.schedules = schedules;
  hub.deps.culler.start();
  const ops = config.operations;
  // reconciliation: the database is the truth; the proxy's table is a cache re-synced on a jittered timer
  let routeTimer: NodeJS.Timeout | undefined;
  let stopping = false;
  const routeLoop = () => {
    routeTimer = setTimeout(() => {
      hub.deps.serverManager
        .checkRoutes(hubUrl)
        .catch((err) => log.warn({ err: String(err) }, 'route check failed'))
        .finally(() => !stopping && routeLoop());
      // housekeeping; a failure here (the database busy past its timeout) waits for the next round
      // instead of escaping the timer, where it would end the hub
      try {
        hub.sessionStore.purgeExpired();
        hub.deps.tokens.purgeExpired(isoNow(clock));
        if (ops.auditRetentionDays > 0) hub.deps.audit.purgeBefore(new Date(clock.now() - ops.auditRetentionDays * 86400_000).toISOString());
      } catch (err) {
        log.warn({ err: String(err) }, 'housekeeping failed; trying again next round');
      }
    }, config.proxy.routeCheckIntervalSeconds * 1000 * jitter());
    routeTimer.unref();
  };
  routeLoop();
  // leftovers on the engines are reported, never removed on our own: an admin decides (hub/orphans.ts)
  let orphanTimer: NodeJS.Timeout | undefined;
  const orphanLoop = () =>
    void checkOrphans(hub.deps).finally(() => {
      if (ops.orphanCheckMinutes <= 0 || stopping) return;
      orphanTimer = setTimeout(orphanLoop, ops.orphanCheckMinutes * 60_000);
      orphanTimer.unref();
    });
  orphanLoop();
  // proxy health (JupyterHub polls every 5 s): a dead subprocess proxy is restarted by the launcher,
  // a hung one is replaced, and whenever the proxy comes back its routes are restored at once
  const restoreRoutes = (why: string) => {
    const t0 = Date.now();
    hub.deps.serverManager.checkRoutes(hubUrl).then(
      (r) => log.warn({ ...r, ms: Date.now() - t0, why }, 'proxy routes restored'),
      (err) => log.error({ err: String(err), why }, 'restoring proxy routes failed'),
    );
  };
  proxy.onRestart?.(() => restoreRoutes('proxy restarted'));
  let proxyFailures = 0;
  let pinging = false;
  // a hung proxy accepts connections but never answers: the ping gives up within one interval
  const pingClient = new ProxyClient({ apiUrl: proxy.apiUrl, authToken: secrets.proxyAuthToken, timeoutMs: Math.min(5000, ops.proxyCheckIntervalSeconds * 1000) });
  const proxyTimer = setInterval(() => {
    if (pinging) return;
    pinging = true;
    pingClient.reconfigure({ apiUrl: proxyClient.apiUrl });
    pingClient
      .getAllRoutes(new Date(0))
      .then(
        () => {
          if (proxyFailures > 0) restoreRoutes('proxy reachable again');
          proxyFailures = 0;
        },
        (err) => {
          proxyFailures++;
          log.warn({ err: String(err), failures: proxyFailures }, 'proxy not answering');
          if (proxyFailures % 3 === 0 && proxy.restart) {
            log.error({ event: 'proxy-hung', by: 'system' }, 'proxy not answering; replacing it');
            void proxy.restart().catch(() => undefined);
          }
        },
      )
      .finally(() => (pinging = false));
  }, ops.proxyCheckIntervalSeconds * 1000);
  proxyTimer.unref();
  log.info({ hub: hubUrl, public: proxy.publicUrl }, 'LabHub is running');
  hub.deps.metrics.startupDuration.set((Date.now() - startedAt) / 1000);
  let closed: Promise<void> | undefined;
  const close = (opts: { servers?: boolean } = {}) =>
    (closed ??= (async () => {
      stopping = true;
      clearTimeout(routeTimer);
      clearInterval(proxyTimer);
      clearTimeout(orphanTimer);
      schedules.dispose();
      hub.deps.culler.dispose();
      hub.terminals.dispose();
      // stop accepting; requests in flight may finish within the grace period
      const drained = new Promise<void>((res) => server.close(() => res()));
      // keep-alive connections go as soon as their request is answered
      const idle = setInterval(() => server.closeIdleConnections(), 100);
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), ops.shutdownGraceSeconds * 1000);
      if (opts.servers ?? ops.stopServersOnShutdown) await hub.deps.serverManager.stopAll();
      await drained;
      clearTimeout(grace);
      clearInterval(idle);
      await hub.deps.serverManager.dispose();
      await hub.deps.serviceManager.stopManaged();
      await proxy.close();
      db.close();
    })());
  hub.deps.shutdown = async ({ servers }) => {
    // answer the request first, then go (JupyterHub replies 202 and exits shortly after)
    setTimeout(() => void close({ servers }).then(() => opts.onShutdown?.()), 100).unref();
  };
  return { hub, server, proxy, hubUrl, publicUrl: proxy.publicUrl, close: (o) => close(o) };
}
