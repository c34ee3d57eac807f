/**
 * The only place that writes error bodies: JSON {status, message} for the API (JupyterHub clients
 * read both), the error page for browsers. 5xx are logged with their stack, 4xx at info.
 */
import type { ErrorRequestHandler, Request } from 'express';
import type { ServerResponse } from 'node:http';
import { HubError } from '../errors.js';
import type { Logger } from '../log.js';

export function wantsJson(req: Request): boolean {
  if (req.path.startsWith('/hub/api') || req.originalUrl.startsWith('/hub/api')) return true;
  const accept = req.headers.accept ?? '';
  return !accept.includes('text/html') && (accept.includes('application/json') || req.method !== 'GET');
}

/** body-parser and friends throw errors with `status`/`type`; give them clear messages. */
export function normalize(err: unknown): HubError {
  if (err instanceof HubError) return err;
  const e = err as { status?: number; statusCode?: number; type?: string; message?: string };
  const status = e?.status ?? e?.statusCode;
  if (e?.type === 'entity.parse.failed') return new HubError(400, 'Invalid JSON in request body');
  if (e?.type === 'entity.too.large') return new HubError(413, 'Request body too large');
  if (typeof status === 'number' && status >= 400 && status < 500) return new HubError(status, e.message ?? 'Bad request');
  return new HubError(500, 'Internal server error', { cause: err, logMessage: (err as Error)?.stack ?? String(err) });
}

function logError(log: Logger, error: HubError, req: { originalUrl: string; method: string }): void {
  if (error.status >= 500) log.error({ err: error.logMessage ?? error.message, cause: error.cause instanceof Error ? error.cause.stack : undefined, url: req.originalUrl, method: req.method }, 'request failed');
  else log.info({ status: error.status, url: req.originalUrl, method: req.method, reason: error.message }, 'request rejected');
}

/** The API's error answer on a plain node:http response (hub/http/api-router.ts). */
export function writeApiError(log: Logger, err: unknown, req: { originalUrl: string; method: string }, res: ServerResponse): void {
  const error = normalize(err);
  logError(log, error, req);
  if (res.headersSent) return void res.end();
  for (const [k, v] of Object.entries(error.headers ?? {})) res.setHeader(k, v);
  const body = JSON.stringify({ status: error.status, code: error.code, message: error.message });
  res.writeHead(error.status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const error = normalize(err);
    logError(log, error, req);
    if (res.headersSent) {
      res.end();
      return;
    }
    for (const [k, v] of Object.entries(error.headers ?? {})) res.setHeader(k, v);
    res.status(error.status);
    if (wantsJson(req)) {
      res.json({ status: error.status, code: error.code, message: error.message });
      return;
    }
    res.render('error', { status: error.status, message: error.message, htmlMessage: error.htmlMessage, identity: req.identity, xsrf: req.xsrfToken });
  };
}
