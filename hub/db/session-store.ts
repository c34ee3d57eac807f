/** express-session Store over our SQLite database (the published sqlite stores are tiny projects). */
import session from 'express-session';
import { prep, type Db } from './db.js';
import type { Clock } from '../clock.js';

export class SqliteSessionStore extends session.Store {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly defaultTtlMs: number,
  ) {
    super();
  }

  private expiry(sess: session.SessionData): number {
    const exp = sess.cookie?.expires;
    return exp ? new Date(exp).getTime() : this.clock.now() + this.defaultTtlMs;
  }

  override get(sid: string, cb: (err: unknown, session?: session.SessionData | null) => void): void {
    try {
      const row = prep(this.db, 'SELECT data, expires FROM sessions WHERE sid = ?').get(sid) as { data: string; expires: number } | undefined;
      if (!row || row.expires <= this.clock.now()) return cb(null, null);
      cb(null, JSON.parse(row.data) as session.SessionData);
    } catch (err) {
      cb(err);
    }
  }

  override set(sid: string, sess: session.SessionData, cb?: (err?: unknown) => void): void {
    try {
      prep(this.db, 'INSERT INTO sessions (sid, data, expires) VALUES (?, ?, ?) ON CONFLICT (sid) DO UPDATE SET data = excluded.data, expires = excluded.expires')
        .run(sid, JSON.stringify(sess), this.expiry(sess));
      cb?.();
    } catch (err) {
      cb?.(err);
    }
  }

  override destroy(sid: string, cb?: (err?: unknown) => void): void {
    try {
      prep(this.db, 'DELETE FROM sessions WHERE sid = ?').run(sid);
      cb?.();
    } catch (err) {
      cb?.(err);
    }
  }

  override touch(sid: string, sess: session.SessionData, cb?: (err?: unknown) => void): void {
    try {
      prep(this.db, 'UPDATE sessions SET expires = ? WHERE sid = ?').run(this.expiry(sess), sid);
      cb?.();
    } catch (err) {
      cb?.(err);
    }
  }

  purgeExpired(): number {
    return prep(this.db, 'DELETE FROM sessions WHERE expires <= ?').run(this.clock.now()).changes;
  }
}
