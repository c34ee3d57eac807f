/**
 * Lockout after repeated failed logins, per username and per client IP. Failures older than the
 * window are forgotten; a locked key stays locked for lockSeconds even with the right password; an
 * admin can unlock. The counters live in a store: the hub's database (so a restart does not hand an
 * attacker a fresh set of tries), or memory (tests, a hub without one).
 */
import type { Clock } from '../clock.js';

export interface LockoutConfig {
  maxFailuresPerUser: number;
  maxFailuresPerIp: number;
  windowSeconds: number;
  lockSeconds: number;
}

export interface ThrottleEntry {
  /** Times (ms) of failures inside the window. */
  failures: number[];
  lockedUntil: number;
}

export interface ThrottleStore {
  get(key: string): ThrottleEntry | undefined;
  set(key: string, entry: ThrottleEntry): void;
  /** Returns whether there was an entry. */
  delete(key: string): boolean;
  /** Drops entries neither locked at `now` nor holding a failure after `failuresBefore`. */
  prune(now: number, failuresBefore: number): void;
}

const MAX_MEMORY_KEYS = 100_000;

export class MemoryThrottleStore implements ThrottleStore {
  private readonly entries = new Map<string, ThrottleEntry>();
  get = (key: string) => this.entries.get(key);
  set(key: string, entry: ThrottleEntry): void {
    this.entries.set(key, entry);
  }
  delete = (key: string) => this.entries.delete(key);
  prune(now: number, failuresBefore: number): void {
    if (this.entries.size <= MAX_MEMORY_KEYS) return;
    for (const [k, e] of this.entries) if (e.lockedUntil <= now && e.failures.every((t) => t <= failuresBefore)) this.entries.delete(k);
  }
}

/** How often stale entries are pruned (on a failure, never on the success path). */
const PRUNE_EVERY_MS = 60_000;

export class LoginThrottle {
  private prunedAt = 0;

  constructor(
    private readonly cfg: LockoutConfig,
    private readonly clock: Clock,
    private readonly store: ThrottleStore = new MemoryThrottleStore(),
  ) {}

  /** Seconds until the user or IP may try again, or 0 when not locked. */
  lockedFor(user: string, ip: string): number {
    const now = this.clock.now();
    const until = Math.max(this.store.get(`u:${user}`)?.lockedUntil ?? 0, this.store.get(`ip:${ip}`)?.lockedUntil ?? 0);
    return until > now ? Math.ceil((until - now) / 1000) : 0;
  }

  fail(user: string, ip: string): void {
    this.record(`u:${user}`, this.cfg.maxFailuresPerUser);
    this.record(`ip:${ip}`, this.cfg.maxFailuresPerIp);
  }

  succeed(user: string): void {
    this.store.delete(`u:${user}`);
  }

  /** Admin unlock of a username. Returns whether it was locked or had failures. */
  unlock(user: string): boolean {
    return this.store.delete(`u:${user}`);
  }

  isUserLocked(user: string): boolean {
    return (this.store.get(`u:${user}`)?.lockedUntil ?? 0) > this.clock.now();
  }

  private record(key: string, max: number): void {
    const now = this.clock.now();
    const windowStart = now - this.cfg.windowSeconds * 1000;
    if (now - this.prunedAt >= PRUNE_EVERY_MS) {
      this.prunedAt = now;
      this.store.prune(now, windowStart);
    }
    const e = this.store.get(key) ?? { failures: [], lockedUntil: 0 };
    e.failures = e.failures.filter((t) => t > windowStart);
    e.failures.push(now);
    if (e.failures.length >= max) {
      e.lockedUntil = now + this.cfg.lockSeconds * 1000;
      e.failures = [];
    }
    this.store.set(key, e);
  }
}
