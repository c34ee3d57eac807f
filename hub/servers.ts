/**
 * ServerManager: the spawn/stop lifecycle (JupyterHub user.py). It owns the server's API token,
 * its OAuth client, timeouts, readiness and proxy routes; spawners only start and stop things.
 * The database is the truth; the proxy and in-memory spawner objects are caches rebuilt on restart.
 */
import { VersionedMap } from './versioned-map.js';
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { AppRoute } from '../config/profiles-schema.js';
import type { ProxyClient } from '../proxy/client.js';
import type { ResourceLimits, Spawner, SpawnerState } from '../spawners/spawner.js';
import type { Clock } from './clock.js';
import { isoNow } from './clock.js';
import type { OAuthRepo } from './db/oauth.js';
import type { ServerRepo, ServerRow } from './db/servers.js';
import type { TokenRepo } from './db/tokens.js';
import type { UserRepo, UserRow } from './db/users.js';
import { accessScopesFor, buildSingleUserEnv, clientIdFor, serverPrefix } from './env.js';
import type { Subdomains } from './subdomains.js';
import type { ServerView } from './models.js';
import { HubError, SpawnError } from './errors.js';
import type { Logger } from './log.js';
import { ProgressLog } from './progress.js';
import { waitForHttpServer } from './wait-up.js';
import type { HubMetrics } from './metrics.js';
import { SpawnFailure } from '../spawners/spawn-failure.js';
import { mapLimit } from './concurrency.js';
import { currentActor } from './request-context.js';

export type SpawnerBuilder = (identity: { user: string; serverName: string }, state?: SpawnerState, spawnerConfig?: Config['spawner']) => Spawner;

/** What a spawn needs from the profile choice (see profiles.ts); identity when no profiles exist. */
export type SpawnResolver = (user: UserRow, userOptions: Record<string, unknown>) => { spawner: Config['spawner']; app?: AppRoute; limits?: ResourceLimits; userOptions: Record<string, unknown> };

export interface ServerManagerDeps {
  config: Config;
  clock: Clock;
  log: Logger;
  proxy: ProxyClient;
  users: UserRepo;
  servers: ServerRepo;
  tokens: TokenRepo;
  oauth: OAuthRepo;
  buildSpawner: SpawnerBuilder;
  resolveSpawn?: SpawnResolver;
  /** Internal hub API URL handed to servers, e.g. http://127.0.0.1:8081/hub/api */
  hubApiUrl: string;
  /** set with `subdomainHost`: servers are routed and reached on their user's host */
  subdomains?: Subdomains;
  metrics?: HubMetrics;
  /** labhub_auth route data for hub-authenticated apps (the proxy's auth check endpoint). */
  routeAuth?: () => Record<string, unknown>;
  /** Other routes the hub owns (services), kept by checkRoutes. */
  extraRoutes?: () => Array<{ path: string; target: string; data: Record<string, unknown> }>;
  /** Runs before every spawn, e.g. refreshing the user's identity-provider tokens (auth.refreshAuthState); a throw fails the spawn. */
  preSpawn?: (user: UserRow) => Promise<unknown>;
  /** Quotas (hub/quotas.ts): throws a HubError (403/429) when this spawn would exceed one. */
  checkQuota?: (user: UserRow, serverName: string, resolved: ReturnType<SpawnResolver>) => void;
}

interface Pending {
  kind: 'spawn' | 'stop';
  progress: ProgressLog;
  done: Promise<void>;
  abort: AbortController;
}

export type ServerStatus = 'running' | 'spawn' | 'stop' | 'stopped';

const key = (user: string, server: string) => `${user}/${server}`;

/** The role `server` scopes, resolved for this server (JupyterHub: users:activity!user, access:servers!server). */
export const SERVER_TOKEN_SCOPES = ['users:activity!user', 'access:servers!server'];

export class ServerManager {
  /** Bumped on every change to `pending` or `running` (what status() answers from). */
  private statusChanges = 0;
  private readonly pending = new VersionedMap<string, Pending>(() => this.statusChanges++);
  private readonly running = new VersionedMap<string, Spawner>(() => this.statusChanges++);
  /** Last failure per server, kept for the progress stream and the spawn-pending page. */
  private readonly failures = new Map<string, { message: string; status: number; headers?: Record<string, string>; progress: ProgressLog }>();
  private pollTimer: NodeJS.Timeout | null = null;
  /** Address reports from servers that pick their own port on a remote node (Slurm, EC2). */
  /** One-time bootstrap codes → env, for spawners that must not put the token in launch data. */
  private readonly bootstrapCodes = new Map<string, { env: Record<string, string>; expires: number }>();
  private readonly addressWaiters = new Map<string, (addr: { host: string; port: number }) => void>();
  private disposed = false;

  constructor(private readonly d: ServerManagerDeps) {}

  /** Changes whenever any server's status may have changed (for cached user models). */
  get statusVersion(): number {
    return this.statusChanges;
  }

  status(user: string, serverName: string): ServerStatus {
    const p = this.pending.get(key(user, serverName));
    if (p) return p.kind;
    return this.running.has(key(user, serverName)) ? 'running' : 'stopped';
  }

  pendingOf(user: string, serverName: string): Pending | undefined {
    return this.pending.get(key(user, serverName));
  }

  failureOf(user: string, serverName: string): { message: string; status: number; headers?: Record<string, string>; progress: ProgressLog } | undefined {
    return this.failures.get(key(user, serverName));
  }

  /** Servers running or starting (for quotas and the culler). */
  activeServers(): Array<{ user: string; server: string; status: 'running' | 'spawn' }> {
    const out: Array<{ user: string; server: string; status: 'running' | 'spawn' }> = [];
    const split = (k: string) => {
      const i = k.indexOf('/');
      return { user: k.slice(0, i), server: k.slice(i + 1) };
    };
    for (const k of this.running.keys()) if (this.pending.get(k)?.kind !== 'stop') out.push({ ...split(k), status: 'running' });
    for (const [k, p] of this.pending) if (p.kind === 'spawn' && !this.running.has(k)) out.push({ ...split(k), status: 'spawn' });
    return out;
  }

  /** The live spawner of a running server (web terminal, shared ports). */
  runningSpawner(user: string, serverName: string): Spawner | undefined {
    return this.status(user, serverName) === 'running' ? this.running.get(key(user, serverName)) : undefined;
  }

  /** Running servers by spawner kind (profiles may use several kinds): the `spawner` label of jupyterhub_running_servers. */
  runningByKind(): Map<string, number> {
    const out = new Map<string, number>();
    for (const s of this.running.values()) out.set(s.kind, (out.get(s.kind) ?? 0) + 1);
    return out;
  }

  runningCount(): number {
    return this.running.size;
  }

  pendingCount(): number {
    let n = 0;
    for (const p of this.pending.values()) if (p.kind === 'spawn') n++;
    return n;
  }

  /**
   * Starts a server. Resolves with pending=false when it became ready within slowSpawnTimeout,
   * pending=true when it is still starting (HTTP 202).
   */
  async spawn(user: UserRow, serverName: string, userOptions: Record<string, unknown>, opts: { waitMs?: number; by?: string } = {}): Promise<{ pending: boolean }> {
    const k = key(user.name, serverName);
    const status = this.status(user.name, serverName);
    if (status === 'running') throw new HubError(400, `${user.name}'s server${serverName ? ` ${serverName}` : ''} is already running`);
    if (status === 'spawn') throw new HubError(400, `${user.name}'s server${serverName ? ` ${serverName}` : ''} is already pending spawn`);
    if (status === 'stop') throw new HubError(400, `${user.name}'s server${serverName ? ` ${serverName}` : ''} is pending stop`);
    if (this.d.subdomains && !this.d.subdomains.userHost(user.name)) throw new HubError(400, `The user name ${user.name} cannot have a subdomain: 'services' is the services' host, and a DNS label holds 63 characters once escaped`);
    const { concurrentSpawnLimit, activeServerLimit } = this.d.config;
    if (concurrentSpawnLimit > 0 && this.pendingCount() >= concurrentSpawnLimit) {
      this.d.metrics?.spawnThrottled.inc();
      this.d.metrics?.spawnDuration.observe({ status: 'throttled', spawner: this.d.config.spawner.kind }, 0);
      const retry = 30 + Math.floor(Math.random() * 30);
      throw new HubError(429, `Too many users trying to log in right now. Try again in ${retry} seconds.`, { headers: { 'Retry-After': String(retry) } });
    }
    if (activeServerLimit > 0 && this.running.size + this.pendingCount() >= activeServerLimit) {
      this.d.metrics?.spawnThrottled.inc();
      this.d.metrics?.spawnDuration.observe({ status: 'too-many-users', spawner: this.d.config.spawner.kind }, 0);
      throw new HubError(429, 'Active user limit exceeded. Try again in a few minutes.', { headers: { 'Retry-After': '60' } });
    }
    const resolved = this.resolve(user, userOptions);
    this.d.checkQuota?.(user, serverName, resolved);
    this.failures.delete(k);
    const progress = new ProgressLog();
    progress.push({ progress: 0, message: 'Server requested' });
    const abort = new AbortController();
    this.d.log.info({ user: user.name, server: serverName, by: opts.by ?? currentActor() ?? 'system', profile: resolved.userOptions.profile, event: 'server-start' }, 'server start requested');
    const done = this.runSpawn(user, serverName, resolved, progress, abort.signal).finally(() => this.pending.delete(k));
    this.pending.set(k, { kind: 'spawn', progress, done, abort });
    return this.waitBriefly(done, opts.waitMs);
  }

  private async waitBriefly(done: Promise<void>, waitMs = this.d.config.slowSpawnTimeoutSeconds * 1000): Promise<{ pending: boolean }> {
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<'slow'>((resolve) => (timer = setTimeout(() => resolve('slow'), waitMs)));
    try {
      const r = await Promise.race([done.then(() => 'done' as const), slow]);
      return { pending: r === 'slow' };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Profile choice → spawner options, limits and normalized user_options (400 on a bad choice). */
  private resolve(user: UserRow, userOptions: Record<string, unknown>): ReturnType<SpawnResolver> {
    return this.d.resolveSpawn ? this.d.resolveSpawn(user, userOptions) : { spawner: this.d.config.spawner, userOptions };
  }

  /** The spawner options a running server was started with (re-resolved from its saved choice). */
  private spawnerConfigFor(user: UserRow, row: ServerRow): Config['spawner'] {
    try {
      return this.resolve(user, JSON.parse(row.user_options) as Record<string, unknown>).spawner;
    } catch {
      return this.d.config.spawner;
    }
  }

  private async runSpawn(user: UserRow, serverName: string, resolved: ReturnType<SpawnResolver>, progress: ProgressLog, signal: AbortSignal): Promise<void> {
    const userOptions = resolved.userOptions;
    const { config, clock, log } = this.d;
    const k = key(user.name, serverName);
    const row = this.d.servers.ensure(user.id, serverName, resolved.spawner.kind);
    this.d.servers.setUserOptions(row.id, userOptions);
    const prefix = serverPrefix(user.name, serverName);
    const route = this.routePath(user.name, serverName);
    const publicUrl = this.publicUrl(user.name, serverName);
    let spawner: Spawner | null = null;
    const started = clock.now();
    try {
      if (this.d.preSpawn) await this.d.preSpawn(user);
      this.d.tokens.deleteForServer(row.id);
      const { token } = this.d.tokens.create({ kind: 'server', userId: user.id, serverId: row.id, scopes: SERVER_TOKEN_SCOPES, note: `Server at ${prefix}`, now: isoNow(clock) });
      const clientId = clientIdFor(user.name, serverName);
      this.d.oauth.upsertClient({ identifier: clientId, secret: token, redirectUri: `${publicUrl}oauth_callback`, description: `Server at ${prefix}`, allowedScopes: accessScopesFor(user.name, serverName), now: isoNow(clock) });
      const env = buildSingleUserEnv({ user: user.name, serverName, apiToken: token, hubApiUrl: this.d.hubApiUrl, ...(this.d.subdomains ? { publicUrl, publicHost: this.d.subdomains.hubOrigin } : {}) });
      spawner = this.d.buildSpawner({ user: user.name, serverName }, undefined, resolved.spawner);
      const startAbort = AbortSignal.any([signal, AbortSignal.timeout(config.startTimeoutSeconds * 1000)]);
      const startPromise = spawner.start({
        user: user.name,
        serverName,
        env,
        servicePrefix: prefix,
        userOptions,
        limits: resolved.limits,
        groups: this.d.users.groupNames(user.id),
        signal: startAbort,
        onProgress: (e) => progress.push({ ...e, progress: Math.min(95, Math.max(1, e.progress)) }),
        waitForAddressReport: (sig) => this.waitForAddress(k, sig),
        bootstrapUrl: () => this.createBootstrap(env, startAbort),
        // a spawner that reports its state before start() returns makes a hub crash mid-start recoverable
        onState: (state) => this.d.servers.setState(row.id, state),
      });
      const { url } = await raceAbort(startPromise, startAbort, () =>
        signal.aborted ? new SpawnError('Spawn cancelled', 'cancelled', { status: 400 }) : new SpawnError(`Spawner failed to start within ${config.startTimeoutSeconds} seconds`, 'timeout'),
      );
      // Persist as soon as something exists, so a hub crash from here on can still find and clean it up.
      this.d.servers.setState(row.id, spawner.getState());
      progress.push({ progress: 70, message: 'Waiting for the server to answer' });
      const readiness = `${url}${prefix}api`;
      try {
        const sp = spawner;
        await waitForHttpServer(readiness, config.httpTimeoutSeconds * 1000, signal, async () => (await sp.poll().catch(() => ({ status: 'running' as const }))).status === 'stopped');
      } catch (err) {
        if (signal.aborted) throw new SpawnError('Spawn cancelled', 'cancelled', { status: 400 });
        const poll = await spawner.poll().catch(() => ({ status: 'stopped' as const, exitCode: null }));
        const logs = spawner.recentLogs?.() ?? [];
        const why = poll.status === 'stopped' ? 'the server process exited' : (err as Error).message;
        throw new SpawnError(`Server at ${prefix} failed to start: ${why}${logs.length ? `. Last output: ${logs.slice(-3).join(' | ')}` : ''}`, poll.status === 'stopped' ? 'exited' : 'http-timeout');
      }
      progress.push({ progress: 90, message: 'Adding route to proxy' });
      this.appRoutes.set(k, resolved.app);
      await this.routeLocked(k, () => this.d.proxy.addRoute(route, this.routeData(user.name, serverName, url)));
      this.d.servers.markStarted(row.id, url, spawner.getState(), isoNow(clock));
      this.running.set(k, spawner);
      progress.push({ progress: 100, ready: true, message: `Server ready at ${publicUrl}`, html_message: `Server ready at <a href="${publicUrl}">${publicUrl}</a>`, url: publicUrl });
      log.info({ user: user.name, server: serverName, url, ms: clock.now() - started }, 'server ready');
      this.d.metrics?.spawnDuration.observe({ status: 'success', spawner: resolved.spawner.kind }, (clock.now() - started) / 1000);
    } catch (err) {
      const error = toSpawnError(err);
      log.warn({ user: user.name, server: serverName, reason: error instanceof SpawnError ? error.reason : 'error', err: error.logMessage ?? error.message }, 'spawn failed');
      if (spawner) await spawner.stop({ now: true }).catch((e) => log.error({ err: e }, 'cleanup after failed spawn'));
      await this.routeLocked(k, () => this.d.proxy.deleteRoute(route)).catch(() => undefined);
      this.d.tokens.deleteForServer(row.id);
      this.d.servers.markStopped(row.id);
      progress.push({ progress: 100, failed: true, message: `Spawn failed: ${error.message}` });
      this.d.metrics?.spawnDuration.observe({ status: 'failure', spawner: resolved.spawner.kind }, (clock.now() - started) / 1000);
      this.failures.set(k, { message: error.message, status: error.status, headers: error.headers, progress });
    }
  }

  private waitForAddress(k: string, signal: AbortSignal): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const waiter = (addr: { host: string; port: number }) => {
        signal.removeEventListener('abort', onAbort);
        if (this.addressWaiters.get(k) === waiter) this.addressWaiters.delete(k);
        resolve(addr);
      };
      // only remove our own waiter: an older spawn's timeout must not drop a newer spawn's
      const onAbort = () => {
        if (this.addressWaiters.get(k) === waiter) this.addressWaiters.delete(k);
        reject(signal.reason ?? new Error('aborted'));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.addressWaiters.set(k, waiter);
    });
  }

  private createBootstrap(env: Record<string, string>, signal: AbortSignal): string {
    const code = randomBytes(24).toString('base64url');
    this.bootstrapCodes.set(code, { env, expires: this.d.clock.now() + this.d.config.startTimeoutSeconds * 1000 });
    signal.addEventListener('abort', () => this.bootstrapCodes.delete(code), { once: true });
    const base = this.d.hubApiUrl;
    return `${base}/bootstrap/${code}`;
  }

  /** Returns the env for a bootstrap code once; unknown, used or expired codes give undefined. */
  takeBootstrap(code: string): Record<string, string> | undefined {
    const entry = this.bootstrapCodes.get(code);
    this.bootstrapCodes.delete(code);
    if (!entry || entry.expires < this.d.clock.now()) return undefined;
    return entry.env;
  }

  /** A server told us where it listens. False when nobody is waiting (not pending spawn). */
  reportAddress(user: string, serverName: string, addr: { host: string; port: number }): boolean {
    const waiter = this.addressWaiters.get(key(user, serverName));
    if (!waiter) return false;
    waiter(addr);
    return true;
  }

  /** Cancels a pending spawn (spawn-pending page "cancel"). */
  cancel(user: string, serverName: string): boolean {
    const p = this.pending.get(key(user, serverName));
    if (!p || p.kind !== 'spawn') return false;
    p.abort.abort();
    return true;
  }

  /** Stops a server. Resolves pending=true when the stop takes longer than slowSpawnTimeout. */
  async stop(user: UserRow, serverName: string, opts: { by?: string; reason?: string } = {}): Promise<{ pending: boolean }> {
    const k = key(user.name, serverName);
    const existing = this.pending.get(k);
    if (existing?.kind === 'stop') return this.waitBriefly(existing.done);
    if (existing?.kind === 'spawn') {
      existing.abort.abort();
      await existing.done;
    }
    const spawner = this.running.get(k);
    const row = this.d.servers.get(user.id, serverName);
    if (!spawner && !row?.started) return { pending: false };
    this.d.log.info({ user: user.name, server: serverName, by: opts.by ?? currentActor() ?? 'system', reason: opts.reason, event: 'server-stop' }, 'server stop requested');
    const progress = new ProgressLog();
    const done = this.runStop(user, serverName, row, spawner).finally(() => this.pending.delete(k));
    this.pending.set(k, { kind: 'stop', progress, done, abort: new AbortController() });
    return this.waitBriefly(done);
  }

  private async runStop(user: UserRow, serverName: string, row: ServerRow | undefined, spawner: Spawner | undefined): Promise<void> {
    const route = this.routePath(user.name, serverName);
    const s = spawner ?? (row ? this.d.buildSpawner({ user: user.name, serverName }, JSON.parse(row.state), this.spawnerConfigFor(user, row)) : undefined);
    await this.routeLocked(key(user.name, serverName), () => this.d.proxy.deleteRoute(route)).catch((err) => this.d.log.warn({ err: String(err) }, 'route delete failed; reconciliation will retry'));
    try {
      await s?.stop();
    } finally {
      this.running.delete(key(user.name, serverName));
      this.appRoutes.delete(key(user.name, serverName));
      if (row) {
        this.d.tokens.deleteForServer(row.id);
        this.d.servers.markStopped(row.id);
      }
      this.d.oauth.deleteClient(clientIdFor(user.name, serverName));
      this.d.log.info({ user: user.name, server: serverName }, 'server stopped');
    }
  }

  /**
   * After a (re)start of the hub: re-attach to servers that still run, re-register their routes,
   * mark dead ones stopped, and clean up spawns a crash interrupted.
   */
  async restore(): Promise<{ resumed: number; stopped: number }> {
    let resumed = 0;
    let stopped = 0;
    // a crash between token creation and the spawner's first state leaves a token of a server that
    // never ran (done first: spawns requested while the restore runs keep their tokens)
    const orphanTokens = this.d.tokens.deleteServerTokensOfStopped();
    const limit = this.d.config.operations.reconcileConcurrency;
    await mapLimit(this.d.servers.active(), limit, async (row) => {
      const user = this.d.users.byId(row.user_id);
      if (!user) return;
      let spawner: Spawner;
      try {
        spawner = this.d.buildSpawner({ user: user.name, serverName: row.name }, JSON.parse(row.state), this.spawnerConfigFor(user, row));
      } catch (err) {
        this.d.log.error({ user: user.name, server: row.name, err: String(err) }, 'cannot rebuild spawner; server left as is');
        return;
      }
      const route = this.routePath(user.name, row.name);
      const poll = await spawner.poll().catch(() => ({ status: 'stopped' as const }));
      if (row.started && row.url && poll.status === 'running') {
        this.running.set(key(user.name, row.name), spawner);
        await this.routeLocked(key(user.name, row.name), () => this.d.proxy.addRoute(route, this.routeData(user.name, row.name, row.url!))).catch((err) => this.d.log.warn({ err: String(err) }, 'route add failed; reconciliation will retry'));
        resumed++;
      } else {
        // dead, or a spawn interrupted before it was ready: make sure nothing is left behind
        await spawner.stop({ now: true }).catch(() => undefined);
        await this.d.proxy.deleteRoute(route).catch(() => undefined);
        this.d.tokens.deleteForServer(row.id);
        this.d.servers.markStopped(row.id);
        this.d.log.info({ user: user.name, server: row.name, by: 'system', reason: row.started ? 'not running after hub restart' : 'spawn interrupted by hub restart', event: 'server-cleaned-up' }, 'server cleaned up after restart');
        stopped++;
      }
    });
    this.d.log.info({ resumed, stopped, orphanTokens }, 'servers restored');
    return { resumed, stopped };
  }

  /** Polls running servers; ones that died are marked stopped and unrouted. */
  async pollAll(): Promise<void> {
    const entries = [...this.running].filter(([k]) => !this.pending.has(k));
    await mapLimit(entries, this.d.config.operations.reconcileConcurrency, async ([k, spawner]) => {
      const started = Date.now();
      const result = await spawner.poll().catch(() => ({ status: 'running' as const }));
      this.d.metrics?.pollDuration.observe({ status: result.status }, (Date.now() - started) / 1000);
      if (result.status === 'running' || this.pending.has(k) || this.running.get(k) !== spawner) return;
      const [userName, ...rest] = k.split('/');
      const serverName = rest.join('/');
      const user = this.d.users.byName(userName);
      this.running.delete(k);
      this.d.log.warn({ user: userName, server: serverName, by: 'system', reason: 'reason' in result ? result.reason : undefined, event: 'server-died' }, 'server stopped unexpectedly');
      if (!user) return;
      const row = this.d.servers.get(user.id, serverName);
      await this.routeLocked(k, () => this.d.proxy.deleteRoute(this.routePath(userName, serverName))).catch(() => undefined);
      if (row) {
        this.d.tokens.deleteForServer(row.id);
        this.d.servers.markStopped(row.id);
      }
    });
  }

  /**
   * Makes sure a running server's route is in the proxy now (a request for /user/x/ reached the
   * hub while the server runs: the proxy lost the route, e.g. it restarted). True when re-added.
   */
  async ensureRoute(userName: string, serverName: string): Promise<boolean> {
    const k = key(userName, serverName);
    if (!this.running.has(k)) return false;
    const user = this.d.users.byName(userName);
    const row = user ? this.d.servers.get(user.id, serverName) : undefined;
    if (!row?.url) return false;
    const route = this.routePath(userName, serverName);
    const url = row.url;
    const added = await this.routeLocked(k, async () => {
      if (this.status(userName, serverName) !== 'running') return false;
      const current = await this.d.proxy.getRoute(route).catch(() => null);
      if (current?.target === url) return false;
      await this.d.proxy.addRoute(route, this.routeData(userName, serverName, url));
      return true;
    });
    if (!added) return false;
    this.d.log.warn({ user: userName, server: serverName }, 'route was missing from the proxy; re-added');
    return true;
  }

  /** What a server model is built from. */
  viewOf(userName: string, row: ServerRow): ServerView {
    const view: ServerView = { row, status: this.status(userName, row.name) };
    if (this.d.subdomains) {
      view.publicUrl = this.publicUrl(userName, row.name);
      view.hubOrigin = this.d.subdomains.hubOrigin;
    }
    return view;
  }

  /** The proxy route of a server: its path, or `/<user's host>/user/…` with subdomains. */
  routePath(userName: string, serverName: string): string {
    return this.d.subdomains?.serverRoute(userName, serverName) ?? serverPrefix(userName, serverName);
  }

  /** Where browsers open a server: its path, or its full URL on the user's host with subdomains. */
  publicUrl(userName: string, serverName: string): string {
    return this.d.subdomains?.serverUrl(userName, serverName) ?? serverPrefix(userName, serverName);
  }

  /**
   * Proxy route data of a server: JupyterHub's keys, plus LabHub's for apps that need the proxy to
   * check hub logins (labhub_auth) or to strip the /user/… prefix (labhub_strip_prefix).
   */
  routeData(userName: string, serverName: string, target: string): Record<string, unknown> & { target: string } {
    const data: Record<string, unknown> & { target: string } = { user: userName, server_name: serverName, target, jupyterhub: true };
    const app = this.appRoutes.get(key(userName, serverName)) ?? this.appRouteFor(userName, serverName);
    if (app?.hubAuth && this.d.routeAuth) data.labhub_auth = this.d.routeAuth();
    if (app?.stripPrefix) data.labhub_strip_prefix = true;
    return data;
  }

  private appRouteFor(userName: string, serverName: string): AppRoute | undefined {
    const user = this.d.users.byName(userName);
    const row = user ? this.d.servers.get(user.id, serverName) : undefined;
    if (!user || !row) return undefined;
    try {
      return this.resolve(user, JSON.parse(row.user_options) as Record<string, unknown>).app;
    } catch {
      return this.d.config.app;
    }
  }

  private readonly appRoutes = new Map<string, AppRoute | undefined>();

  /** JupyterHub check_routes: the proxy must route exactly the running servers (and the hub). */
  async checkRoutes(hubTarget: string): Promise<{ added: number; removed: number }> {
    // one check at a time: a proxy restart, the timer and a missing-route request may all ask at once
    if (this.routeCheck) return this.routeCheck;
    const started = Date.now();
    this.routeCheck = this.doCheckRoutes(hubTarget).finally(() => {
      this.routeCheck = null;
      this.d.metrics?.checkRoutesDuration.observe((Date.now() - started) / 1000);
    });
    return this.routeCheck;
  }

  private routeCheck: Promise<{ added: number; removed: number }> | null = null;

  /** Route changes of one server run one after another (spawn, stop, poll, route checks), in order. */
  private readonly routeLocks = new Map<string, Promise<unknown>>();
  private routeLocked<T>(k: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.routeLocks.get(k) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.routeLocks.set(k, tail);
    void tail.then(() => {
      if (this.routeLocks.get(k) === tail) this.routeLocks.delete(k);
    });
    return run;
  }

  private async doCheckRoutes(hubTarget: string): Promise<{ added: number; removed: number }> {
    const routes = await this.d.proxy.getAllRoutes();
    const limit = this.d.config.operations.reconcileConcurrency;
    const adds: Array<[string, Record<string, unknown> & { target: string }]> = [];
    const deletes: string[] = [];
    if (routes['/']?.target !== hubTarget) adds.push(['/', { hub: true, target: hubTarget, jupyterhub: true }]);
    const wanted = new Map<string, { target: string; user: string; server: string }>();
    for (const row of this.d.servers.active()) {
      if (!row.url || !this.running.has(key(row.user_name, row.name))) continue;
      wanted.set(this.routePath(row.user_name, row.name).replace(/\/$/, ''), { target: row.url, user: row.user_name, server: row.name });
    }
    for (const extra of this.d.extraRoutes?.() ?? []) {
      const path = extra.path.replace(/\/$/, '');
      const current = routes[path] ?? routes[decodeURIComponent(path)];
      const version = (d: unknown) => (d as { labhub_auth?: { version?: unknown } } | undefined)?.labhub_auth?.version;
      if (current?.target !== extra.target || version(current) !== version(extra.data)) adds.push([path, { ...extra.data, target: extra.target, jupyterhub: true }]);
    }
    const userAdds: Array<{ path: string; user: string; server: string; target: string }> = [];
    for (const [path, w] of wanted) {
      const decodedMatch = routes[path] ?? routes[decodeURIComponent(path)];
      if (decodedMatch?.target !== w.target) userAdds.push({ path, user: w.user, server: w.server, target: w.target });
    }
    const userDeletes: Array<{ path: string; user: string; server: string }> = [];
    const extraPaths = new Set((this.d.extraRoutes?.() ?? []).map((e) => e.path.replace(/\/$/, '')));
    for (const [path, data] of Object.entries(routes)) {
      // shared-port routes of servers that stopped or shares that ended
      if (data.jupyterhub && 'labhub_port' in data && !extraPaths.has(path)) {
        deletes.push(path);
        continue;
      }
      if (!data.jupyterhub || !('user' in data)) continue;
      const encoded = path.split('/').map((p) => encodeURIComponent(decodeURIComponent(p))).join('/');
      if (!wanted.has(encoded) && !wanted.has(path)) userDeletes.push({ path, user: String(data.user), server: typeof data.server_name === 'string' ? data.server_name : '' });
    }
    // the hub's own route first: everything else is useless without it
    if (adds[0]?.[0] === '/') await this.d.proxy.addRoute('/', adds.shift()![1]);
    let added = adds.length + (routes['/']?.target !== hubTarget ? 1 : 0);
    let removed = deletes.length;
    await mapLimit(adds, limit, ([path, data]) => this.d.proxy.addRoute(path, data));
    await mapLimit(deletes, limit, (path) => this.d.proxy.deleteRoute(path));
    // User routes change while this runs (spawns, stops; a full check after a proxy restart takes
    // seconds): each change is made under the server's route lock and only if still true then.
    await mapLimit(userAdds, limit, (a) =>
      this.routeLocked(key(a.user, a.server), async () => {
        const user = this.d.users.byName(a.user);
        const url = user ? this.d.servers.get(user.id, a.server)?.url : undefined;
        if (this.status(a.user, a.server) !== 'running' || url !== a.target) return;
        await this.d.proxy.addRoute(a.path, this.routeData(a.user, a.server, a.target));
        added++;
      }),
    );
    await mapLimit(userDeletes, limit, (del) =>
      this.routeLocked(key(del.user, del.server), async () => {
        if (this.status(del.user, del.server) === 'running' || this.status(del.user, del.server) === 'spawn') return;
        await this.d.proxy.deleteRoute(del.path);
        removed++;
      }),
    );
    if (added || removed) this.d.log.info({ added, removed }, 'proxy routes reconciled');
    return { added, removed };
  }

  /** Stops every running server (hub shutdown with servers=true). */
  async stopAll(): Promise<void> {
    await Promise.allSettled(
      [...this.running.keys()].map(async (k) => {
        const [userName, ...rest] = k.split('/');
        const user = this.d.users.byName(userName);
        if (user) await this.stop(user, rest.join('/')).then(() => this.pendingOf(userName, rest.join('/'))?.done);
      }),
    );
  }

  startPolling(): void {
    const tick = () => {
      if (this.disposed) return;
      const jitter = 1 + (Math.random() - 0.5) * 0.2;
      this.pollTimer = setTimeout(() => {
        this.pollAll()
          .catch((err) => this.d.log.error({ err: String(err) }, 'poll failed'))
          .finally(tick);
      }, this.d.config.pollIntervalSeconds * 1000 * jitter);
      this.pollTimer.unref();
    };
    tick();
  }

  /** Stops timers; leaves servers running (they survive hub restarts by design). */
  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    // a spawn still starting when the hub shuts down is cancelled and cleaned up (its spawner's
    // stop runs), instead of holding the shutdown for start + http timeouts
    for (const p of this.pending.values()) if (p.kind === 'spawn') p.abort.abort();
    await Promise.allSettled([...this.pending.values()].map((p) => p.done));
  }
}

function toSpawnError(err: unknown): HubError {
  if (err instanceof HubError) return err;
  // out of capacity (cost guard, cloud capacity) is "try again later", as JupyterHub's spawn limits
  if (err instanceof SpawnFailure) return new SpawnError(err.message, err.reason, err.reason === 'capacity' ? { status: 429, headers: { 'Retry-After': '60' } } : {});
  return new SpawnError((err as Error)?.message ?? String(err), 'error', { logMessage: (err as Error)?.stack });
}

async function raceAbort<T>(p: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  if (signal.aborted) throw onAbort();
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}
