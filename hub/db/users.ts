/** User rows. Names are unique; `cookie_id` identifies the user inside signed cookies. */
import { randomBytes } from 'node:crypto';
import { prep, type Db } from './db.js';

export interface UserRow {
  id: number;
  name: string;
  admin: number;
  created: string;
  last_activity: string | null;
  password_hash: string | null;
  auth_state: Buffer | null;
  cookie_id: string;
}

export class UserRepo {
  constructor(private readonly db: Db) {}

  byName(name: string): UserRow | undefined {
    return prep(this.db, 'SELECT * FROM users WHERE name = ?').get(name) as UserRow | undefined;
  }

  byId(id: number): UserRow | undefined {
    return prep(this.db, 'SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
  }

  create(name: string, opts: { admin?: boolean; passwordHash?: string | null; now: string }): UserRow {
    const info = prep(this.db, 'INSERT INTO users (name, admin, created, password_hash, cookie_id) VALUES (?, ?, ?, ?, ?)')
      .run(name, opts.admin ? 1 : 0, opts.now, opts.passwordHash ?? null, randomBytes(16).toString('hex'));
    return this.byId(Number(info.lastInsertRowid))!;
  }

  list(): UserRow[] {
    return prep(this.db, 'SELECT * FROM users ORDER BY id').all() as UserRow[];
  }

  activeSince(when: string): number {
    return (prep(this.db, 'SELECT COUNT(*) AS n FROM users WHERE last_activity >= ?').get(when) as { n: number }).n;
  }

  count(): number {
    return (prep(this.db, 'SELECT COUNT(*) AS n FROM users').get() as { n: number }).n;
  }

  setAdmin(id: number, admin: boolean): void {
    prep(this.db, 'UPDATE users SET admin = ? WHERE id = ?').run(admin ? 1 : 0, id);
  }

  rename(id: number, name: string): void {
    prep(this.db, 'UPDATE users SET name = ? WHERE id = ?').run(name, id);
  }

  setPasswordHash(id: number, hash: string): void {
    prep(this.db, 'UPDATE users SET password_hash = ? WHERE id = ?').run(hash, id);
  }

  /** Activity only moves forward. */
  touch(id: number, when: string): void {
    prep(this.db, 'UPDATE users SET last_activity = ? WHERE id = ? AND (last_activity IS NULL OR last_activity < ?)').run(when, id, when);
  }

  delete(id: number): void {
    prep(this.db, 'DELETE FROM users WHERE id = ?').run(id);
  }

  groupNames(id: number): string[] {
    return (
      prep(this.db, 'SELECT g.name FROM groups g JOIN user_groups ug ON ug.group_id = g.id WHERE ug.user_id = ? ORDER BY g.name')
        .all(id) as Array<{ name: string }>
    ).map((r) => r.name);
  }
}
