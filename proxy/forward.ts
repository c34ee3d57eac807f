/**
 * The HTTP hot path: forward one request to its upstream with undici's Pool.dispatch and a
 * hand-written handler (no intermediate streams, no header objects; raw header arrays in and out).
 * Header rules follow http-proxy-3 as CHP configures it (PROTOCOL.md A3).
 */
import type http from 'node:http';
import type { Dispatcher } from 'undici';
import type { Upstream } from './upstream.js';

export interface ForwardOptions {
  xfwd: boolean;
  changeOrigin: boolean;
  autoRewrite: boolean;
  protocolRewrite?: string;
  /** --custom-header, added to proxied requests (lower-cased name → value) */
  headers: [string, string][];
  proxyTimeout?: number;
}

/** What the forwarder reports back to the proxy (one shared object, no per-request closures). */
export interface ForwardSink {
  /** traffic on the route: request body data, or a response finished with status < 300 */
  activity(prefix: string): void;
  /** upstream failed: before a response started (→ 503), or mid-stream (connection dropped) */
  upstreamError(req: http.IncomingMessage, res: http.ServerResponse, err: Error): void;
}

// request headers never copied upstream: hop-by-hop, or ones undici owns
const DROP_REQ = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect', 'trailer', 'proxy-connection', 'te']);
const XFWD = new Set(['x-forwarded-for', 'x-forwarded-port', 'x-forwarded-proto', 'x-forwarded-host']);

function isEncrypted(req: http.IncomingMessage): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true;
}

/**
 * Build the upstream header list from req.rawHeaders: drop hop-by-hop headers, apply xfwd
 * (append for/port/proto, set host if absent), custom headers, and change-origin.
 */
export function upstreamHeaders(
  req: http.IncomingMessage,
  up: Upstream,
  opts: ForwardOptions,
  proto: 'http' | 'ws',
): string[] {
  // a 'proxyRequest' listener may have edited req.headers (CHP allows that): use them then
  const raw = (req as { labhubUseHeaders?: boolean }).labhubUseHeaders ? headersToRaw(req.headers) : req.rawHeaders;
  const out: string[] = [];
  let host: string | undefined;
  let xff: string | undefined;
  let xfport: string | undefined;
  let xfproto: string | undefined;
  let xfhost: string | undefined;
  const custom = opts.headers;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const lower = name.toLowerCase();
    const value = raw[i + 1];
    if (lower === 'host') {
      host = value;
      if (opts.changeOrigin) continue;
    } else if (DROP_REQ.has(lower)) {
      if (proto === 'ws' && (lower === 'connection' || lower === 'upgrade')) {
        out.push(name, value);
      }
      continue;
    } else if (opts.xfwd && XFWD.has(lower)) {
      // node joins duplicates with ', '; http-proxy appends its value with ','
      if (lower === 'x-forwarded-for') xff = xff === undefined ? value : `${xff}, ${value}`;
      else if (lower === 'x-forwarded-port') xfport = xfport === undefined ? value : `${xfport}, ${value}`;
      else if (lower === 'x-forwarded-proto') xfproto = xfproto === undefined ? value : `${xfproto}, ${value}`;
      else if (xfhost === undefined) xfhost = value;
      continue;
    }
    if (custom.length !== 0 && custom.some(([k]) => k.toLowerCase() === lower)) continue;
    out.push(name, value);
  }
  if (opts.changeOrigin) out.push('host', up.hostHeader);
  if (opts.xfwd) {
    const enc = isEncrypted(req);
    const m = host ? /:(\d+)/.exec(host) : null;
    const port = m ? m[1] : enc ? '443' : '80';
    const pr = proto === 'ws' ? (enc ? 'wss' : 'ws') : enc ? 'https' : 'http';
    const addr = req.socket.remoteAddress ?? '';
    out.push('x-forwarded-for', xff ? `${xff},${addr}` : addr);
    out.push('x-forwarded-port', xfport ? `${xfport},${port}` : port);
    out.push('x-forwarded-proto', xfproto ? `${xfproto},${pr}` : pr);
    if (proto === 'http') out.push('x-forwarded-host', xfhost || host || '');
    else if (xfhost !== undefined) out.push('x-forwarded-host', xfhost);
  }
  for (let i = 0; i < custom.length; i++) out.push(custom[i][0], custom[i][1]);
  return out;
}

function headersToRaw(h: http.IncomingHttpHeaders): string[] {
  const raw: string[] = [];
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) raw.push(k, x);
    else raw.push(k, String(v));
  }
  return raw;
}

const REDIRECT = /^201|30(1|2|7|8)$/;

/** the in-flight handler of a response (read by the shared 'close' listener) */
const kHandler = Symbol('labhubForwardHandler');
type TrackedResponse = http.ServerResponse & { [kHandler]?: ForwardHandler };

/** one shared 'close' listener for every response: no closure per request */
function onResponseClose(this: TrackedResponse): void {
  const handler = this[kHandler];
  this[kHandler] = undefined;
  if (handler !== undefined && !this.writableFinished) handler.clientClosed();
}

class ForwardHandler implements Dispatcher.DispatchHandler {
  private abortFn: ((err?: Error) => void) | null = null;
  private resumeFn: (() => void) | null = null;
  private status = 0;
  private done = false;

  constructor(
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    private readonly up: Upstream,
    private readonly opts: ForwardOptions,
    private readonly sink: ForwardSink,
    private readonly prefix: string,
    private readonly hasBody: boolean,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    if (this.done) {
      abort();
      return;
    }
    this.abortFn = abort;
    // attach now: undici starts reading the body in this same tick, so no chunk is missed
    if (this.hasBody) this.req.on('data', () => this.sink.activity(this.prefix));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    const res = this.res;
    if (this.done) return false;
    const headers: string[] = [];
    let locationIdx = -1;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i].toString('latin1');
      const l = name.length;
      // connection (10), keep-alive (10), transfer-encoding (17): hop-by-hop, node sets its own
      if (l === 10 || l === 17) {
        const lower = name.toLowerCase();
        if (lower === 'connection' || lower === 'keep-alive' || lower === 'transfer-encoding') continue;
      }
      if (l === 8 && name.toLowerCase() === 'location') locationIdx = headers.length + 1;
      headers.push(name, rawHeaders[i + 1].toString('latin1'));
    }
    if (locationIdx !== -1 && (this.opts.autoRewrite || this.opts.protocolRewrite) && REDIRECT.test(String(statusCode))) {
      headers[locationIdx] = this.rewriteLocation(headers[locationIdx]);
    }
    this.status = statusCode;
    res.writeHead(statusCode, statusText || undefined, headers as unknown as http.OutgoingHttpHeaders);
    this.resumeFn = resume;
    return true;
  }

  private rewriteLocation(location: string): string {
    try {
      const u = new URL(location, 'http://base.invalid');
      if (this.up.url.host !== u.host) return location;
      if (this.opts.autoRewrite) u.host = this.req.headers.host ?? '';
      if (this.opts.protocolRewrite) u.protocol = this.opts.protocolRewrite;
      return u.toString();
    } catch {
      return location;
    }
  }

  onData(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    // backpressure: undici pauses the upstream until resume(); hook 'drain' only now (most
    // responses never fill the client socket's buffer, so most requests never add this listener)
    const resume = this.resumeFn;
    if (resume !== null) {
      this.resumeFn = null;
      this.res.on('drain', resume);
    }
    return false;
  }

  onComplete(): void {
    if (this.done) return;
    this.done = true;
    this.res.end();
    if (this.status < 300) this.sink.activity(this.prefix);
  }

  onError(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.sink.upstreamError(this.req, this.res, err);
  }

  /** client went away: abort upstream (frees the pooled socket instead of leaking it) */
  clientClosed(): void {
    if (this.done) return;
    this.done = true;
    if (this.abortFn) this.abortFn();
  }
}

export function forward(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  up: Upstream,
  path: string,
  opts: ForwardOptions,
  sink: ForwardSink,
  prefix: string,
): void {
  const method = req.method ?? 'GET';
  const h = req.headers;
  const hasBody = (h['content-length'] !== undefined && h['content-length'] !== '0') || h['transfer-encoding'] !== undefined;
  const headers = upstreamHeaders(req, up, opts, 'http');
  if (!hasBody && (method === 'DELETE' || method === 'OPTIONS') && h['content-length'] === undefined) {
    headers.push('content-length', '0');
  }
  const handler = new ForwardHandler(req, res, up, opts, sink, prefix, hasBody);
  (res as TrackedResponse)[kHandler] = handler;
  res.on('close', onResponseClose);
  up.pool.dispatch(
    {
      path,
      method: method as Dispatcher.HttpMethod,
      headers,
      body: hasBody ? req : null,
      headersTimeout: opts.proxyTimeout || 0,
      bodyTimeout: opts.proxyTimeout || 0,
    },
    handler,
  );
}
