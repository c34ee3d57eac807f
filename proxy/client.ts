/**
 * The hub's view of a proxy: configurable-http-proxy's REST API (PROTOCOL.md A2), over injected fetch.
 * The hub talks to every proxy (LabHub's in-process one, a standalone labhub-proxy, or the real CHP)
 * only through this client, so any of them can be swapped in by configuration.
 */
export interface RouteData {
  target: string;
  [key: string]: unknown;
}

export interface ProxyRoute extends RouteData {
  last_activity?: string;
}

export type FetchLike = typeof fetch;

export class ProxyApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ProxyApiError';
  }
}

export interface ProxyClientOptions {
  /** e.g. http://127.0.0.1:8001 (the CHP API base, without /api/routes) */
  apiUrl: string;
  authToken: string;
  fetch?: FetchLike;
  /** Per-request timeout (JupyterHub uses 10 s). */
  timeoutMs?: number;
}

/** Route keys as CHP stores them: leading '/', no trailing '/' (except root). */
export function routeKey(path: string): string {
  let p = path.startsWith('/') ? path : `/${path}`;
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

export class ProxyClient {
  private readonly fetchImpl: FetchLike;
  private readonly timeoutMs: number;
  private opts: ProxyClientOptions;

  constructor(opts: ProxyClientOptions) {
    this.opts = { ...opts };
    this.fetchImpl = opts.fetch ?? fetch;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  get apiUrl(): string {
    return this.opts.apiUrl;
  }

  /** Points the client at a new proxy API (JupyterHub PATCH /api/proxy). */
  reconfigure(change: { apiUrl?: string; authToken?: string }): void {
    this.opts = { ...this.opts, ...(change.apiUrl ? { apiUrl: change.apiUrl } : {}), ...(change.authToken ? { authToken: change.authToken } : {}) };
  }

  private url(path: string): string {
    // CHP decodes the {path}; encode each segment so '@' and spaces survive.
    // The root route is addressed as /api/routes/ (path '/'): CHP never answers a DELETE to
    // /api/routes without a path.
    const key = routeKey(path);
    const encoded = key === '/' ? '/' : key.split('/').map(encodeURIComponent).join('/');
    return `${this.opts.apiUrl.replace(/\/$/, '')}/api/routes${encoded}`;
  }

  private async request(method: string, path: string, body?: unknown): Promise<Response> {
    const res = await this.fetchImpl(this.url(path), {
      method,
      headers: {
        Authorization: `token ${this.opts.authToken}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    return res;
  }

  async addRoute(path: string, data: RouteData): Promise<void> {
    const res = await this.request('POST', path, data);
    if (res.status !== 201 && res.status !== 200) {
      throw new ProxyApiError(`proxy refused route ${path}: ${res.status} ${await res.text()}`, res.status);
    }
    await res.arrayBuffer().catch(() => undefined);
  }

  /** Deleting a route that is already gone is not an error (JupyterHub tolerates 404 too). */
  async deleteRoute(path: string): Promise<void> {
    const res = await this.request('DELETE', path);
    await res.arrayBuffer().catch(() => undefined);
    if (res.status !== 204 && res.status !== 200 && res.status !== 404) {
      throw new ProxyApiError(`proxy failed to delete route ${path}: ${res.status}`, res.status);
    }
  }

  async getAllRoutes(inactiveSince?: Date): Promise<Record<string, ProxyRoute>> {
    const qs = inactiveSince ? `?inactive_since=${encodeURIComponent(inactiveSince.toISOString())}` : '';
    const res = await this.fetchImpl(`${this.opts.apiUrl.replace(/\/$/, '')}/api/routes${qs}`, {
      headers: { Authorization: `token ${this.opts.authToken}` },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (res.status !== 200) throw new ProxyApiError(`proxy route listing failed: ${res.status}`, res.status);
    return (await res.json()) as Record<string, ProxyRoute>;
  }

  async getRoute(path: string): Promise<ProxyRoute | null> {
    // CHP answers GET /api/routes/ with the whole table, so the root route is picked from it
    if (routeKey(path) === '/') return (await this.getAllRoutes())['/'] ?? null;
    const res = await this.request('GET', path);
    if (res.status === 404) {
      await res.arrayBuffer().catch(() => undefined);
      return null;
    }
    if (res.status !== 200) throw new ProxyApiError(`proxy route lookup failed: ${res.status}`, res.status);
    return (await res.json()) as ProxyRoute;
  }
}
