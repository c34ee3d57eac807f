/**
 * The audit log: who did what, kept in the database (table audit_log, migration 0003).
 *
 * Every place that already logs an action with a structured `event` field (logins, user and group
 * changes, token creation/revocation, shares, admin actions) is recorded without further code:
 * the hub's logger is wrapped by auditingLogger(), which hands each `{event: …}` log call to
 * AuditLog.fromEvent() before pino sees it (whatever the log level). Spawns and stops are logged by
 * ServerManager with `event: 'server-start' | 'server-stop'`, culling and schedules with `by: 'system'`.
 * Secret-looking fields never reach the table (same names pino redacts).
 */
import type { Clock } from './clock.js';
import { isoNow } from './clock.js';
import { prep, type Db } from './db/db.js';
import type { Logger } from './log.js';
import { currentActor } from './request-context.js';

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  /** Exact target (user:alice) or a prefix ending in '*' (server:alice/*). */
  target?: string;
  since?: string;
  until?: string;
  offset?: number;
  limit?: number;
}

const SECRET_KEY = /pass(word)?|token|secret|auth_?state|cookie|authorization/i;
/** Fields that are who/what, not details. */
const STRUCTURAL = new Set(['event', 'by', 'msg', 'level', 'time', 'pid', 'hostname', 'app', 'component', 'reqId']);
/** Events where the subject acts on their own account (no `by`). */
const SELF_EVENTS = new Set(['login', 'logout', 'login-failed', 'login-refused', 'password-changed', 'signup-requested', 'token-revoked', 'oauth-app-revoked', 'share-code-accepted', 'token-refreshed', 'refresh-failed']);

function nameOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { name?: unknown }).name === 'string') return (v as { name: string }).name;
  return undefined;
}

function cleanDetails(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (STRUCTURAL.has(k) || v === undefined) continue;
    // tokenId is the token's id (a12), never the token
    if (k !== 'tokenId' && SECRET_KEY.test(k)) continue;
    out[k] = v;
  }
  return out;
}

export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  record(actor: string, action: string, target = '', details: Record<string, unknown> = {}): void {
    let json = JSON.stringify(details);
    if (json.length > 4000) json = JSON.stringify({ truncated: json.slice(0, 3900) });
    prep(this.db, 'INSERT INTO audit_log (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)').run(isoNow(this.clock), actor.slice(0, 200), action.slice(0, 100), target.slice(0, 300), json);
  }

  /** Turns a structured log line `{event, by?, user?, group?, owner?, server?, …}` into an entry. */
  fromEvent(obj: Record<string, unknown>): void {
    const action = String(obj.event);
    const user = nameOf(obj.user);
    const by = nameOf(obj.by);
    const actor = by ?? (SELF_EVENTS.has(action) && user ? user : (currentActor() ?? 'system'));
    let target = '';
    if (typeof obj.group === 'string') target = `group:${obj.group}`;
    else if (Array.isArray(obj.groups)) target = `group:${obj.groups.join(',')}`;
    else if (typeof obj.owner === 'string') target = `server:${obj.owner}/${typeof obj.server === 'string' ? obj.server : ''}`;
    else if (typeof obj.service === 'string') target = `service:${obj.service}`;
    else if (action.startsWith('server-') && user) target = `server:${user}/${typeof obj.server === 'string' ? obj.server : ''}`;
    else if (user) target = `user:${user}`;
    else if (Array.isArray(obj.users)) target = `user:${obj.users.join(',')}`;
    else if (typeof obj.userId === 'number') target = `user-id:${obj.userId}`;
    this.record(actor, action, target, cleanDetails(obj));
  }

  query(q: AuditQuery = {}): { total: number; items: AuditEntry[] } {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.actor) (where.push('actor = ?'), args.push(q.actor));
    if (q.action) (where.push('action = ?'), args.push(q.action));
    if (q.target) {
      if (q.target.endsWith('*')) (where.push("target LIKE ? ESCAPE '\\'"), args.push(`${q.target.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`)}%`));
      else (where.push('target = ?'), args.push(q.target));
    }
    if (q.since) (where.push('at >= ?'), args.push(q.since));
    if (q.until) (where.push('at < ?'), args.push(q.until));
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = (this.db.prepare(`SELECT COUNT(*) AS n FROM audit_log ${w}`).get(...args) as { n: number }).n;
    const rows = this.db
      .prepare(`SELECT * FROM audit_log ${w} ORDER BY id DESC LIMIT ? OFFSET ?`)
      .all(...args, q.limit ?? 50, q.offset ?? 0) as Array<Omit<AuditEntry, 'details'> & { details: string }>;
    return { total, items: rows.map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> })) };
  }

  /** Distinct actions seen (for the admin console's filter). */
  actions(): string[] {
    return (prep(this.db, 'SELECT DISTINCT action FROM audit_log ORDER BY action').all() as Array<{ action: string }>).map((r) => r.action);
  }

  /** Deletes entries older than `before` (ISO); returns how many. */
  purgeBefore(before: string): number {
    return prep(this.db, 'DELETE FROM audit_log WHERE at < ?').run(before).changes;
  }
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);

/**
 * Wraps a pino logger (and every child made from it) so that log calls carrying an `event` field
 * are also handed to `sink` (the audit log). The log line itself is unchanged.
 */
export function auditingLogger(log: Logger, sink: (obj: Record<string, unknown>) => void, onError?: (err: unknown) => void): Logger {
  const cache = new Map<PropertyKey, unknown>();
  return new Proxy(log, {
    get(target, prop) {
      if (prop === 'child') {
        return (...args: Parameters<Logger["child"]>) => auditingLogger(target.child(...args) as unknown as Logger, sink, onError);
      }
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      if (typeof prop === 'string' && LEVELS.has(prop)) {
        let fn = cache.get(prop);
        if (!fn) {
          const method = value as (...a: unknown[]) => void;
          fn = (obj: unknown, ...rest: unknown[]) => {
            if (obj && typeof obj === 'object' && typeof (obj as { event?: unknown }).event === 'string') {
              try {
                sink(obj as Record<string, unknown>);
              } catch (err) {
                onError?.(err);
              }
            }
            return method.call(target, obj, ...rest);
          };
          cache.set(prop, fn);
        }
        return fn;
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  }) as Logger;
}
