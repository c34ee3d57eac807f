/**
 * Persistent route store: the in-memory trie serves every lookup; routes are written through
 * to a SQLite file so a restarted proxy comes back with its table (JupyterHub users are not
 * bounced until the hub's next check_routes). Activity timestamps change on every request,
 * so they are flushed in batches (every `flushIntervalMs`, and on close).
 */
import Database from 'better-sqlite3';
import { MemoryStore, type RouteData } from '../store.js';

export interface SqliteStoreOptions {
  storagePath: string;
  flushIntervalMs?: number;
}

const MIGRATIONS = [
  `CREATE TABLE routes (
     path TEXT PRIMARY KEY,
     data TEXT NOT NULL,
     last_activity TEXT
   )`,
];

export class SqliteStore extends MemoryStore {
  private readonly db: Database.Database;
  private readonly dirty = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private readonly stmt: {
    upsert: Database.Statement;
    activity: Database.Statement;
    remove: Database.Statement;
  };

  constructor(options: SqliteStoreOptions | string) {
    super();
    const opts = typeof options === 'string' ? { storagePath: options } : options;
    this.db = new Database(opts.storagePath);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    migrate(this.db);
    this.stmt = {
      upsert: this.db.prepare('INSERT INTO routes (path, data, last_activity) VALUES (?, ?, ?) ON CONFLICT(path) DO UPDATE SET data = excluded.data, last_activity = excluded.last_activity'),
      activity: this.db.prepare('UPDATE routes SET last_activity = ? WHERE path = ?'),
      remove: this.db.prepare('DELETE FROM routes WHERE path = ?'),
    };
    for (const row of this.db.prepare('SELECT path, data, last_activity FROM routes ORDER BY rowid').all() as {
      path: string;
      data: string;
      last_activity: string | null;
    }[]) {
      const data = JSON.parse(row.data) as RouteData;
      if (row.last_activity) data.last_activity = new Date(row.last_activity);
      this.addSync(row.path, data);
    }
    this.timer = setInterval(() => this.flush(), opts.flushIntervalMs ?? 5000);
    this.timer.unref();
  }

  private persist(key: string): void {
    const route = this.routes.get(key);
    if (!route) return;
    const { last_activity, ...rest } = route;
    this.stmt.upsert.run(key, JSON.stringify(rest), isoOrNull(last_activity));
    this.dirty.delete(key);
  }

  override async add(p: string, data: RouteData): Promise<null> {
    const key = this.cleanPath(p);
    this.addSync(key, data);
    this.persist(key);
    return null;
  }

  override async update(p: string, data: Partial<RouteData>): Promise<void> {
    await super.update(p, data);
    const key = this.cleanPath(p);
    if (Object.keys(data).length === 1 && 'last_activity' in data) this.dirty.add(key);
    else this.persist(key);
  }

  override touch(p: string, now: number): void {
    super.touch(p, now);
    if (this.routes.has(p)) this.dirty.add(p);
  }

  override async remove(p: string): Promise<RouteData | undefined> {
    const key = this.cleanPath(p);
    const route = await super.remove(key);
    this.stmt.remove.run(key);
    this.dirty.delete(key);
    return route;
  }

  /** Write pending activity timestamps. */
  flush(): void {
    if (this.dirty.size === 0 || !this.db.open) return;
    const write = this.db.transaction((keys: string[]) => {
      for (const key of keys) {
        const t = this.routes.get(key)?.last_activity;
        if (t) this.stmt.activity.run(isoOrNull(t), key);
      }
    });
    write([...this.dirty]);
    this.dirty.clear();
  }

  close(): void {
    clearInterval(this.timer);
    if (!this.db.open) return;
    this.flush();
    this.db.close();
  }
}

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

function isoOrNull(t: unknown): string | null {
  if (t instanceof Date) return t.toISOString();
  return t == null ? null : String(t);
}
