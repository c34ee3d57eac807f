/** Shared ports: who may reach a port of a running server through the proxy. */
import { prep, type Db } from './db.js';

export type PortLevel = 'owner' | 'users' | 'authenticated' | 'public';

export interface PortRow {
  id: number;
  owner_id: number;
  server_name: string;
  port: number;
  level: PortLevel;
  users: string;
  groups: string;
  created: string;
  expires_at: string | null;
  version: number;
}

export class PortRepo {
  constructor(private readonly db: Db) {}

  get(ownerId: number, serverName: string, port: number): PortRow | undefined {
    return prep(this.db, 'SELECT * FROM shared_ports WHERE owner_id = ? AND server_name = ? AND port = ?').get(ownerId, serverName, port) as PortRow | undefined;
  }

  forUser(ownerId: number): PortRow[] {
    return prep(this.db, 'SELECT * FROM shared_ports WHERE owner_id = ? ORDER BY server_name, port').all(ownerId) as PortRow[];
  }

  all(): Array<PortRow & { owner_name: string }> {
    return prep(this.db, 'SELECT p.*, u.name AS owner_name FROM shared_ports p JOIN users u ON u.id = p.owner_id ORDER BY p.id').all() as Array<PortRow & { owner_name: string }>;
  }

  /** Creates or replaces a share; the version bumps so proxies drop cached decisions at once. */
  upsert(p: { ownerId: number; serverName: string; port: number; level: PortLevel; users: string[]; groups: string[]; now: string; expiresAt: string | null }): PortRow {
    prep(
      this.db,
      `INSERT INTO shared_ports (owner_id, server_name, port, level, users, groups, created, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (owner_id, server_name, port) DO UPDATE SET level = excluded.level, users = excluded.users, groups = excluded.groups,
         expires_at = excluded.expires_at, version = shared_ports.version + 1`,
    ).run(p.ownerId, p.serverName, p.port, p.level, JSON.stringify(p.users), JSON.stringify(p.groups), p.now, p.expiresAt);
    return this.get(p.ownerId, p.serverName, p.port)!;
  }

  delete(id: number): void {
    prep(this.db, 'DELETE FROM shared_ports WHERE id = ?').run(id);
  }

  deleteForServer(ownerId: number, serverName: string): number {
    return prep(this.db, 'DELETE FROM shared_ports WHERE owner_id = ? AND server_name = ?').run(ownerId, serverName).changes;
  }
}
