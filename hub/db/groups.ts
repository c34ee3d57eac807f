/** Groups, their members and free-form properties (JupyterHub 4.0+ group properties). */
import { prep, type Db } from './db.js';

export interface GroupRow {
  id: number;
  name: string;
  properties: string;
}

export class GroupRepo {
  constructor(private readonly db: Db) {}

  byName(name: string): GroupRow | undefined {
    return prep(this.db, 'SELECT * FROM groups WHERE name = ?').get(name) as GroupRow | undefined;
  }

  list(): GroupRow[] {
    return prep(this.db, 'SELECT * FROM groups ORDER BY name').all() as GroupRow[];
  }

  create(name: string, properties: Record<string, unknown> = {}): GroupRow {
    prep(this.db, 'INSERT INTO groups (name, properties) VALUES (?, ?)').run(name, JSON.stringify(properties));
    return this.byName(name)!;
  }

  delete(id: number): void {
    prep(this.db, 'DELETE FROM groups WHERE id = ?').run(id);
  }

  setProperties(id: number, properties: Record<string, unknown>): void {
    prep(this.db, 'UPDATE groups SET properties = ? WHERE id = ?').run(JSON.stringify(properties), id);
  }

  members(id: number): string[] {
    return (prep(this.db, 'SELECT u.name FROM users u JOIN user_groups ug ON ug.user_id = u.id WHERE ug.group_id = ? ORDER BY u.name').all(id) as Array<{ name: string }>).map((r) => r.name);
  }

  addMember(groupId: number, userId: number): void {
    prep(this.db, 'INSERT OR IGNORE INTO user_groups (user_id, group_id) VALUES (?, ?)').run(userId, groupId);
  }

  removeMember(groupId: number, userId: number): void {
    prep(this.db, 'DELETE FROM user_groups WHERE user_id = ? AND group_id = ?').run(userId, groupId);
  }
}
