/**
 * express-rate-limit's counters in SQLite (migration 0007): the same fixed window per key as its
 * in-memory store, but a hub restart does not reset them. Each limiter uses its own key prefix.
 */
import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import { prep, type Db } from './db.js';

export class SqliteRateLimitStore implements Store {
  private windowMs = 60_000;
  private nextPrune = 0;
  /** counters live in the hub's database, shared by every process that opens it */
  readonly localKeys = false;

  constructor(
    private readonly db: Db,
    readonly prefix: string,
    private readonly now: () => number,
  ) {}

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  get(key: string): ClientRateLimitInfo | undefined {
    const row = prep(this.db, 'SELECT hits, reset_at FROM request_rate WHERE key = ?').get(this.prefix + key) as { hits: number; reset_at: number } | undefined;
    return row && row.reset_at > this.now() ? { totalHits: row.hits, resetTime: new Date(row.reset_at) } : undefined;
  }

  increment(key: string): ClientRateLimitInfo {
    const now = this.now();
    this.prune(now);
    // a window that has run out starts again at 1 hit
    const row = prep(
      this.db,
      `INSERT INTO request_rate (key, hits, reset_at) VALUES (?, 1, ?)
       ON CONFLICT (key) DO UPDATE SET
         hits = CASE WHEN request_rate.reset_at <= ? THEN 1 ELSE request_rate.hits + 1 END,
         reset_at = CASE WHEN request_rate.reset_at <= ? THEN excluded.reset_at ELSE request_rate.reset_at END
       RETURNING hits, reset_at`,
    ).get(this.prefix + key, now + this.windowMs, now, now) as { hits: number; reset_at: number };
    return { totalHits: row.hits, resetTime: new Date(row.reset_at) };
  }

  decrement(key: string): void {
    prep(this.db, 'UPDATE request_rate SET hits = MAX(hits - 1, 0) WHERE key = ?').run(this.prefix + key);
  }

  resetKey(key: string): void {
    prep(this.db, 'DELETE FROM request_rate WHERE key = ?').run(this.prefix + key);
  }

  resetAll(): void {
    prep(this.db, "DELETE FROM request_rate WHERE substr(key, 1, ?) = ?").run(this.prefix.length, this.prefix);
  }

  /** Drops windows that ended (at most once per window). */
  private prune(now: number): void {
    if (now < this.nextPrune) return;
    this.nextPrune = now + this.windowMs;
    prep(this.db, 'DELETE FROM request_rate WHERE reset_at <= ?').run(now);
  }
}
