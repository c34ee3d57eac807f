/**
 * Opens the SQLite database (WAL, foreign keys on) and applies numbered SQL migrations
 * (`migrations/NNNN_name.sql`, tracked with PRAGMA user_version), each in one transaction.
 */
import Database from 'better-sqlite3';
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Db = Database.Database;

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export function listMigrations(dir = MIGRATIONS_DIR): Array<{ version: number; name: string; sql: string }> {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_.+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 4)), name: f, sql: readFileSync(join(dir, f), 'utf8') }));
}

export function migrate(db: Db): { from: number; to: number } {
  const from = db.pragma('user_version', { simple: true }) as number;
  let to = from;
  for (const m of listMigrations()) {
    if (m.version <= from) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
    to = m.version;
  }
  return { from, to };
}

export function openDb(file: string, opts: { migrate?: boolean } = {}): Db {
  const db = new Database(file);
  // hashes, sessions and encrypted auth state: readable by the hub's user only
  if (file !== ':memory:') for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = NORMAL');
  if (opts.migrate !== false) migrate(db);
  return db;
}

const statementCache = new WeakMap<Db, Map<string, Database.Statement>>();

/** Prepared statements are compiled once per database and reused (prepare() is costly on hot paths). */
export function prep(db: Db, sql: string): Database.Statement {
  let cache = statementCache.get(db);
  if (!cache) statementCache.set(db, (cache = new Map()));
  let stmt = cache.get(sql);
  if (!stmt) cache.set(sql, (stmt = db.prepare(sql)));
  return stmt;
}
