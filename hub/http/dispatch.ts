/**
 * The hub's one request listener: what every request gets (a request id, the JupyterHub version
 * header, the request-duration metric, cached identities dropped after writes), then the REST API
 * router when it has the route, else Express (pages, OAuth, static files, JSON 404s).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { HubMetrics } from '../metrics.js';
import { requestContext } from '../request-context.js';
import { JUPYTERHUB_API_VERSION } from '../version.js';
import type { ApiCaller, ApiRouter } from './api-router.js';
import { HubError } from '../errors.js';

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
// Request ids only need to be unique in the logs: a random prefix per process plus a counter, so a
// request doesn't pay for reading the random pool.
const ID_PREFIX = randomBytes(4).toString('hex');
let idCounter = 0;
const nextRequestId = () => `${ID_PREFIX}${(++idCounter).toString(16).padStart(8, '0')}`;

export interface DispatchDeps {
  api: ApiRouter;
  caller: ApiCaller;
  pages: RequestListener;
  metrics: HubMetrics;
  /** Called when a write request finishes: any write may change who can do what. */
  afterWrite: () => void;
}

export function createDispatcher(d: DispatchDeps): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const incoming = req.headers['x-request-id'];
    const reqId = typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : nextRequestId();
    res.setHeader('X-Request-Id', reqId);
    res.setHeader('X-JupyterHub-Version', JUPYTERHUB_API_VERSION);
    const method = req.method ?? 'GET';
    const matched = d.api.match(method, req.url ?? '/');
    const started = performance.now();
    res.once('finish', () => {
      if (method !== 'GET' && method !== 'HEAD') d.afterWrite();
      const handler = matched?.route.path ?? (req as { route?: { path?: unknown } }).route?.path;
      d.metrics.requestDuration.observe({ method, handler: handler ? String(handler) : 'unmatched', code: String(res.statusCode) }, (performance.now() - started) / 1000);
    });
    requestContext.run({ reqId, req: req as { identity?: { name: string } } }, () => {
      if (!matched) {
        // A known API resource asked with a method it does not serve: JupyterHub answers before any
        // credential or XSRF check — 405 with Allow, and OPTIONS (CORS preflight) an empty 200
        const allow = (req.url ?? '').startsWith('/hub/api') ? d.api.allowedMethods(req.url ?? '/') : [];
        if (!allow.length) return d.pages(req, res);
        res.setHeader('Allow', allow.join(', '));
        if (method === 'OPTIONS') return void res.writeHead(200, { 'Content-Length': '0' }).end();
        return d.caller.fail(new HubError(405, 'Method Not Allowed'), { originalUrl: req.url ?? '/', method }, res);
      }
      // JSON answers need no CSP; they must not be sniffed or framed
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('X-Frame-Options', 'DENY');
      d.api.serve(req, res, matched, d.caller);
    });
  };
}
