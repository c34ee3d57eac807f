/**
 * Per-user auth state (tokens and claims from the identity provider), stored encrypted in
 * users.auth_state. Read by spawners' credential helpers and, with admin:auth_state, the API.
 * Never logged (see REDACT_PATHS in log.ts).
 */
import type { Crypter } from './crypto.js';
import { prep, type Db } from './db/db.js';

export type AuthState = Record<string, unknown>;

export class AuthStateStore {
  constructor(
    private readonly db: Db,
    private readonly crypter: Crypter,
  ) {}

  get(userId: number): AuthState | null {
    const row = prep(this.db, 'SELECT id, auth_state FROM users WHERE id = ?').get(userId) as { id: number; auth_state: Buffer | null } | undefined;
    return row ? this.ofRow(row) : null;
  }

  /** The state from a user row already read (no query when the user has none). */
  ofRow(row: { id: number; auth_state: Buffer | null }): AuthState | null {
    if (!row.auth_state) return null;
    const state = this.crypter.decryptJson<AuthState>(row.auth_state);
    if (this.crypter.needsRotation(row.auth_state)) this.set(row.id, state); // re-encrypt under the current key
    return state;
  }

  set(userId: number, state: AuthState | null): void {
    prep(this.db, 'UPDATE users SET auth_state = ? WHERE id = ?').run(state === null ? null : this.crypter.encryptJson(state), userId);
  }
}
