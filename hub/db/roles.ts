/**
 * Roles and their assignment to users, groups and services. Role scopes are cached in memory:
 * they change only when the configuration is applied at start.
 */
import { prep, type Db } from './db.js';

export interface RoleRow {
  id: number;
  name: string;
  description: string;
  scopes: string;
}

export class RoleRepo {
  private cache: Map<string, string[]> | null = null;

  constructor(private readonly db: Db) {}

  upsert(name: string, description: string, scopes: string[]): RoleRow {
    prep(this.db, 'INSERT INTO roles (name, description, scopes) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET description = excluded.description, scopes = excluded.scopes')
      .run(name, description, JSON.stringify(scopes));
    this.cache = null;
    return prep(this.db, 'SELECT * FROM roles WHERE name = ?').get(name) as RoleRow;
  }

  list(): RoleRow[] {
    return prep(this.db, 'SELECT * FROM roles ORDER BY name').all() as RoleRow[];
  }

  scopesOf(name: string): string[] {
    if (!this.cache) this.cache = new Map(this.list().map((r) => [r.name, JSON.parse(r.scopes) as string[]]));
    return this.cache.get(name) ?? [];
  }

  /** Roles given to a user directly and through their groups. */
  forUser(userId: number): string[] {
    return (
      prep(this.db, 
          `SELECT r.name FROM roles r JOIN user_roles ur ON ur.role_id = r.id WHERE ur.user_id = ?
           UNION SELECT r.name FROM roles r JOIN group_roles gr ON gr.role_id = r.id JOIN user_groups ug ON ug.group_id = gr.group_id WHERE ug.user_id = ?
           ORDER BY 1`,
        )
        .all(userId, userId) as Array<{ name: string }>
    ).map((r) => r.name);
  }

  forGroup(groupId: number): string[] {
    return (prep(this.db, 'SELECT r.name FROM roles r JOIN group_roles gr ON gr.role_id = r.id WHERE gr.group_id = ?').all(groupId) as Array<{ name: string }>).map((r) => r.name);
  }

  forService(serviceId: number): string[] {
    return (prep(this.db, 'SELECT r.name FROM roles r JOIN service_roles sr ON sr.role_id = r.id WHERE sr.service_id = ?').all(serviceId) as Array<{ name: string }>).map((r) => r.name);
  }

  /** Makes `members` exactly the holders of a configured role (config is authoritative for it). */
  setAssignments(roleId: number, a: { userIds: number[]; groupIds: number[]; serviceIds: number[] }): void {
    this.db.transaction(() => {
      prep(this.db, 'DELETE FROM user_roles WHERE role_id = ?').run(roleId);
      prep(this.db, 'DELETE FROM group_roles WHERE role_id = ?').run(roleId);
      prep(this.db, 'DELETE FROM service_roles WHERE role_id = ?').run(roleId);
      for (const id of a.userIds) prep(this.db, 'INSERT INTO user_roles (user_id, role_id) VALUES (?, ?)').run(id, roleId);
      for (const id of a.groupIds) prep(this.db, 'INSERT INTO group_roles (group_id, role_id) VALUES (?, ?)').run(id, roleId);
      for (const id of a.serviceIds) prep(this.db, 'INSERT INTO service_roles (service_id, role_id) VALUES (?, ?)').run(id, roleId);
    })();
  }
}
