/**
 * manageGroups: after a login (or token refresh) the user's LabHub groups are exactly the groups
 * the identity provider reports (JupyterHub Authenticator.manage_groups). Missing groups are created.
 * Plain SQL over the groups/user_groups tables of migration 0001.
 */
import type { Db } from '../db/db.js';

const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._@:\/ -]{0,254}$/;

export function syncUserGroups(db: Db, userId: number, wanted: string[]): void {
  const names = [...new Set(wanted.filter((g) => typeof g === 'string' && GROUP_NAME.test(g)))];
  db.transaction(() => {
    const current = db.prepare('SELECT g.id, g.name FROM groups g JOIN user_groups ug ON ug.group_id = g.id WHERE ug.user_id = ?').all(userId) as Array<{ id: number; name: string }>;
    for (const g of current) if (!names.includes(g.name)) db.prepare('DELETE FROM user_groups WHERE user_id = ? AND group_id = ?').run(userId, g.id);
    for (const name of names) {
      db.prepare('INSERT OR IGNORE INTO groups (name) VALUES (?)').run(name);
      const { id } = db.prepare('SELECT id FROM groups WHERE name = ?').get(name) as { id: number };
      db.prepare('INSERT OR IGNORE INTO user_groups (user_id, group_id) VALUES (?, ?)').run(userId, id);
    }
  })();
}
