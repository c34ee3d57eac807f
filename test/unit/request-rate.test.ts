/** hub/db/request-rate.ts: express-rate-limit's fixed window in SQLite (migration 0007), with an injected clock. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Options } from 'express-rate-limit';
import { describe, expect, it } from 'vitest';
import { openDb } from '../../hub/db/db.js';
import { SqliteRateLimitStore } from '../../hub/db/request-rate.js';

const options = { windowMs: 60_000 } as Options;

describe('SQLite rate-limit store', () => {
  it('counts hits in a fixed window, starts again when it ends, and decrements and resets one key', () => {
    let now = Date.parse('2026-11-22T10:00:00Z');
    const store = new SqliteRateLimitStore(openDb(':memory:'), 'login:', () => now);
    store.init(options);
    expect(store.increment('10.0.0.1')).toEqual({ totalHits: 1, resetTime: new Date(now + 60_000) });
    now += 10_000;
    expect(store.increment('10.0.0.1')).toEqual({ totalHits: 2, resetTime: new Date(now - 10_000 + 60_000) });
    expect(store.increment('10.0.0.2').totalHits).toBe(1);
    store.decrement('10.0.0.1');
    expect(store.get('10.0.0.1')?.totalHits).toBe(1);
    now += 50_000; // the window of 10.0.0.1 ends
    expect(store.get('10.0.0.1')).toBeUndefined();
    expect(store.increment('10.0.0.1')).toEqual({ totalHits: 1, resetTime: new Date(now + 60_000) });
    store.resetKey('10.0.0.1');
    expect(store.get('10.0.0.1')).toBeUndefined();
  });

  it('limiters with different prefixes do not share counters; resetAll clears only its own', () => {
    const now = Date.parse('2026-11-22T10:00:00Z');
    const db = openDb(':memory:');
    const login = new SqliteRateLimitStore(db, 'login:', () => now);
    const account = new SqliteRateLimitStore(db, 'account:', () => now);
    login.init(options);
    account.init(options);
    login.increment('10.0.0.1');
    login.increment('10.0.0.1');
    expect(account.increment('10.0.0.1').totalHits).toBe(1);
    login.resetAll();
    expect(login.get('10.0.0.1')).toBeUndefined();
    expect(account.get('10.0.0.1')?.totalHits).toBe(1);
  });

  it('a restarted hub (the same database file, reopened) keeps counting where it was', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'labhub-rate-')), 'labhub.sqlite');
    const now = Date.parse('2026-11-22T10:00:00Z');
    const first = openDb(file);
    const before = new SqliteRateLimitStore(first, 'login:', () => now);
    before.init(options);
    for (let i = 0; i < 5; i++) before.increment('10.0.0.1');
    first.close();
    const after = new SqliteRateLimitStore(openDb(file), 'login:', () => now + 1000);
    after.init(options);
    expect(after.increment('10.0.0.1').totalHits).toBe(6);
  });
});
