/** Server rows: one per (user, server name); spawner state is an opaque JSON column. */
import { prep, type Db } from './db.js';

export interface ServerRow {
  id: number;
  user_id: number;
  name: string;
  spawner_kind: string;
  url: string | null;
  state: string;
  user_options: string;
  started: string | null;
  last_activity: string | null;
}

export class ServerRepo {
  constructor(private readonly db: Db) {}

  get(userId: number, name: string): ServerRow | undefined {
    return prep(this.db, 'SELECT * FROM servers WHERE user_id = ? AND name = ?').get(userId, name) as ServerRow | undefined;
  }

  byId(id: number): ServerRow | undefined {
    return prep(this.db, 'SELECT * FROM servers WHERE id = ?').get(id) as ServerRow | undefined;
  }

  forUser(userId: number): ServerRow[] {
    return prep(this.db, 'SELECT * FROM servers WHERE user_id = ? ORDER BY name').all(userId) as ServerRow[];
  }

  /** Servers the hub believes are running or were mid-spawn (state non-empty). */
  active(): Array<ServerRow & { user_name: string }> {
    return prep(this.db, "SELECT s.*, u.name AS user_name FROM servers s JOIN users u ON u.id = s.user_id WHERE s.started IS NOT NULL OR s.state != '{}'")
      .all() as Array<ServerRow & { user_name: string }>;
  }

  ensure(userId: number, name: string, spawnerKind: string): ServerRow {
    prep(this.db, 'INSERT INTO servers (user_id, name, spawner_kind) VALUES (?, ?, ?) ON CONFLICT (user_id, name) DO UPDATE SET spawner_kind = excluded.spawner_kind')
      .run(userId, name, spawnerKind);
    return this.get(userId, name)!;
  }

  setUserOptions(id: number, options: Record<string, unknown>): void {
    prep(this.db, 'UPDATE servers SET user_options = ? WHERE id = ?').run(JSON.stringify(options), id);
  }

  setState(id: number, state: Record<string, unknown>): void {
    prep(this.db, 'UPDATE servers SET state = ? WHERE id = ?').run(JSON.stringify(state), id);
  }

  markStarted(id: number, url: string, state: Record<string, unknown>, when: string): void {
    prep(this.db, 'UPDATE servers SET url = ?, state = ?, started = ?, last_activity = ? WHERE id = ?').run(url, JSON.stringify(state), when, when, id);
  }

  markStopped(id: number): void {
    prep(this.db, "UPDATE servers SET url = NULL, state = '{}', started = NULL WHERE id = ?").run(id);
  }

  touch(id: number, when: string): void {
    prep(this.db, 'UPDATE servers SET last_activity = ? WHERE id = ? AND (last_activity IS NULL OR last_activity < ?)').run(when, id, when);
  }

  delete(id: number): void {
    prep(this.db, 'DELETE FROM servers WHERE id = ?').run(id);
  }
}
