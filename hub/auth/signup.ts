/**
 * Self sign-up with admin approval (auth.methods[local].allowSignup): a request holds the wanted
 * username and a bcrypt hash; approving it creates the user with that password. The table is
 * created on first use (like hub_meta), so no shared migration is needed.
 */
import type { Db } from '../db/db.js';
import type { UserRepo, UserRow } from '../db/users.js';
import { HubError } from '../errors.js';

export interface SignupRow {
  name: string;
  password_hash: string;
  created: string;
}

export class SignupRepo {
  constructor(private readonly db: Db) {
    db.exec('CREATE TABLE IF NOT EXISTS signup_requests (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created TEXT NOT NULL)');
  }

  add(name: string, passwordHash: string, now: string): boolean {
    return this.db.prepare('INSERT OR IGNORE INTO signup_requests (name, password_hash, created) VALUES (?, ?, ?)').run(name, passwordHash, now).changes === 1;
  }

  get(name: string): SignupRow | undefined {
    return this.db.prepare('SELECT * FROM signup_requests WHERE name = ?').get(name) as SignupRow | undefined;
  }

  list(): SignupRow[] {
    return this.db.prepare('SELECT * FROM signup_requests ORDER BY created').all() as SignupRow[];
  }

  remove(name: string): boolean {
    return this.db.prepare('DELETE FROM signup_requests WHERE name = ?').run(name).changes === 1;
  }
}

/** Approve: creates the user with the requested password and drops the request (one transaction). */
export function approveSignup(db: Db, users: UserRepo, signups: SignupRepo, name: string, now: string): UserRow {
  const request = signups.get(name);
  if (!request) throw new HubError(404, `No sign-up request for ${name}`);
  if (users.byName(name)) {
    signups.remove(name);
    throw new HubError(409, `User ${name} already exists`);
  }
  return db.transaction(() => {
    const u = users.create(name, { admin: false, passwordHash: request.password_hash, now });
    signups.remove(name);
    return u;
  })();
}
