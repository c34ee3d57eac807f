/**
 * First start: create the admin account `admin` with LABHUB_ADMIN_PASSWORD, or with a generated
 * password that is printed once (never logged, never stored in clear).
 */
import { randomBytes } from 'node:crypto';
import type { UserRepo } from '../db/users.js';
import { hashPassword } from './password.js';

export async function ensureFirstAdmin(users: UserRepo, opts: { password?: string; now: string; announce: (line: string) => void }): Promise<'created' | 'exists'> {
  const existing = users.byName('admin');
  if (existing) {
    if (!existing.admin) users.setAdmin(existing.id, true);
    return 'exists';
  }
  const generated = !opts.password;
  const password = opts.password ?? randomBytes(12).toString('base64url');
  users.create('admin', { admin: true, passwordHash: await hashPassword(password), now: opts.now });
  if (generated) opts.announce(`Created the first admin account. Username: admin  Password: ${password}  (shown only this once; change it after logging in)`);
  else opts.announce('Created the first admin account "admin" with the password from LABHUB_ADMIN_PASSWORD.');
  return 'created';
}
