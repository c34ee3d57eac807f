/** Server shares (JupyterHub 5.x sharing): grants to users or groups, and exchangeable share codes. */
import { prep, type Db } from './db.js';
import { hashToken } from './tokens.js';

export interface ShareRow {
  id: number;
  owner_id: number;
  server_name: string;
  user_id: number | null;
  group_id: number | null;
  scopes: string;
  created: string;
}

export interface ShareCodeRow {
  id: number;
  hashed: string;
  owner_id: number;
  server_name: string;
  scopes: string;
  created: string;
  expires_at: string;
  last_exchanged_at: string | null;
  exchange_count: number;
}

export class ShareRepo {
  constructor(private readonly db: Db) {}

  forServer(ownerId: number, serverName?: string): ShareRow[] {
    return serverName === undefined
      ? (prep(this.db, 'SELECT * FROM shares WHERE owner_id = ? ORDER BY id').all(ownerId) as ShareRow[])
      : (prep(this.db, 'SELECT * FROM shares WHERE owner_id = ? AND server_name = ? ORDER BY id').all(ownerId, serverName) as ShareRow[]);
  }

  withUser(userId: number): ShareRow[] {
    return prep(this.db, 'SELECT * FROM shares WHERE user_id = ? ORDER BY id').all(userId) as ShareRow[];
  }

  withGroup(groupId: number): ShareRow[] {
    return prep(this.db, 'SELECT * FROM shares WHERE group_id = ? ORDER BY id').all(groupId) as ShareRow[];
  }

  /** Shares reaching a user directly or through any of their groups. */
  reaching(userId: number): ShareRow[] {
    return prep(this.db, 'SELECT * FROM shares WHERE user_id = ? OR group_id IN (SELECT group_id FROM user_groups WHERE user_id = ?) ORDER BY id')
      .all(userId, userId) as ShareRow[];
  }

  find(ownerId: number, serverName: string, target: { userId?: number; groupId?: number }): ShareRow | undefined {
    return target.userId !== undefined
      ? (prep(this.db, 'SELECT * FROM shares WHERE owner_id = ? AND server_name = ? AND user_id = ?').get(ownerId, serverName, target.userId) as ShareRow | undefined)
      : (prep(this.db, 'SELECT * FROM shares WHERE owner_id = ? AND server_name = ? AND group_id = ?').get(ownerId, serverName, target.groupId) as ShareRow | undefined);
  }

  /** Grants scopes (merged with an existing share). */
  grant(ownerId: number, serverName: string, target: { userId?: number; groupId?: number }, scopes: string[], now: string): ShareRow {
    const existing = this.find(ownerId, serverName, target);
    if (existing) {
      const merged = [...new Set([...(JSON.parse(existing.scopes) as string[]), ...scopes])];
      prep(this.db, 'UPDATE shares SET scopes = ? WHERE id = ?').run(JSON.stringify(merged), existing.id);
    } else {
      prep(this.db, 'INSERT INTO shares (owner_id, server_name, user_id, group_id, scopes, created) VALUES (?, ?, ?, ?, ?, ?)')
        .run(ownerId, serverName, target.userId ?? null, target.groupId ?? null, JSON.stringify(scopes), now);
    }
    return this.find(ownerId, serverName, target)!;
  }

  /** Revokes some scopes; the share disappears when none are left. */
  revoke(share: ShareRow, scopes: string[] | 'all'): ShareRow | undefined {
    const left = scopes === 'all' ? [] : (JSON.parse(share.scopes) as string[]).filter((s) => !scopes.includes(s));
    if (left.length === 0) {
      prep(this.db, 'DELETE FROM shares WHERE id = ?').run(share.id);
      return undefined;
    }
    prep(this.db, 'UPDATE shares SET scopes = ? WHERE id = ?').run(JSON.stringify(left), share.id);
    return { ...share, scopes: JSON.stringify(left) };
  }

  deleteForServer(ownerId: number, serverName: string): void {
    prep(this.db, 'DELETE FROM shares WHERE owner_id = ? AND server_name = ?').run(ownerId, serverName);
  }

  createCode(code: string, c: { ownerId: number; serverName: string; scopes: string[]; expiresAt: string; now: string }): ShareCodeRow {
    const info = prep(this.db, 'INSERT INTO share_codes (hashed, owner_id, server_name, scopes, created, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(hashToken(code), c.ownerId, c.serverName, JSON.stringify(c.scopes), c.now, c.expiresAt);
    return prep(this.db, 'SELECT * FROM share_codes WHERE id = ?').get(Number(info.lastInsertRowid)) as ShareCodeRow;
  }

  codesFor(ownerId: number, serverName?: string): ShareCodeRow[] {
    return serverName === undefined
      ? (prep(this.db, 'SELECT * FROM share_codes WHERE owner_id = ? ORDER BY id').all(ownerId) as ShareCodeRow[])
      : (prep(this.db, 'SELECT * FROM share_codes WHERE owner_id = ? AND server_name = ? ORDER BY id').all(ownerId, serverName) as ShareCodeRow[]);
  }

  codeByValue(code: string, now: string): ShareCodeRow | undefined {
    const row = prep(this.db, 'SELECT * FROM share_codes WHERE hashed = ?').get(hashToken(code)) as ShareCodeRow | undefined;
    return row && row.expires_at > now ? row : undefined;
  }

  codeById(id: number): ShareCodeRow | undefined {
    return prep(this.db, 'SELECT * FROM share_codes WHERE id = ?').get(id) as ShareCodeRow | undefined;
  }

  markExchanged(id: number, now: string): void {
    prep(this.db, 'UPDATE share_codes SET exchange_count = exchange_count + 1, last_exchanged_at = ? WHERE id = ?').run(now, id);
  }

  deleteCode(id: number): void {
    prep(this.db, 'DELETE FROM share_codes WHERE id = ?').run(id);
  }

  deleteCodesFor(ownerId: number, serverName: string): number {
    return prep(this.db, 'DELETE FROM share_codes WHERE owner_id = ? AND server_name = ?').run(ownerId, serverName).changes;
  }
}
