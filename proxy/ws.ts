/**
 * Websocket (any HTTP Upgrade) forwarding as a raw TCP tunnel: write the rewritten request head to
 * the upstream socket, then pipe bytes both ways. The upstream's own 101 response (or its refusal)
 * reaches the client unchanged, and frames are never parsed, so the message rate is that of two
 * pipes. Either side closing or failing tears down both sockets: nothing is left half-open.
 */
import type http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { upstreamHeaders, type ForwardOptions } from './forward.js';
import type { ClientTls, Upstream } from './upstream.js';

export interface TunnelCallbacks {
  /** client sent data (websocket frames) */
  onClientData(): void;
  /** upstream unreachable or failed before answering (→ 503) */
  onError(err: Error): void;
}

export interface TunnelOptions extends ForwardOptions {
  insecure?: boolean;
  clientSsl?: ClientTls;
}

export function tunnel(
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
  up: Upstream,
  path: string,
  opts: TunnelOptions,
  cb: TunnelCallbacks,
): void {
  const headers = upstreamHeaders(req, up, opts, 'ws');
  let text = `${req.method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  text += '\r\n';

  const port = Number(up.url.port) || (up.secure ? 443 : 80);
  const host = up.url.hostname.startsWith('[') ? up.url.hostname.slice(1, -1) : up.url.hostname;
  const upstream: net.Socket = up.socketPath
    ? net.connect({ path: up.socketPath })
    : up.secure
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, rejectUnauthorized: !opts.insecure, ...opts.clientSsl })
      : net.connect({ host, port });

  let answered = false; // upstream has sent something back
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  const teardown = () => {
    if (closed) return;
    closed = true;
    if (timer) clearTimeout(timer);
    upstream.destroy();
    socket.destroy();
  };

  upstream.setNoDelay(true);
  upstream.setKeepAlive(true, 0);
  if ('setNoDelay' in socket) {
    (socket as net.Socket).setTimeout(0);
    (socket as net.Socket).setNoDelay(true);
    (socket as net.Socket).setKeepAlive(true, 0);
  }

  // writes before (secure)connect are queued by the socket, so the head goes first
  upstream.write(text);
  if (head && head.length) upstream.write(head);
  // hand-rolled pipes (data → write, pause on backpressure, resume on drain): less per-chunk
  // machinery than stream.pipe(), and the activity hook rides on the same listener
  const onActivity = cb.onClientData;
  socket.on('data', (chunk: Buffer) => {
    onActivity();
    if (!upstream.write(chunk)) socket.pause();
  });
  upstream.on('drain', () => socket.resume());
  upstream.on('data', (chunk: Buffer) => {
    if (!answered) {
      answered = true;
      if (timer) clearTimeout(timer);
    }
    if (!socket.write(chunk)) upstream.pause();
  });
  socket.on('drain', () => upstream.resume());
  socket.on('end', () => upstream.end());
  upstream.on('end', () => socket.end());

  if (opts.proxyTimeout) {
    timer = setTimeout(() => {
      if (!answered) fail(new Error('websocket upstream timed out'));
    }, opts.proxyTimeout);
  }

  const fail = (err: Error) => {
    if (closed) return;
    if (!answered && !socket.destroyed) {
      closed = true;
      if (timer) clearTimeout(timer);
      upstream.destroy();
      cb.onError(err); // writes a status line and ends the client socket
    } else {
      teardown();
    }
  };

  upstream.on('error', fail);
  upstream.on('close', () => {
    if (!closed) {
      closed = true;
      if (timer) clearTimeout(timer);
      // let the client read what the upstream already sent, then close
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    }
  });
  socket.on('error', teardown);
  socket.on('close', teardown);
}
