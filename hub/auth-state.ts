/**
 * Per-user auth state (tokens and claims from the identity provider), stored encrypted in
 * users.auth_state. Read by spawners' credential helpers and, with admin:auth_state, the API.
 * Never logged (see REDACT_PATHS in log.ts).
 */
import type { Crypter } from './crypto.js';
import type { Db } from './db/db.js';

export type AuthState = Record<string, unknown>;

export class AuthStateStore {
  constructor(
    private readonly db: Db,
    private readonly crypter: Crypter,
  ) {}

  get(userId: number): AuthState | null {
    const row = this.db.prepare('SELECT auth_state FROM users WHERE id = ?').get(userId) as { auth_state: Buffer | null } | undefined;
    if (!row?.auth_state) return null;
    const state = this.crypter.decryptJson<AuthState>(row.auth_state);
    if (this.crypter.needsRotation(row.auth_state)) this.set(userId, state); // re-encrypt under the current key
    return state;
  }

  set(userId: number, state: AuthState | null): void {
    this.db.prepare('UPDATE users SET auth_state = ? WHERE id = ?').run(state === null ? null : this.crypter.encryptJson(state), userId);
  }
}
