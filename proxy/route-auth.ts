/**
 * Hub authentication at the proxy, for routes whose data carries `labhub_auth` (shared ports,
 * apps without their own login). The proxy asks the hub's check endpoint whether the request's
 * route cookie (or `Authorization: token …`) may pass, caches the answer briefly, and strips the
 * cookie before forwarding so the app never sees a hub credential. A new `version` in the route
 * data (the hub re-posts the route when a share changes) makes cached answers obsolete at once.
 */
import { createHash } from 'node:crypto';
import type http from 'node:http';

export const ROUTE_COOKIE = 'labhub-route-auth';
const CACHE_MS = 5000;
const MAX_ENTRIES = 10_000;

export interface RouteAuthData {
  check: string;
  login: string;
  version?: number;
  /** set for a route on its own host (hub subdomainHost): where a one-time code is traded for the route token */
  exchange?: string;
  /** mark the route cookie Secure */
  secure?: boolean;
}

/** The path (under the route's own path) the hub sends a browser back to on a route's host, with a one-time code. */
export const ROUTE_LOGIN_PATH = '/_labhub/route-login';

/** `base`: the route's path on its host ('' for a share, '/user/alice' for a server). */
export function isRouteLogin(url: string | undefined, base = ''): boolean {
  const p = `${base}${ROUTE_LOGIN_PATH}`;
  return !!url && (url === p || url.startsWith(`${p}?`));
}

export type GateResult = { status: 200 } | { status: 401; login: string } | { status: 403 | 404 | 503 };

export function isRouteAuth(v: unknown): v is RouteAuthData {
  return typeof v === 'object' && v !== null && typeof (v as RouteAuthData).check === 'string' && typeof (v as RouteAuthData).login === 'string';
}

/** All values of one cookie, most specific path first (the order browsers send them). */
function cookieValues(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const out: string[] = [];
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) out.push(part.slice(i + 1).trim());
  }
  return out;
}

/** The request's Cookie header without our route cookie. */
export function stripRouteCookie(header: string | undefined): string | undefined {
  if (!header) return header;
  const kept = header.split(';').filter((p) => p.split('=')[0].trim() !== ROUTE_COOKIE).map((p) => p.trim());
  return kept.length ? kept.join('; ') : undefined;
}

/** Removes our route cookie from a request before it is forwarded (forwarders then use req.headers). */
export function dropRouteCookie(req: http.IncomingMessage): void {
  const cookie = stripRouteCookie(req.headers.cookie);
  if (cookie === req.headers.cookie) return;
  if (cookie === undefined) delete req.headers.cookie;
  else req.headers.cookie = cookie;
  (req as { labhubUseHeaders?: boolean }).labhubUseHeaders = true;
}

export class RouteAuthGate {
  private readonly cache = new Map<string, { result: GateResult; until: number }>();

  constructor(
    private readonly proxyToken: string | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  private credential(req: http.IncomingMessage): string {
    const cookie = cookieValues(req.headers.cookie, ROUTE_COOKIE)[0];
    if (cookie) return cookie;
    const m = /^\s*(?:token|bearer)\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    return m ? m[1] : '';
  }

  async check(req: http.IncomingMessage, prefix: string, auth: RouteAuthData): Promise<GateResult> {
    const token = this.credential(req);
    const key = `${prefix}|${auth.version ?? 0}|${token ? createHash('sha256').update(token).digest('base64url') : '-'}`;
    const hit = this.cache.get(key);
    const now = this.now();
    if (hit && hit.until > now) return hit.result;
    let result: GateResult;
    try {
      const res = await fetch(`${auth.check}?route=${encodeURIComponent(prefix)}`, {
        headers: { ...(this.proxyToken ? { Authorization: `token ${this.proxyToken}` } : {}), ...(token ? { 'X-LabHub-Route-Token': token } : {}) },
        signal: AbortSignal.timeout(5000),
      });
      await res.arrayBuffer().catch(() => undefined);
      const status = res.status;
      result = status === 200 ? { status: 200 } : status === 401 ? { status: 401, login: auth.login } : status === 403 || status === 404 ? { status } : { status: 503 };
    } catch {
      return { status: 503 }; // hub unreachable: never cached
    }
    if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
    this.cache.set(key, { result, until: now + CACHE_MS });
    return result;
  }

  /**
   * GET [route path]/_labhub/route-login?code=…&next=… on a route's own host: trade the code for
   * the route token at the hub and keep it in a host-only cookie; then go on to `next` on this host.
   */
  async setCookie(req: http.IncomingMessage, res: http.ServerResponse, prefix: string, auth: RouteAuthData, cookiePath = '/'): Promise<void> {
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const code = q.get('code') ?? '';
    const rawNext = q.get('next') ?? '/';
    const next = /^\/(?![/\\])/.test(rawNext) ? rawNext : '/';
    let token: string | undefined;
    if (code && req.method === 'GET') {
      try {
        const r = await fetch(`${auth.exchange}?${new URLSearchParams({ route: prefix, code })}`, {
          headers: this.proxyToken ? { Authorization: `token ${this.proxyToken}` } : {},
          signal: AbortSignal.timeout(5000),
        });
        const body = (await r.json().catch(() => ({}))) as { token?: unknown };
        if (r.status === 200 && typeof body.token === 'string' && body.token) token = body.token;
      } catch {
        return RouteAuthGate.refuse(req, res, prefix, { status: 503 });
      }
    }
    if (!token) {
      const body = JSON.stringify({ status: 403, message: 'This sign-in link is unknown, used or expired; open the address again' });
      res.writeHead(403, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
      return void res.end(body);
    }
    res.writeHead(302, {
      Location: next,
      'Set-Cookie': `${ROUTE_COOKIE}=${token}; Path=${cookiePath}; HttpOnly; SameSite=Lax${auth.secure ? '; Secure' : ''}`,
      'Cache-Control': 'no-store',
      'Content-Length': '0',
    });
    res.end();
  }

  /** Answers a refused web request: browsers are sent to log in, API clients get the status. */
  static refuse(req: http.IncomingMessage, res: http.ServerResponse, prefix: string, result: Exclude<GateResult, { status: 200 }>): void {
    const wantsHtml = req.method === 'GET' && (req.headers.accept ?? '').includes('text/html');
    if (result.status === 401 && wantsHtml) {
      res.writeHead(302, { Location: `${result.login}?route=${encodeURIComponent(prefix)}&next=${encodeURIComponent(req.url ?? prefix)}`, 'Content-Length': '0' });
      res.end();
      return;
    }
    const message = result.status === 401 ? 'Log in to the hub first' : result.status === 403 ? 'You do not have access to this' : result.status === 404 ? 'Nothing is shared here' : 'The hub could not be asked who you are';
    const body = JSON.stringify({ status: result.status, message });
    res.writeHead(result.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }
}
