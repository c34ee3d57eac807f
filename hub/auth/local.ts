/**
 * Local accounts: users an admin created (or approved after self sign-up) with a bcrypt password.
 * authenticate() enforces the lockout before and after checking the password, so a locked
 * username or IP is refused even with the right password.
 */
import type { LocalAuthConfig } from '../../config/auth-schema.js';
import type { Clock } from '../clock.js';
import type { UserRepo } from '../db/users.js';
import { HubError } from '../errors.js';
import type { Authenticator, LoginResult } from './authenticator.js';
import { hashPassword, verifyPassword } from './password.js';
import { LoginThrottle, type ThrottleStore } from './throttle.js';
import type { UsernamePolicy } from './usernames.js';

export class LocalAuthenticator implements Authenticator {
  readonly kind = 'local' as const;
  readonly name: string;
  readonly label = 'Sign in';
  readonly loginUrl = null;
  readonly throttle: LoginThrottle;

  constructor(
    readonly cfg: LocalAuthConfig,
    private readonly users: UserRepo,
    private readonly usernames: UsernamePolicy,
    clock: Clock,
    throttleStore?: ThrottleStore,
  ) {
    this.name = cfg.name;
    this.throttle = new LoginThrottle(cfg.lockout, clock, throttleStore);
  }

  /** Checks a password login. Throws 429 while locked, 403 for a wrong username or password. */
  async authenticate(rawUsername: string, password: string, ip: string): Promise<LoginResult> {
    const username = this.usernames.normalize(rawUsername);
    const locked = this.throttle.lockedFor(username, ip);
    if (locked) throw lockedError(locked);
    const user = username ? this.users.byName(username) : undefined;
    const ok = username !== '' && password !== '' && (await verifyPassword(password, user?.password_hash ?? null));
    if (!ok || !user) {
      this.throttle.fail(username, ip);
      const now = this.throttle.lockedFor(username, ip);
      if (now) throw lockedError(now);
      throw new HubError(403, 'Invalid username or password', { code: 'LOGIN_FAILED' });
    }
    this.throttle.succeed(username);
    return { method: this.name, username: user.name, allowed: true };
  }

  checkNewPassword(password: unknown): string {
    if (typeof password !== 'string') throw new HubError(400, "'password' must be a string");
    if (password.length < this.cfg.minPasswordLength) throw new HubError(400, `Password must be at least ${this.cfg.minPasswordLength} characters`);
    if (password.length > 1024) throw new HubError(400, 'Password is too long');
    if (Buffer.byteLength(password) > 72) throw new HubError(400, 'Password is longer than 72 bytes (bcrypt limit)');
    return password;
  }

  async setPassword(userId: number, password: string): Promise<void> {
    this.users.setPasswordHash(userId, await hashPassword(this.checkNewPassword(password)));
  }
}

function lockedError(seconds: number): HubError {
  const minutes = Math.ceil(seconds / 60);
  return new HubError(429, `Too many failed login attempts. Login is locked for ${minutes} minute${minutes === 1 ? '' : 's'}; an administrator can unlock the account.`, {
    code: 'LOGIN_LOCKED',
    headers: { 'Retry-After': String(seconds) },
  });
}
