/**
 * LabHub's configurable-http-proxy: createProxy(options, deps?) builds the public proxy server,
 * the REST API server and (optionally) the metrics server, sharing one route store.
 *
 *   const proxy = createProxy({ authToken, port: 0, apiPort: 0, ip: '127.0.0.1' });
 *   await proxy.listen();  // proxy.proxyPort / proxy.apiPort now hold the bound ports
 *   await proxy.addRoute('/user/alice', { target: 'http://127.0.0.1:9000' });
 *   await proxy.close();
 *
 * Semantics follow CHP 5.x (PROTOCOL.md A1–A3). The hot path differs from CHP in how, not what:
 * synchronous trie lookup when the store allows it, a URL fast path, undici pools upstream,
 * raw-socket websocket tunnels.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { createApiHandler } from './api.js';
import { BUILTIN_ERROR_PATH, handleWebError, handleWsError, type ErrorContext } from './errors.js';
import { forward, type ForwardOptions, type ForwardSink } from './forward.js';
import { defaultLogger, type ProxyLogger } from './log.js';
import { metricsHandler, noMetrics, type ProxyMetrics } from './metrics.js';
import { getPath, hostWithoutPort, routingPath, urlJoin } from './paths.js';
import { cleanPath, isSyncStore, loadStorage, MemoryStore, type RouteData, type RouteStore, type SyncRouteStore } from './store.js';
import type { TrieMatch } from './trie.js';
import { UpstreamRegistry, type ClientTls, type Upstream } from './upstream.js';
import { tunnel, type TunnelOptions } from './ws.js';

export type { RouteData, RouteStore } from './store.js';
import { dropRouteCookie, isRouteAuth, isRouteLogin, RouteAuthGate } from './route-auth.js';

export interface ProxyOptions {
  /** CONFIGPROXY_AUTH_TOKEN; unset ⇒ the API is unauthenticated (CHP) */
  authToken?: string;
  /** adds the route '/' → defaultTarget at startup */
  defaultTarget?: string;
  errorTarget?: string;
  /** directory with <code>.html / error.html; default: the built-in pages */
  errorPath?: string;
  hostRouting?: boolean;
  /**
   * LabHub extension (--host-route-domain): requests for a host under this domain are routed by
   * host — route `/8050--alice.hub.example.org` — and everything else by path, as usual. A host
   * route is never reached by path, and such a host never reaches a path route.
   */
  hostRouteDomain?: string;
  /**
   * LabHub extension (--host-route-fallback): where a GET/HEAD for a routed host that matches no
   * route is redirected, same path and query (the hub's origin: it knows whether the server is
   * stopped or must be started); without it such requests get 404.
   */
  hostRouteFallback?: string;
  /** default true */
  includePrefix?: boolean;
  /** default true */
  prependPath?: boolean;
  /** add X-Forwarded-* (CHP: off programmatically, on from the CLI) */
  xfwd?: boolean;
  /** incoming socket timeout (ms) */
  timeout?: number;
  /** upstream timeout (ms) → 503 */
  proxyTimeout?: number;
  /** incoming keep-alive timeout (ms), default 5000 */
  keepAliveTimeout?: number;
  /** TLS for the public port */
  ssl?: https.ServerOptions;
  /** TLS for the API port */
  apiSsl?: https.ServerOptions;
  /** client certificate presented to https targets */
  clientSsl?: ClientTls;
  /** headers added to proxied requests (CHP `headers`, --custom-header) */
  headers?: Record<string, string>;
  /** alias of headers */
  customHeaders?: Record<string, string>;
  changeOrigin?: boolean;
  autoRewrite?: boolean;
  protocolRewrite?: string;
  /** don't verify target TLS certificates (CHP --insecure / secure:false) */
  insecure?: boolean;
  secure?: boolean;
  /** a store instance (overrides storageBackend/storagePath) */
  storage?: RouteStore;
  /** --storage-backend: 'memory' | 'sqlite' | module; loaded in listen() */
  storageBackend?: string;
  /** SQLite file for the persistent store */
  storagePath?: string;
  enableMetrics?: boolean;
  log?: ProxyLogger;
  /** listen addresses; ports may be 0 */
  ip?: string;
  port?: number;
  socket?: string;
  apiIp?: string;
  apiPort?: number;
  apiSocket?: string;
  metricsIp?: string;
  metricsPort?: number;
  metricsSocket?: string;
}

export interface ProxyDeps {
  store?: RouteStore;
  log?: ProxyLogger;
  metrics?: ProxyMetrics;
  /** clock for last_activity (ms since epoch) */
  now?: () => number;
}

export interface TargetMatch {
  prefix: string;
  target: string;
}

export class LabHubProxy extends EventEmitter implements ForwardSink {
  /** Hub checks for routes that carry labhub_auth (shared ports, apps without their own login). */
  private readonly routeGate: RouteAuthGate;
  readonly options: ProxyOptions;
  readonly log: ProxyLogger;
  readonly proxyServer: http.Server;
  readonly apiServer: http.Server;
  metricsServer?: http.Server;
  authToken?: string;
  /** runtime-mutable, read per request (as CHP's tests expect) */
  includePrefix: boolean;
  prependPath: boolean;
  hostRouting: boolean;
  /** '.' + --host-route-domain, lower case */
  private readonly hostRouteTail: string | undefined;
  errorTarget?: string;
  errorPath: string;
  /** bound ports after listen() */
  proxyPort = 0;
  apiPort = 0;
  metricsPort = 0;

  private store: RouteStore;
  private syncStore: SyncRouteStore | null;
  metrics: ProxyMetrics;
  private readonly now: () => number;
  private readonly upstreams: UpstreamRegistry;
  private readonly fwd: TunnelOptions;
  private readonly errCtx: ErrorContext;
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent = new https.Agent({ keepAlive: true });
  private storeReady: Promise<void> | null = null;
  /** upgraded client sockets: http.Server.close() waits for them, so close() ends them */
  private readonly upgraded = new Set<Duplex>();

  constructor(options: ProxyOptions = {}, deps: ProxyDeps = {}) {
    super();
    this.options = options;
    this.log = deps.log ?? options.log ?? defaultLogger('info');
    this.now = deps.now ?? Date.now;
    this.authToken = options.authToken;
    this.routeGate = new RouteAuthGate(options.authToken, deps.now);
    this.includePrefix = options.includePrefix ?? true;
    this.prependPath = options.prependPath ?? true;
    this.hostRouting = !!options.hostRouting;
    this.hostRouteTail = options.hostRouteDomain ? `.${options.hostRouteDomain.toLowerCase()}` : undefined;
    this.errorTarget = options.errorTarget;
    this.errorPath = options.errorPath || BUILTIN_ERROR_PATH;
    this.metrics = deps.metrics ?? noMetrics;
    this.store = deps.store ?? options.storage ?? new MemoryStore();
    this.syncStore = isSyncStore(this.store) ? this.store : null;
    if (!deps.store && !options.storage && (options.storageBackend || options.storagePath)) {
      this.storeReady = loadStorage(options as Record<string, unknown>).then((s) => this.setStore(s));
      // a load failure surfaces from listen()/addRoute(); don't let it become an unhandled rejection first
      this.storeReady.catch(() => {});
    }
    const insecure = options.insecure || options.secure === false;
    this.upstreams = new UpstreamRegistry({ insecure, clientSsl: options.clientSsl });
    const headers = options.headers ?? options.customHeaders ?? {};
    this.fwd = {
      xfwd: !!options.xfwd,
      changeOrigin: !!options.changeOrigin,
      autoRewrite: !!options.autoRewrite,
      protocolRewrite: options.protocolRewrite,
      headers: Object.entries(headers),
      proxyTimeout: options.proxyTimeout,
      insecure,
      clientSsl: options.clientSsl,
    };
    const self = this;
    this.errCtx = {
      log: this.log,
      get metrics() {
        return self.metrics;
      },
      get errorTarget() {
        return self.errorTarget;
      },
      get errorPath() {
        return self.errorPath;
      },
      insecure,
      clientSsl: options.clientSsl,
      httpAgent: this.httpAgent,
      httpsAgent: this.httpsAgent,
    };

    const serverOpts: http.ServerOptions = { keepAlive: true, keepAliveTimeout: options.keepAliveTimeout || 5000 };
    this.proxyServer = options.ssl
      ? https.createServer({ ...options.ssl, ...serverOpts }, this.onRequest)
      : http.createServer(serverOpts, this.onRequest);
    this.proxyServer.keepAliveTimeout = options.keepAliveTimeout || 5000;
    this.proxyServer.on('upgrade', this.onUpgrade);

    const self2 = this;
    const api = createApiHandler({
      get authToken() {
        return self2.authToken;
      },
      get store() {
        return self2.store;
      },
      get metrics() {
        return self2.metrics;
      },
      log: this.log,
      addRoute: (p, d) => this.addRoute(p, d),
      removeRoute: (p) => this.removeRoute(p),
    });
    this.apiServer = options.apiSsl ? https.createServer(options.apiSsl, api) : http.createServer(api);

    if (options.defaultTarget) {
      const add = () => this.addRoute('/', { target: options.defaultTarget! });
      (this.storeReady ? this.storeReady.then(add) : add()).catch((e) => this.log.error('Failed to add default route: %s', e));
    }
  }

  private setStore(store: RouteStore): void {
    this.store = store;
    this.syncStore = isSyncStore(store) ? store : null;
  }

  /** The route store (CHP's `_routes`). */
  get routes(): RouteStore {
    return this.store;
  }
  get _routes(): RouteStore {
    return this.store;
  }

  // ---------------------------------------------------------------- routes

  async addRoute(path: string, data: RouteData): Promise<void> {
    await this.storeReady;
    path = cleanPath(this.store, path);
    if (this.hostRouting && path !== '/') data.host = path.split('/')[1];
    this.log.info('Adding route %s -> %s', path, data.target);
    await this.store.add(path, data);
    await this.updateLastActivity(path);
    this.log.info('Route added %s -> %s', path, data.target);
  }

  async removeRoute(path: string): Promise<void> {
    await this.storeReady;
    const result = await this.store.get(path);
    if (result) {
      this.log.info('Removing route %s', path);
      await this.store.remove(path);
    }
  }

  /** CHP targetForReq: {prefix, target} for a request-like {url, headers}, or undefined. */
  async targetForReq(req: { url?: string; headers?: http.IncomingHttpHeaders }): Promise<TargetMatch | undefined> {
    await this.storeReady;
    const m = await this.store.getTarget(this.routingKey(req));
    return m ? { prefix: m.prefix, target: m.data.target } : undefined;
  }

  /** `host`: the request's routed host when the caller has it already (see routedHost). */
  private routingKey(req: { url?: string; headers?: http.IncomingHttpHeaders }, host = this.hostRouteTail ? this.routedHost(req) : undefined): string {
    if (this.hostRouteTail) return this.hostRouteKey(req, host);
    const base = this.hostRouting ? '/' + hostWithoutPort(req.headers?.host) : '';
    return base + routingPath(req.url ?? '/');
  }

  /** The request's host when it lies under --host-route-domain (lower case), else undefined; worked out once per request. */
  private routedHost(req: { headers?: http.IncomingHttpHeaders }): string | undefined {
    const host = hostWithoutPort(req.headers?.host)?.toLowerCase();
    return host && host.endsWith(this.hostRouteTail!) && host.length > this.hostRouteTail!.length ? host : undefined;
  }

  private hostRouteKey(req: { url?: string }, host: string | undefined): string {
    const path = routingPath(req.url ?? '/');
    if (host) return `/${host}${path}`;
    // a path naming a host route is not that route: hand it to the default route (the hub)
    const first = path.split('/', 2)[1] ?? '';
    return first.toLowerCase().endsWith(this.hostRouteTail!) ? '/' : path;
  }

  /** A request for a routed host matches that host's routes only (the hub's '/' is not one). */
  private ownMatch(match: TrieMatch<RouteData> | undefined, host: string | undefined): TrieMatch<RouteData> | undefined {
    if (!match || !host) return match;
    const own = `/${host}`;
    return match.prefix === own || match.prefix.startsWith(`${own}/`) ? match : undefined;
  }

  /** Length of the host part of a route prefix (host routing, or a --host-route-domain route). */
  private hostPartOf(match: TrieMatch<RouteData>): number {
    if (this.hostRouting) return 1 + String(match.data.host ?? '').length;
    if (!this.hostRouteTail) return 0;
    const first = match.prefix.split('/', 2)[1] ?? '';
    return first.endsWith(this.hostRouteTail) ? 1 + first.length : 0;
  }

  /** Record activity on a route (no-op if it is gone). */
  activity(prefix: string): void {
    const s = this.syncStore;
    if (s) s.touch(prefix, this.now());
    else void this.updateLastActivity(prefix).catch(() => {});
  }

  async updateLastActivity(prefix: string): Promise<void> {
    const end = this.metrics.lastActivityUpdatingSummary.startTimer();
    const s = this.syncStore;
    if (s) s.touch(cleanPath(s, prefix), this.now());
    else if (await this.store.get(prefix)) await this.store.update(prefix, { last_activity: new Date(this.now()) });
    end();
  }

  // ---------------------------------------------------------------- traffic

  private lookup(req: http.IncomingMessage, host: string | undefined): TrieMatch<RouteData> | undefined | Promise<TrieMatch<RouteData> | undefined> {
    const key = this.routingKey(req, host);
    const s = this.syncStore;
    if (s && !this.storeReady) return s.getTargetSync(key);
    return (this.storeReady ?? Promise.resolve()).then(() => this.store.getTarget(key));
  }

  /**
   * Upstream path for a request. Per-route LabHub extensions live in the route data under
   * `labhub_*` keys and are read here and in dispatchWeb/dispatchWs (today: labhub_strip_prefix);
   * CHP ignores unknown keys, so routes stay portable.
   */
  private upstreamPath(url: string, match: TrieMatch<RouteData>, up: Upstream): string {
    const prefix = match.prefix;
    if (!this.includePrefix) url = url.slice(prefix.length - (this.hostRouteTail ? this.hostPartOf(match) : 0));
    else if (match.data.labhub_strip_prefix) url = url.slice(Math.max(0, prefix.length - this.hostPartOf(match)));
    const p = getPath(url);
    const base = this.prependPath ? up.basePath : '/';
    if (base === '/' && p.charCodeAt(0) === 47) return p;
    return urlJoin(base, p);
  }

  private readonly onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (req.url === '/_chp_healthz') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"status":"OK"}');
      return;
    }
    this.metrics.requestsWebCount.inc();
    if (this.options.timeout) req.socket.setTimeout(this.options.timeout);
    let m;
    const host = this.hostRouteTail ? this.routedHost(req) : undefined;
    try {
      const end = this.metrics.enabled ? this.metrics.findTargetForReqSummary.startTimer() : null;
      m = this.lookup(req, host);
      if (end) end();
    } catch (e) {
      return handleWebError(this.errCtx, 500, req, res, e);
    }
    if (m instanceof Promise) {
      m.then(
        (match) => this.dispatchWeb(req, res, match, host),
        (e) => handleWebError(this.errCtx, 500, req, res, e),
      );
    } else this.dispatchWeb(req, res, m, host);
  };

  private dispatchWeb(req: http.IncomingMessage, res: http.ServerResponse, found: TrieMatch<RouteData> | undefined, host: string | undefined): void {
    const match = this.ownMatch(found, host);
    if (!match) return this.noRoute(req, res, host);
    const auth = match.data.labhub_auth;
    if (isRouteAuth(auth)) {
      const base = auth.exchange ? match.prefix.slice(this.hostPartOf(match)) : '';
      if (auth.exchange && isRouteLogin(req.url, base)) {
        this.routeGate.setCookie(req, res, match.prefix, auth, `${base}/`).catch((e) => handleWebError(this.errCtx, 500, req, res, e));
        return;
      }
      this.routeGate.check(req, match.prefix, auth).then(
        (r) => {
          if (r.status !== 200) return RouteAuthGate.refuse(req, res, match.prefix, r);
          dropRouteCookie(req);
          this.forwardWeb(req, res, match);
        },
        (e) => handleWebError(this.errCtx, 500, req, res, e),
      );
      return;
    }
    this.forwardWeb(req, res, match);
  }

  /** No route: 404, or — for a routed host, when a fallback is set — a redirect to the same path there. */
  private noRoute(req: http.IncomingMessage, res: http.ServerResponse, host: string | undefined): void {
    const fallback = this.options.hostRouteFallback;
    if (fallback && host && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(302, { Location: `${fallback.replace(/\/+$/, '')}${req.url ?? '/'}`, 'Content-Length': '0' });
      return void res.end();
    }
    handleWebError(this.errCtx, 404, req, res);
  }

  private forwardWeb(req: http.IncomingMessage, res: http.ServerResponse, match: TrieMatch<RouteData>): void {
    try {
      if (this.listenerCount('proxyRequest') !== 0) {
        (req as { labhubUseHeaders?: boolean }).labhubUseHeaders = true;
        this.emit('proxyRequest', req, res);
      }
      const up = this.upstreams.get(match.data.target, this.now());
      const path = this.upstreamPath(req.url ?? '/', match, up);
      if (this.metrics.enabled) this.countStatus(res);
      forward(req, res, up, path, this.fwd, this, match.prefix);
    } catch (e) {
      handleWebError(this.errCtx, 500, req, res, e);
    }
  }

  private countStatus(res: http.ServerResponse): void {
    res.once('finish', () => {
      if (!(res as { _labhubError?: boolean })._labhubError) this.metrics.requestsProxyCount.labels(res.statusCode).inc();
    });
  }

  upstreamError(req: http.IncomingMessage, res: http.ServerResponse, err: Error): void {
    (res as { _labhubError?: boolean })._labhubError = true;
    handleWebError(this.errCtx, 503, req, res, err);
  }

  private readonly onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.metrics.requestsWsCount.inc();
    socket.on('error', () => socket.destroy());
    this.upgraded.add(socket);
    socket.once('close', () => this.upgraded.delete(socket));
    let m;
    const host = this.hostRouteTail ? this.routedHost(req) : undefined;
    try {
      m = this.lookup(req, host);
    } catch (e) {
      return handleWsError(this.errCtx, 500, req, socket, e);
    }
    if (m instanceof Promise) {
      m.then(
        (match) => this.dispatchWs(req, socket, head, match, host),
        (e) => handleWsError(this.errCtx, 500, req, socket, e),
      );
    } else this.dispatchWs(req, socket, head, m, host);
  };

  private dispatchWs(req: http.IncomingMessage, socket: Duplex, head: Buffer, found: TrieMatch<RouteData> | undefined, host: string | undefined): void {
    const match = this.ownMatch(found, host);
    if (!match) return handleWsError(this.errCtx, 404, req, socket);
    const auth = match.data.labhub_auth;
    if (isRouteAuth(auth)) {
      this.routeGate.check(req, match.prefix, auth).then(
        (r) => {
          if (r.status !== 200) return handleWsError(this.errCtx, r.status === 401 ? 403 : r.status, req, socket);
          dropRouteCookie(req);
          this.forwardWs(req, socket, head, match);
        },
        (e) => handleWsError(this.errCtx, 500, req, socket, e),
      );
      return;
    }
    this.forwardWs(req, socket, head, match);
  }

  private forwardWs(req: http.IncomingMessage, socket: Duplex, head: Buffer, match: TrieMatch<RouteData>): void {
    // http-proxy-3 checkMethodAndHeader: only GET + Upgrade: websocket
    if (req.method !== 'GET' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      socket.destroy();
      return;
    }
    try {
      if (this.listenerCount('proxyRequestWs') !== 0) {
        (req as { labhubUseHeaders?: boolean }).labhubUseHeaders = true;
        this.emit('proxyRequestWs', req, socket, head);
      }
      const up = this.upstreams.get(match.data.target, this.now());
      const path = this.upstreamPath(req.url ?? '/', match, up);
      const prefix = match.prefix;
      tunnel(req, socket, head, up, path, this.fwd, {
        onClientData: () => this.activity(prefix),
        onError: (err) => handleWsError(this.errCtx, 503, req, socket, err),
      });
    } catch (e) {
      handleWsError(this.errCtx, 500, req, socket, e);
    }
  }

  // ---------------------------------------------------------------- lifecycle

  /** Listen on the configured addresses (ports may be 0); resolves when all servers are bound. */
  async listen(): Promise<void> {
    await this.storeReady;
    this.storeReady = null;
    const o = this.options;
    if (o.enableMetrics && !this.metricsServer) {
      if (this.metrics === noMetrics) {
        const { createMetrics } = await import('./metrics-prom.js');
        this.metrics = createMetrics();
      }
      this.metricsServer = http.createServer(metricsHandler(this.metrics));
    }
    const bind = (server: net.Server, socket: string | undefined, port: number | undefined, ip: string | undefined) =>
      new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        const done = () => {
          server.off('error', reject);
          const a = server.address();
          resolve(typeof a === 'object' && a ? a.port : 0);
        };
        if (socket) server.listen(socket, done);
        else if (ip) server.listen(port ?? 0, ip, done);
        else server.listen(port ?? 0, done);
      });
    this.proxyPort = await bind(this.proxyServer, o.socket, o.port, o.ip);
    this.apiPort = await bind(this.apiServer, o.apiSocket, o.apiPort, o.apiIp ?? 'localhost');
    if (this.metricsServer) this.metricsPort = await bind(this.metricsServer, o.metricsSocket, o.metricsPort, o.metricsIp);
  }

  /** Stop listening, drop all client and upstream connections, close the store. */
  async close(): Promise<void> {
    const servers = [this.proxyServer, this.apiServer, this.metricsServer].filter((s): s is http.Server => !!s);
    for (const socket of this.upgraded) socket.destroy();
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (!s.listening) return resolve();
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
    await this.upstreams.close();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    await this.store.close?.();
  }
}

export function createProxy(options: ProxyOptions = {}, deps: ProxyDeps = {}): LabHubProxy {
  return new LabHubProxy(options, deps);
}

export interface StartedProxy {
  /** e.g. http://127.0.0.1:40123 */
  publicUrl: string;
  /** CHP API base, e.g. http://127.0.0.1:40124 (ProxyClient appends /api/routes) */
  apiUrl: string;
  proxy: LabHubProxy;
  close(): Promise<void>;
}

/** Convenience for the hub: create, listen (default 127.0.0.1, ports 0), report URLs. */
export async function startProxy(opts: ProxyOptions & ProxyDeps = {}): Promise<StartedProxy> {
  const { store, now, metrics, ...options } = opts;
  const ip = options.ip ?? '127.0.0.1';
  const apiIp = options.apiIp ?? '127.0.0.1';
  const proxy = createProxy(
    { port: 0, apiPort: 0, log: silentOr(options.log), ...options, ip, apiIp },
    { store, now, metrics, log: options.log },
  );
  await proxy.listen();
  const scheme = options.ssl ? 'https' : 'http';
  const apiScheme = options.apiSsl ? 'https' : 'http';
  const hostOf = (h: string) => (h.includes(':') ? `[${h}]` : h);
  return {
    publicUrl: `${scheme}://${hostOf(ip || '127.0.0.1')}:${proxy.proxyPort}`,
    apiUrl: `${apiScheme}://${hostOf(apiIp)}:${proxy.apiPort}`,
    proxy,
    close: () => proxy.close(),
  };
}

function silentOr(log: ProxyLogger | undefined): ProxyLogger {
  return log ?? defaultLogger('warn');
}
