/**
 * Proxy error responses (CHP handleProxyError): 404 no route, 503 target error/timeout, 500 routing
 * exception. Web requests get the --error-target page, else the --error-path (built-in) page, else the
 * status text; websockets get a bare status line.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProxyLogger } from './log.js';
import type { ProxyMetrics } from './metrics.js';
import { logUrl } from './paths.js';

export const BUILTIN_ERROR_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'error');

const QUIET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]);

export interface ErrorContext {
  log: ProxyLogger;
  metrics: ProxyMetrics;
  errorTarget?: string;
  errorPath?: string;
  insecure?: boolean;
  clientSsl?: { key?: Buffer | string; cert?: Buffer | string; ca?: Buffer | string | (Buffer | string)[] };
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
}

function describe(e: unknown): unknown {
  if (!e) return '';
  const err = e as NodeJS.ErrnoException;
  return err.code && QUIET_CODES.has(err.code) ? err.message : e;
}

/** Plain status text, no content type (CHP _handleProxyErrorDefault). */
export function sendDefault(code: number, res: http.ServerResponse): void {
  if (res.writableEnded || res.destroyed) return;
  if (!res.headersSent) res.writeHead(code);
  res.end(http.STATUS_CODES[code]);
}

export function handleWsError(ctx: ErrorContext, code: number, req: http.IncomingMessage, socket: Duplex, e?: unknown): void {
  ctx.metrics.requestsProxyCount.labels(code).inc();
  ctx.log.error('%s %s %s %s', code, req.method, logUrl(req.url), describe(e));
  if (!socket.destroyed && socket.writable) {
    socket.end(`HTTP/${req.httpVersion} ${code}\r\nContent-Length: 0\r\n\r\n`);
  } else {
    socket.destroy();
  }
}

export function handleWebError(ctx: ErrorContext, code: number, req: http.IncomingMessage, res: http.ServerResponse, e?: unknown): void {
  ctx.metrics.requestsProxyCount.labels(code).inc();
  ctx.log.error('%s %s %s %s', code, req.method, logUrl(req.url), describe(e));
  if (res.headersSent) {
    // mid-stream failure: nothing sensible to add, just drop the connection
    res.destroy();
    return;
  }
  if (ctx.errorTarget) return fromErrorTarget(ctx, code, req, res);
  if (ctx.errorPath) return fromErrorPath(ctx, ctx.errorPath, code, res);
  sendDefault(code, res);
}

function fromErrorTarget(ctx: ErrorContext, code: number, req: http.IncomingMessage, res: http.ServerResponse): void {
  let base = ctx.errorTarget!;
  if (!base.endsWith('/')) base += '/';
  const target = new URL(base);
  target.searchParams.set('url', req.url ?? '');
  target.pathname = target.pathname + String(code);
  const opts: https.RequestOptions = { method: 'GET' };
  let mod: typeof http | typeof https = http;
  if (target.protocol.startsWith('http+unix') || target.protocol.startsWith('unix+http')) {
    opts.socketPath = decodeURIComponent(target.host);
    opts.path = target.pathname + target.search;
    opts.host = 'localhost';
    opts.agent = false;
  } else if (target.protocol === 'https:') {
    mod = https;
    Object.assign(opts, { agent: ctx.httpsAgent, rejectUnauthorized: !ctx.insecure, ...ctx.clientSsl });
  } else {
    opts.agent = ctx.httpAgent;
  }
  ctx.log.debug('Requesting custom error page: %s', target.toString());
  const onResponse = (upstream: http.IncomingMessage) => {
    if (res.writableEnded || res.destroyed) {
      upstream.resume();
      return;
    }
    for (const key of ['content-type', 'content-encoding']) {
      const v = upstream.headers[key];
      if (v) res.setHeader(key, v);
    }
    res.writeHead(code);
    upstream.pipe(res);
  };
  const errorRequest = opts.socketPath
    ? mod.request(opts, onResponse)
    : mod.request(target, opts, onResponse);
  errorRequest.on('error', (e) => {
    ctx.log.error('Failed to get custom error page: %s', e);
    sendDefault(code, res);
  });
  res.on('close', () => {
    if (!res.writableFinished) errorRequest.destroy();
  });
  errorRequest.end();
}

function fromErrorPath(ctx: ErrorContext, dir: string, code: number, res: http.ServerResponse): void {
  let filename = path.join(dir, `${code}.html`);
  if (!fs.existsSync(filename)) {
    ctx.log.debug('No error file %s', filename);
    filename = path.join(dir, 'error.html');
    if (!fs.existsSync(filename)) {
      ctx.log.error('No error file %s', filename);
      return sendDefault(code, res);
    }
  }
  fs.readFile(filename, (err, data) => {
    if (err) {
      ctx.log.error('Error reading %s %s', filename, err);
      return sendDefault(code, res);
    }
    if (!res.writable || res.headersSent) return;
    res.writeHead(code, { 'Content-Type': 'text/html' });
    res.end(data);
  });
}
