/**
 * Lockout after repeated failed logins, per username and per client IP (in memory: a hub restart
 * forgets it, as code-server's limiter does). Failures older than the window are forgotten; a
 * locked key stays locked for lockSeconds even with the right password; an admin can unlock.
 */
import type { Clock } from '../clock.js';

export interface LockoutConfig {
  maxFailuresPerUser: number;
  maxFailuresPerIp: number;
  windowSeconds: number;
  lockSeconds: number;
}

interface Entry {
  failures: number[];
  lockedUntil: number;
}

const MAX_KEYS = 100_000;

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly cfg: LockoutConfig,
    private readonly clock: Clock,
  ) {}

  /** Seconds until the user or IP may try again, or 0 when not locked. */
  lockedFor(user: string, ip: string): number {
    const now = this.clock.now();
    const until = Math.max(this.entries.get(`u:${user}`)?.lockedUntil ?? 0, this.entries.get(`ip:${ip}`)?.lockedUntil ?? 0);
    return until > now ? Math.ceil((until - now) / 1000) : 0;
  }

  fail(user: string, ip: string): void {
    this.record(`u:${user}`, this.cfg.maxFailuresPerUser);
    this.record(`ip:${ip}`, this.cfg.maxFailuresPerIp);
  }

  succeed(user: string): void {
    this.entries.delete(`u:${user}`);
  }

  /** Admin unlock of a username. Returns whether it was locked or had failures. */
  unlock(user: string): boolean {
    return this.entries.delete(`u:${user}`);
  }

  isUserLocked(user: string): boolean {
    return (this.entries.get(`u:${user}`)?.lockedUntil ?? 0) > this.clock.now();
  }

  private record(key: string, max: number): void {
    const now = this.clock.now();
    if (this.entries.size > MAX_KEYS) this.prune(now);
    const e = this.entries.get(key) ?? { failures: [], lockedUntil: 0 };
    e.failures = e.failures.filter((t) => t > now - this.cfg.windowSeconds * 1000);
    e.failures.push(now);
    if (e.failures.length >= max) {
      e.lockedUntil = now + this.cfg.lockSeconds * 1000;
      e.failures = [];
    }
    this.entries.set(key, e);
  }

  private prune(now: number): void {
    for (const [k, e] of this.entries) if (e.lockedUntil <= now && e.failures.every((t) => t <= now - this.cfg.windowSeconds * 1000)) this.entries.delete(k);
  }
}
