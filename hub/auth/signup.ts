/**
 * Self sign-up with admin approval (auth.methods[local].allowSignup): a request holds the wanted
 * username and a bcrypt hash; approving it creates the user with that password. The table is
 * created on first use (like hub_meta), so no shared migration is needed.
 */
import type { Db } from '../db/db.js';

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
