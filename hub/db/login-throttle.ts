/** The login throttle's counters in SQLite (migration 0006). */
import type { ThrottleEntry, ThrottleStore } from '../auth/throttle.js';
import { prep, type Db } from './db.js';

export class SqliteThrottleStore implements ThrottleStore {
  constructor(private readonly db: Db) {}

  get(key: string): ThrottleEntry | undefined {
    const row = prep(this.db, 'SELECT failures, locked_until FROM login_throttle WHERE key = ?').get(key) as { failures: string; locked_until: number } | undefined;
    if (!row) return undefined;
    let failures: number[] = [];
    try {
      const parsed = JSON.parse(row.failures) as unknown;
      if (Array.isArray(parsed)) failures = parsed.filter((t): t is number => typeof t === 'number');
    } catch {
      /* a damaged row counts as no failures */
    }
    return { failures, lockedUntil: row.locked_until };
  }

  set(key: string, e: ThrottleEntry): void {
    prep(this.db, 'INSERT INTO login_throttle (key, failures, last_failure, locked_until) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_failure = excluded.last_failure, locked_until = excluded.locked_until').run(
      key,
      JSON.stringify(e.failures),
      e.failures.length ? Math.max(...e.failures) : 0,
      e.lockedUntil,
    );
  }

  delete(key: string): boolean {
    return prep(this.db, 'DELETE FROM login_throttle WHERE key = ?').run(key).changes > 0;
  }

  prune(now: number, failuresBefore: number): void {
    prep(this.db, 'DELETE FROM login_throttle WHERE locked_until <= ? AND last_failure <= ?').run(now, failuresBefore);
  }
}
