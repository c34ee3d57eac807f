import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Crypter } from '../../hub/crypto.js';
import { AuthStateStore } from '../../hub/auth-state.js';
import { openDb } from '../../hub/db/db.js';
import { UserRepo } from '../../hub/db/users.js';

describe('auth state encryption', () => {
  it('round-trips, rejects tampering, and rotates keys', () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const old = new Crypter([k1]);
    const blob = old.encryptJson({ access_token: 'gho_secret' });
    expect(blob.toString('latin1')).not.toContain('gho_secret');
    expect(old.decryptJson(blob)).toEqual({ access_token: 'gho_secret' });
    const tampered = Buffer.from(blob);
    tampered[tampered.length - 1] ^= 1;
    expect(() => old.decrypt(tampered)).toThrow();
    const rotated = new Crypter([k2, k1]);
    expect(rotated.decryptJson(blob)).toEqual({ access_token: 'gho_secret' });
    expect(rotated.needsRotation(blob)).toBe(true);
    expect(() => new Crypter([k2]).decrypt(blob)).toThrow(/no longer configured/);
  });

  it('stores auth state unreadable in the SQLite file and re-encrypts under the new key', () => {
    const db = openDb(':memory:');
    const users = new UserRepo(db);
    const u = users.create('alice', { now: new Date().toISOString() });
    const k1 = randomBytes(32);
    new AuthStateStore(db, new Crypter([k1])).set(u.id, { access_token: 'gho_plaintext_marker' });
    const raw = db.prepare('SELECT auth_state FROM users WHERE id = ?').get(u.id) as { auth_state: Buffer };
    expect(raw.auth_state.toString('latin1')).not.toContain('gho_plaintext_marker');
    const k2 = randomBytes(32);
    const store = new AuthStateStore(db, new Crypter([k2, k1]));
    expect(store.get(u.id)).toEqual({ access_token: 'gho_plaintext_marker' });
    // after a read under the new key list it no longer needs the old key
    expect(new AuthStateStore(db, new Crypter([k2])).get(u.id)).toEqual({ access_token: 'gho_plaintext_marker' });
  });
});
