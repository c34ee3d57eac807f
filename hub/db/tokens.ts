/**
 * API tokens. Only a SHA-256 hash is stored: tokens are 128-bit random, so one fast hash is as safe
 * as a slow KDF here and keeps lookups cheap (JupyterHub PR #1258 made the same trade).
 */
import { createHash, randomBytes } from 'node:crypto';
import { prep, type Db } from './db.js';

export type TokenKind = 'api' | 'server' | 'oauth';

export interface TokenRow {
  id: number;
  hashed: string;
  prefix: string;
  kind: TokenKind;
  user_id: number | null;
  service_id: number | null;
  server_id: number | null;
  client_id: string | null;
  session_id: string | null;
  note: string;
  scopes: string;
  roles: string;
  created: string;
  expires_at: string | null;
  last_activity: string | null;
}

export function newTokenValue(): string {
  return randomBytes(16).toString('hex');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export interface NewToken {
  kind: TokenKind;
  /** Exactly one of userId / serviceId. */
  userId?: number | null;
  serviceId?: number | null;
  serverId?: number | null;
  clientId?: string | null;
  sessionId?: string | null;
  note?: string;
  scopes: string[];
  roles?: string[];
  expiresAt?: string | null;
  now: string;
  /** Use this value instead of generating one (e.g. imported tokens). */
  value?: string;
}

export class TokenRepo {
  /** Called after tokens are deleted, so caches of token identities can drop them at once. */
  onRevoke: () => void = () => undefined;

  constructor(private readonly db: Db) {}

  create(t: NewToken): { token: string; row: TokenRow } {
    const token = t.value ?? newTokenValue();
    const info = prep(this.db, 
        `INSERT INTO api_tokens (hashed, prefix, kind, user_id, service_id, server_id, client_id, session_id, note, scopes, roles, created, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        hashToken(token),
        token.slice(0, 4),
        t.kind,
        t.userId ?? null,
        t.serviceId ?? null,
        t.serverId ?? null,
        t.clientId ?? null,
        t.sessionId ?? null,
        t.note ?? '',
        JSON.stringify(t.scopes),
        JSON.stringify(t.roles ?? []),
        t.now,
        t.expiresAt ?? null,
      );
    return { token, row: this.byId(Number(info.lastInsertRowid))! };
  }

  byId(id: number): TokenRow | undefined {
    return prep(this.db, 'SELECT * FROM api_tokens WHERE id = ?').get(id) as TokenRow | undefined;
  }

  /** Finds a live token; expired ones are treated as absent. */
  find(token: string, now: string): TokenRow | undefined {
    const row = prep(this.db, 'SELECT * FROM api_tokens WHERE hashed = ?').get(hashToken(token)) as TokenRow | undefined;
    if (!row) return undefined;
    if (row.expires_at && row.expires_at <= now) return undefined;
    return row;
  }

  forUser(userId: number): TokenRow[] {
    return prep(this.db, 'SELECT * FROM api_tokens WHERE user_id = ? ORDER BY id').all(userId) as TokenRow[];
  }

  forService(serviceId: number): TokenRow[] {
    return prep(this.db, 'SELECT * FROM api_tokens WHERE service_id = ? ORDER BY id').all(serviceId) as TokenRow[];
  }

  deleteForService(serviceId: number): void {
    prep(this.db, 'DELETE FROM api_tokens WHERE service_id = ?').run(serviceId);
    this.onRevoke();
  }

  touch(id: number, when: string): void {
    prep(this.db, 'UPDATE api_tokens SET last_activity = ? WHERE id = ?').run(when, id);
  }

  delete(id: number): void {
    prep(this.db, 'DELETE FROM api_tokens WHERE id = ?').run(id);
    this.onRevoke();
  }

  /** Deletes server tokens of servers that are neither running nor starting (after a hub crash). */
  deleteServerTokensOfStopped(): number {
    return prep(this.db, "DELETE FROM api_tokens WHERE kind = 'server' AND server_id IN (SELECT id FROM servers WHERE started IS NULL AND state = '{}')").run().changes;
  }

  deleteForServer(serverId: number): void {
    prep(this.db, 'DELETE FROM api_tokens WHERE server_id = ?').run(serverId);
    this.onRevoke();
  }

  deleteForSession(sessionId: string): number {
    const n = prep(this.db, "DELETE FROM api_tokens WHERE session_id = ? AND kind = 'oauth'").run(sessionId).changes;
    this.onRevoke();
    return n;
  }

  purgeExpired(now: string): number {
    return prep(this.db, 'DELETE FROM api_tokens WHERE expires_at IS NOT NULL AND expires_at <= ?').run(now).changes;
  }
}
