/**
 * The REST API's own HTTP layer, on plain node:http with find-my-way's radix router. Express stays
 * for pages and the OAuth browser endpoints; API calls (scripts, cullers, single-user servers polling
 * /hub/api/user) are the hub's hot path, and Express's middleware walk, res.json and header plumbing
 * cost more CPU than the whole JupyterHub-model answer (bench/api). Requests whose path has no API
 * route fall through to Express, which answers unknown /hub/api paths with a JSON 404.
 *
 * Each route declares the scope it needs (as JupyterHub's @needs_scope); the router authenticates
 * (token header, else login cookie + _xsrf for writes), parses the JSON body, checks the scope, runs
 * the handler and turns any thrown error into JupyterHub's {status, message}.
 */
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { Identity } from '../access.js';
import { HubError } from '../errors.js';
import { hasAnyScope, hasScope, isKnownScope, type ScopeTarget } from '../scopes.js';
import { readBody } from './body.js';

export type Query = Record<string, string | string[] | undefined>;

export interface ApiRequest {
  readonly raw: IncomingMessage;
  readonly method: string;
  /** Path without the query string, as sent (not decoded). */
  readonly path: string;
  /** Path and query string, as sent. */
  readonly originalUrl: string;
  readonly headers: IncomingHttpHeaders;
  /** Route parameters, percent-decoded. */
  readonly params: Record<string, string | undefined>;
  readonly query: Query;
  /** The parsed body of a write request ({} when empty). */
  body: unknown;
  /** True when a write request came without a body (or only whitespace). */
  bodyEmpty?: boolean;
  identity?: Identity;
}

/** The small part of a response API handlers use; `raw` is there for streams (progress events). */
export class ApiResponse {
  constructor(readonly raw: ServerResponse) {}

  get headersSent(): boolean {
    return this.raw.headersSent;
  }

  status(code: number): this {
    this.raw.statusCode = code;
    return this;
  }

  set(name: string, value: string): this {
    this.raw.setHeader(name, value);
    return this;
  }

  type(contentType: string): this {
    return this.set('Content-Type', contentType);
  }

  json(value: unknown): void {
    const body = JSON.stringify(value);
    if (!this.raw.hasHeader('Content-Type')) this.raw.setHeader('Content-Type', 'application/json; charset=utf-8');
    this.send(body);
  }

  /** Sends text that already is JSON. */
  jsonText(text: string): void {
    if (!this.raw.hasHeader('Content-Type')) this.raw.setHeader('Content-Type', 'application/json; charset=utf-8');
    this.send(text);
  }

  send(body: string): void {
    this.raw.setHeader('Content-Length', Buffer.byteLength(body));
    this.raw.end(body);
  }

  end(): void {
    this.raw.end();
  }

  redirect(status: number, location: string): void {
    this.raw.statusCode = status;
    this.raw.setHeader('Location', location);
    this.raw.end();
  }
}

export type ApiHandler = (req: ApiRequest, res: ApiResponse) => void | Promise<void>;

export interface RouteOptions {
  /** The scope the caller needs; omitted only for endpoints that are open or check access themselves. */
  scope?: string;
  /** Which resource the scope must cover (from the request), for filtered scopes. */
  target?: (req: ApiRequest) => ScopeTarget;
  /** Only require some identity (no particular scope), e.g. GET /hub/api/user. */
  authenticated?: boolean;
  /** Largest accepted body in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** The write takes no body: whatever is sent is not read or parsed (JupyterHub's POST /proxy). */
  noBody?: boolean;
}

interface Route {
  /** The declared path (the metrics' handler label). */
  path: string;
  opts: RouteOptions;
  handler: ApiHandler;
}

/** What the router needs from the hub: who is calling, and what happens around each request. */
export interface ApiCaller {
  /** Resolves the identity (token or login cookie) and enforces _xsrf for cookie-authenticated writes. */
  authenticate(req: ApiRequest, res: ServerResponse): Identity | undefined | Promise<Identity | undefined>;
  /** Writes the error response (the hub's one error writer). */
  fail(err: unknown, req: Pick<ApiRequest, 'originalUrl' | 'method'>, res: ServerResponse): void;
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export class ApiRouter {
  private readonly fmw = FindMyWay({ ignoreTrailingSlash: true, maxParamLength: 512, caseSensitive: true });
  private readonly registered: Array<{ method: HTTPMethod; route: Route }> = [];
  private readonly methods = new Set<HTTPMethod>();

  get(path: string, opts: RouteOptions, handler: ApiHandler): this {
    return this.on('GET', path, opts, handler);
  }

  post(path: string, opts: RouteOptions, handler: ApiHandler): this {
    return this.on('POST', path, opts, handler);
  }

  put(path: string, opts: RouteOptions, handler: ApiHandler): this {
    return this.on('PUT', path, opts, handler);
  }

  patch(path: string, opts: RouteOptions, handler: ApiHandler): this {
    return this.on('PATCH', path, opts, handler);
  }

  delete(path: string, opts: RouteOptions, handler: ApiHandler): this {
    return this.on('DELETE', path, opts, handler);
  }

  on(method: HTTPMethod, path: string, opts: RouteOptions, handler: ApiHandler): this {
    if (opts.scope !== undefined && !isKnownScope(opts.scope)) throw new Error(`unknown scope in handler declaration: ${opts.scope}`);
    const route: Route = { path, opts, handler };
    this.fmw.on(method, path, () => undefined, route);
    this.registered.push({ method, route });
    this.methods.add(method);
    return this;
  }

  /** Every registered route as (method, path pattern): for the API's self-description in tests and docs. */
  routes(): Array<{ method: string; path: string; scope?: string }> {
    return this.registered.map(({ method, route }) => ({ method, path: route.path, scope: route.opts.scope }));
  }

  /** The methods the API serves at this URL's path (for 405 and Allow); empty when the path is not the API's. */
  allowedMethods(url: string): string[] {
    const path = stripQuery(url);
    return [...this.methods].filter((m) => this.fmw.find(m, path) !== null);
  }

  /** Finds the route for a request; undefined when the API has none (Express answers). */
  match(method: string, url: string): { route: Route; params: Record<string, string | undefined> } | undefined {
    const found = this.fmw.find((method === 'HEAD' ? 'GET' : method) as HTTPMethod, stripQuery(url));
    if (!found) return undefined;
    return { route: found.store as Route, params: found.params };
  }

  /**
   * Serves a matched request end to end; never throws. Reads without a body, authenticated by token,
   * run synchronously up to the handler: no promise per step on the hot path.
   */
  serve(raw: IncomingMessage, res: ServerResponse, matched: { route: Route; params: Record<string, string | undefined> }, caller: ApiCaller): void {
    const url = raw.url ?? '/';
    const q = url.indexOf('?');
    const req: ApiRequest = {
      raw,
      method: raw.method ?? 'GET',
      path: q < 0 ? url : url.slice(0, q),
      originalUrl: url,
      headers: raw.headers,
      params: matched.params,
      query: q < 0 ? {} : (parseQuery(url.slice(q + 1)) as Query),
      body: {},
    };
    const { opts, handler } = matched.route;
    const fail = (err: unknown) => caller.fail(err, req, res);
    const run = (identity: Identity | undefined) => {
      req.identity = identity;
      authorize(req, opts);
      const done = handler(req, new ApiResponse(res));
      if (done) done.then(undefined, fail);
    };
    try {
      if (WRITES.has(req.method) && !opts.noBody) {
        readBody(raw, opts.bodyLimit ?? DEFAULT_BODY_LIMIT)
          .then((body) => {
            req.body = body === undefined ? {} : body;
            req.bodyEmpty = body === undefined;
            return caller.authenticate(req, res);
          })
          .then(run)
          .catch(fail);
        return;
      }
      const identity = caller.authenticate(req, res);
      if (identity instanceof Promise) identity.then(run).catch(fail);
      else run(identity);
    } catch (err) {
      fail(err);
    }
  }
}

function stripQuery(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/**
 * The @needs_scope check: 403 without credentials or without the scope at all; 404 when the scope
 * is held only for other resources, so callers can't probe what exists.
 */
export function authorize(req: ApiRequest, opts: RouteOptions): void {
  if (opts.scope === undefined) {
    if (opts.authenticated && !req.identity) throw new HubError(403, 'Missing or invalid credentials');
    return;
  }
  const id = req.identity;
  if (!id) throw new HubError(403, 'Missing or invalid credentials');
  if (!opts.target) {
    if (hasAnyScope(id.scopes, opts.scope)) return;
    throw new HubError(403, `Action is not authorized with current scopes; requires any of [${opts.scope}]`);
  }
  if (hasScope(id.scopes, opts.scope, opts.target(req))) return;
  if (hasAnyScope(id.scopes, opts.scope)) throw new HubError(404, 'No access to resources or resources not found');
  throw new HubError(403, `Action is not authorized with current scopes; requires any of [${opts.scope}]`);
}
