/**
 * Hub authentication for proxied apps that have none of their own: shared ports
 * (/user/{name}[/{server}]/ports/{port}/) and servers whose profile sets app.hubAuth (RStudio,
 * code-server). The proxy asks the hub (GET /hub/api/routes/authorize, proxy token required)
 * whether the bearer of a route cookie may pass; the cookie is minted by /hub/routes/login for a
 * logged-in user, scoped to that route's path, and dies with the login session.
 * With `subdomainHost`, shares live on their own hosts (hub/subdomains.ts): the hub cannot set a
 * cookie there, so /hub/routes/login hands the browser a one-time code that the proxy, on the
 * share's host, exchanges for the token (GET /hub/api/routes/exchange) and sets as a host-only cookie.
 */
import { randomBytes } from 'node:crypto';
import type { Identity } from './access.js';
import type { HubDeps } from './deps.js';
import type { PortRow } from './db/ports.js';
import type { Subdomains } from './subdomains.js';
import { hasScope } from './scopes.js';

export const ROUTE_COOKIE = 'labhub-route-auth';
export const ROUTE_TOKEN_CLIENT = 'labhub-route';

export type RoutePolicy =
  | { kind: 'server'; owner: string; server: string }
  | { kind: 'port'; owner: string; server: string; port: number; share: PortRow };

/** /user/alice[/srv][/ports/8050] → what it protects; undefined for anything else. */
export function parseRoute(route: string): { owner: string; server: string; port?: number } | undefined {
  const parts = route.replace(/\/+$/, '').split('/');
  if (parts[0] !== '' || parts[1] !== 'user' || !parts[2]) return undefined;
  let owner: string;
  let rest: string[];
  try {
    owner = decodeURIComponent(parts[2]);
    rest = parts.slice(3).map(decodeURIComponent);
  } catch {
    return undefined;
  }
  if (rest.some((p) => p === '' || p === '.' || p === '..')) return undefined;
  if (rest.length === 0) return { owner, server: '' };
  if (rest.length === 1 && rest[0] !== 'ports') return { owner, server: rest[0] };
  const i = rest.indexOf('ports');
  if (i < 0 || i > 1 || rest.length !== i + 2 || !/^\d{1,5}$/.test(rest[i + 1])) return undefined;
  return { owner, server: i === 1 ? rest[0] : '', port: Number(rest[i + 1]) };
}

export function portPrefix(owner: string, server: string, port: number): string {
  return `/user/${encodeURIComponent(owner)}/${server ? `${encodeURIComponent(server)}/` : ''}ports/${port}`;
}

const CODE_TTL_MS = 60_000;
const MAX_CODES = 10_000;

export class RouteAuth {
  /** one-time codes for the subdomain cookie hand-over: code → token, for one route, briefly */
  private readonly codes = new Map<string, { token: string; route: string; until: number }>();

  constructor(private readonly d: HubDeps) {}

  /** set when servers and shares live on subdomains */
  private get hosts(): Subdomains | undefined {
    return this.d.subdomains;
  }

  /** What a route protects: a server or a share — at its path, or on its host with subdomains. */
  parse(route: string): { owner: string; server: string; port?: number } | undefined {
    return this.hosts ? this.hosts.parseRoute(route) : parseRoute(route);
  }

  /** The proxy route of a share, undefined when its names are too long for a DNS label. */
  shareRoute(owner: string, server: string, port: number): string | undefined {
    return this.hosts ? this.hosts.routeOf(owner, server, port) : portPrefix(owner, server, port);
  }

  /** Where users open a share. */
  shareUrl(owner: string, server: string, port: number): string | undefined {
    return this.hosts ? this.hosts.urlOf(owner, server, port) : `${portPrefix(owner, server, port)}/`;
  }

  isHostRoute(route: string): boolean {
    return !!this.hosts?.parseRoute(route);
  }

  /** A one-time code the proxy on a share's host trades for `token` within a minute. */
  issueCode(route: string, token: string): string {
    const now = this.d.clock.now();
    for (const [k, v] of this.codes) if (v.until <= now || this.codes.size >= MAX_CODES) this.codes.delete(k);
    const code = randomBytes(24).toString('base64url');
    this.codes.set(code, { token, route, until: now + CODE_TTL_MS });
    return code;
  }

  redeemCode(code: string, route: string): string | undefined {
    const entry = this.codes.get(code);
    if (!entry) return undefined;
    this.codes.delete(code);
    return entry.route === route && entry.until > this.d.clock.now() ? entry.token : undefined;
  }

  policyFor(route: string): RoutePolicy | undefined {
    const r = this.parse(route);
    if (!r) return undefined;
    const owner = this.d.users.byName(r.owner);
    if (!owner) return undefined;
    if (r.port === undefined) return { kind: 'server', owner: r.owner, server: r.server };
    const share = this.d.ports.get(owner.id, r.server, r.port);
    if (!share) return undefined;
    if (share.expires_at && share.expires_at <= new Date(this.d.clock.now()).toISOString()) return undefined;
    return { kind: 'port', owner: r.owner, server: r.server, port: r.port, share };
  }

  /** 200 pass, 401 log in first, 403 logged in but not allowed, 404 nothing is shared there. */
  decide(policy: RoutePolicy | undefined, identity: Identity | undefined): 200 | 401 | 403 | 404 {
    if (!policy) return 404;
    if (policy.kind === 'port' && policy.share.level === 'public') return 200;
    if (!identity) return 401;
    // the owner, admins and anyone the server is shared with (access:servers on it)
    if (hasScope(identity.scopes, 'access:servers', { user: policy.owner, server: `${policy.owner}/${policy.server}`, userGroups: identity.groups })) return 200;
    if (policy.kind === 'server') return 403;
    const s = policy.share;
    if (s.level === 'authenticated' && identity.kind === 'user') return 200;
    if (s.level === 'users') {
      const users = JSON.parse(s.users) as string[];
      const groups = JSON.parse(s.groups) as string[];
      if (users.includes(identity.name) || identity.groups.some((g) => groups.includes(g))) return 200;
    }
    return 403;
  }

  /** labhub_auth route data the proxy acts on; with subdomains, logins happen at the hub's host. */
  routeData(version = 1): Record<string, unknown> {
    const check = `${this.d.hubTarget()}/hub/api/routes/authorize`;
    if (!this.hosts) return { check, login: '/hub/routes/login', version };
    return {
      check,
      login: `${this.hosts.hubOrigin}/hub/routes/login`,
      exchange: `${this.d.hubTarget()}/hub/api/routes/exchange`,
      secure: this.hosts.secure || this.d.config.secureCookies,
      version,
    };
  }

  /** Proxy routes for every live port share (kept by route reconciliation). */
  portRoutes(): Array<{ path: string; target: string; data: Record<string, unknown> }> {
    const now = new Date(this.d.clock.now()).toISOString();
    const out: Array<{ path: string; target: string; data: Record<string, unknown> }> = [];
    for (const p of this.d.ports.all()) {
      if (p.expires_at && p.expires_at <= now) continue;
      const path = this.shareRoute(p.owner_name, p.server_name, p.port);
      const target = path && this.portTarget(p.owner_name, p.server_name, p.port);
      if (!path || !target) continue;
      out.push({ path, target, data: { labhub_port: { owner: p.owner_name, server: p.server_name, port: p.port }, labhub_auth: this.routeData(p.version), labhub_strip_prefix: true } });
    }
    return out;
  }

  /** Where a port of a running server is reached: the spawner's answer, else the server's host. */
  portTarget(owner: string, server: string, port: number): string | undefined {
    const spawner = this.d.serverManager.runningSpawner(owner, server);
    if (!spawner) return undefined;
    // a spawner that can tell whose port it is decides alone (the local spawner checks /proc)
    if (spawner.portTarget) return spawner.portTarget(port);
    const user = this.d.users.byName(owner);
    const row = user ? this.d.servers.get(user.id, server) : undefined;
    if (!row?.url) return undefined;
    const u = new URL(row.url);
    return `${u.protocol}//${u.hostname.includes(':') ? `[${u.hostname}]` : u.hostname}:${port}`;
  }
}
