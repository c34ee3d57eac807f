/**
 * Web terminals: a WebSocket on the hub (/hub/terminal/:user[/:server]/ws) bridged to the spawner's
 * terminal() (a pty, docker exec, …). Sessions survive a dropped connection for a short while, so
 * the page can reconnect to the same shell (the recent output is replayed); idle sessions end.
 * Access: your own running server, or someone else's with the `terminal` scope (admins), which is
 * logged as an audit event. The Origin must be this hub (no cross-site WebSocket hijacking).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Identity } from './access.js';
import type { HubDeps } from './deps.js';
import { hasScope } from './scopes.js';
import type { TerminalSession } from '../spawners/spawner.js';

const PATH_RE = /^\/hub\/terminal\/([^/]+)(?:\/([^/]+))?\/ws$/;
const REPLAY_BYTES = 64 * 1024;

interface Session {
  id: string;
  owner: string;
  server: string;
  openedBy: string;
  term: TerminalSession;
  buffer: string;
  socket: WebSocket | null;
  detachTimer: NodeJS.Timeout | null;
  idleTimer: NodeJS.Timeout | null;
  exited: boolean;
}

export interface TerminalOptions {
  /** Close a shell nobody typed into or read from for this long. */
  idleTimeoutMs: number;
  /** Keep a shell whose page went away for this long, for a reconnect. */
  reconnectGraceMs: number;
}

function reject(socket: Duplex, status: number, message: string): void {
  socket.write(`HTTP/1.1 ${status} ${message}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}

export class TerminalManager {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly d: HubDeps,
    private readonly opts: TerminalOptions = { idleTimeoutMs: 30 * 60_000, reconnectGraceMs: 60_000 },
  ) {}

  static matches(url: string | undefined): boolean {
    return !!url && PATH_RE.test(url.split('?')[0]);
  }

  /** Who may open a terminal into user/server: the owner, or a holder of `terminal` on it. */
  static allowed(identity: Identity, owner: string, server: string): boolean {
    return hasScope(identity.scopes, 'terminal', { user: owner, server: `${owner}/${server}`, userGroups: [] });
  }

  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, identity: Identity | undefined): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://hub');
    const m = PATH_RE.exec(url.pathname);
    if (!m) return reject(socket, 404, 'Not Found');
    const origin = req.headers.origin;
    const hosts = [req.headers.host, req.headers['x-forwarded-host']].filter(Boolean);
    if (origin) {
      let originHost: string | undefined;
      try {
        originHost = new URL(origin).host;
      } catch {
        originHost = undefined;
      }
      if (!originHost || !hosts.includes(originHost)) return reject(socket, 403, 'Forbidden');
    }
    if (!identity) return reject(socket, 403, 'Forbidden');
    const owner = decodeURIComponent(m[1]);
    const server = m[2] ? decodeURIComponent(m[2]) : '';
    if (!TerminalManager.allowed(identity, owner, server)) return reject(socket, 403, 'Forbidden');
    const wantSession = url.searchParams.get('session');
    let session = wantSession ? this.sessions.get(wantSession) : undefined;
    if (session && (session.owner !== owner || session.server !== server || session.openedBy !== identity.name)) session = undefined;
    if (!session) {
      const spawner = this.d.serverManager.runningSpawner(owner, server);
      if (!spawner) return reject(socket, 409, 'Conflict');
      if (!spawner.terminal) return reject(socket, 501, 'Not Implemented');
      const cols = clamp(Number(url.searchParams.get('cols') ?? 80), 2, 500);
      const rows = clamp(Number(url.searchParams.get('rows') ?? 24), 2, 300);
      let term: TerminalSession;
      try {
        term = await spawner.terminal({ cols, rows });
      } catch (err) {
        this.d.log.warn({ owner, server, err: String(err) }, 'terminal failed to open');
        return reject(socket, 500, 'Internal Server Error');
      }
      session = this.open(term, owner, server, identity);
    }
    const s = session;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(s, ws));
  }

  private open(term: TerminalSession, owner: string, server: string, identity: Identity): Session {
    const s: Session = { id: randomBytes(12).toString('base64url'), owner, server, openedBy: identity.name, term, buffer: '', socket: null, detachTimer: null, idleTimer: null, exited: false };
    this.sessions.set(s.id, s);
    const event = identity.name === owner ? 'terminal-opened' : 'terminal-opened-by-admin';
    this.d.log.info({ owner, server, by: identity.name, event }, 'terminal opened');
    term.onData((data) => {
      s.buffer = (s.buffer + data).slice(-REPLAY_BYTES);
      this.touch(s);
      s.socket?.send(JSON.stringify({ type: 'output', data }));
    });
    term.onExit((code) => {
      s.exited = true;
      s.socket?.send(JSON.stringify({ type: 'exit', code }));
      s.socket?.close(1000, 'shell exited');
      this.end(s);
    });
    this.touch(s);
    return s;
  }

  private attach(s: Session, ws: WebSocket): void {
    if (s.detachTimer) clearTimeout(s.detachTimer);
    s.detachTimer = null;
    s.socket?.close(4000, 'reattached elsewhere');
    s.socket = ws;
    ws.send(JSON.stringify({ type: 'session', id: s.id }));
    if (s.buffer) ws.send(JSON.stringify({ type: 'output', data: s.buffer }));
    // A listener that throws here would be an uncaught exception, which ends the whole hub: anything
    // but a well-formed message is ignored, and a failing pty call ends only this terminal.
    ws.on('message', (raw) => {
      const msg = parseMessage(raw.toString());
      if (!msg) return;
      this.touch(s);
      try {
        if (msg.type === 'input' && typeof msg.data === 'string') s.term.write(msg.data);
        else if (msg.type === 'resize') s.term.resize(clamp(Number(msg.cols), 2, 500), clamp(Number(msg.rows), 2, 300));
        else if (msg.type === 'close') this.end(s);
      } catch (err) {
        this.d.log.warn({ owner: s.owner, server: s.server, err: String(err) }, 'terminal failed; closing it');
        this.end(s);
      }
    });
    // ws emits 'error' for protocol violations (an oversized frame, bad UTF-8) and then closes the
    // connection itself; unheard, the event would throw and end the hub
    ws.on('error', (err) => this.d.log.info({ owner: s.owner, server: s.server, err: err.message }, 'terminal connection error'));
    ws.on('close', () => {
      if (s.socket !== ws) return;
      s.socket = null;
      if (s.exited) return;
      s.detachTimer = setTimeout(() => this.end(s), this.opts.reconnectGraceMs);
      s.detachTimer.unref();
    });
  }

  private touch(s: Session): void {
    if (s.idleTimer) clearTimeout(s.idleTimer);
    s.idleTimer = setTimeout(() => {
      s.socket?.send(JSON.stringify({ type: 'exit', code: null, reason: 'idle timeout' }));
      this.end(s);
    }, this.opts.idleTimeoutMs);
    s.idleTimer.unref();
  }

  private end(s: Session): void {
    if (!this.sessions.delete(s.id)) return;
    if (s.idleTimer) clearTimeout(s.idleTimer);
    if (s.detachTimer) clearTimeout(s.detachTimer);
    s.term.close();
    s.socket?.close(1000, 'terminal closed');
    this.d.log.info({ owner: s.owner, server: s.server, by: s.openedBy, event: 'terminal-closed' }, 'terminal closed');
  }

  /** Sessions into a server (the server stopped: they end). */
  closeFor(owner: string, server: string): void {
    for (const s of [...this.sessions.values()]) if (s.owner === owner && s.server === server) this.end(s);
  }

  count(): number {
    return this.sessions.size;
  }

  dispose(): void {
    for (const s of [...this.sessions.values()]) this.end(s);
    this.wss.close();
  }
}

/** A client message: a JSON object, else undefined (`null`, arrays, scalars and broken JSON are ignored). */
function parseMessage(text: string): { type?: unknown; data?: unknown; cols?: unknown; rows?: unknown } | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function clamp(n: number, lo: number, hi: number): number {
  return Number.isFinite(n) ? Math.min(hi, Math.max(lo, Math.round(n))) : lo;
}
