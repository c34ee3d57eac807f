/** hub/auth/throttle.ts on its SQLite store (migration 0006), with an injected clock. */
import { describe, expect, it } from 'vitest';
import { LoginThrottle, MemoryThrottleStore } from '../../hub/auth/throttle.js';
import { openDb } from '../../hub/db/db.js';
import { SqliteThrottleStore } from '../../hub/db/login-throttle.js';

const cfg = { maxFailuresPerUser: 3, maxFailuresPerIp: 10, windowSeconds: 600, lockSeconds: 900 };

describe('login throttle', () => {
  for (const [name, makeStore] of [
    ['SQLite', () => new SqliteThrottleStore(openDb(':memory:'))],
    ['memory', () => new MemoryThrottleStore()],
  ] as const) {
    it(`${name}: locks after the limit within the window, forgets old failures, unlocks on time or by an admin`, () => {
      let now = Date.parse('2026-11-22T10:00:00Z');
      const t = new LoginThrottle(cfg, { now: () => now }, makeStore());
      t.fail('ann', '10.0.0.1');
      t.fail('ann', '10.0.0.1');
      now += 601_000; // both failures leave the window
      t.fail('ann', '10.0.0.1');
      expect(t.lockedFor('ann', '10.0.0.2')).toBe(0);
      t.fail('ann', '10.0.0.1');
      t.fail('ann', '10.0.0.1');
      expect(t.lockedFor('ann', '10.0.0.2')).toBe(900);
      expect(t.isUserLocked('ann')).toBe(true);
      now += 900_000;
      expect(t.lockedFor('ann', '10.0.0.2')).toBe(0);
      for (let i = 0; i < 3; i++) t.fail('ann', '10.0.0.3');
      expect(t.unlock('ann')).toBe(true);
      expect(t.lockedFor('ann', '10.0.0.9')).toBe(0);
    });
  }

  it('SQLite: a second throttle on the same database (a restarted hub) sees the lock; stale rows are pruned', () => {
    const db = openDb(':memory:');
    let now = Date.parse('2026-11-22T10:00:00Z');
    const clock = { now: () => now };
    const first = new LoginThrottle(cfg, clock, new SqliteThrottleStore(db));
    for (let i = 0; i < 3; i++) first.fail('bob', '10.0.0.1');
    const second = new LoginThrottle(cfg, clock, new SqliteThrottleStore(db));
    expect(second.isUserLocked('bob')).toBe(true);
    const rows = () => (db.prepare('SELECT key FROM login_throttle ORDER BY key').pluck().all() as string[]);
    expect(rows()).toEqual(['ip:10.0.0.1', 'u:bob']);
    now += 3600_000; // lock and window long over
    second.fail('carl', '10.0.0.5'); // a failure prunes what is neither locked nor recent
    expect(rows()).toEqual(['ip:10.0.0.5', 'u:carl']);
  });
});
