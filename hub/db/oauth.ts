/** OAuth2 clients (one per single-user server or service) and one-time authorization codes. */
import { prep, type Db } from './db.js';
import { hashToken } from './tokens.js';

export interface OAuthClientRow {
  id: number;
  identifier: string;
  secret_hash: string | null;
  redirect_uri: string;
  description: string;
  allowed_scopes: string;
  created: string;
}

export interface OAuthCodeRow {
  hashed: string;
  client_id: string;
  user_id: number;
  scopes: string;
  redirect_uri: string;
  session_id: string | null;
  expires_at: string;
}

export class OAuthRepo {
  constructor(private readonly db: Db) {}

  client(identifier: string): OAuthClientRow | undefined {
    return prep(this.db, 'SELECT * FROM oauth_clients WHERE identifier = ?').get(identifier) as OAuthClientRow | undefined;
  }

  /** Registers or updates a client; the secret is stored hashed (it is the server's API token). */
  upsertClient(c: { identifier: string; secret: string; redirectUri: string; description: string; allowedScopes: string[]; now: string }): void {
    prep(this.db, 
        `INSERT INTO oauth_clients (identifier, secret_hash, redirect_uri, description, allowed_scopes, created) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (identifier) DO UPDATE SET secret_hash = excluded.secret_hash, redirect_uri = excluded.redirect_uri,
           description = excluded.description, allowed_scopes = excluded.allowed_scopes`,
      )
      .run(c.identifier, hashToken(c.secret), c.redirectUri, c.description, JSON.stringify(c.allowedScopes), c.now);
  }

  deleteClient(identifier: string): void {
    prep(this.db, 'DELETE FROM oauth_clients WHERE identifier = ?').run(identifier);
  }

  createCode(code: string, c: Omit<OAuthCodeRow, 'hashed'>): void {
    prep(this.db, 'INSERT INTO oauth_codes (hashed, client_id, user_id, scopes, redirect_uri, session_id, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(hashToken(code), c.client_id, c.user_id, c.scopes, c.redirect_uri, c.session_id, c.expires_at);
  }

  /** Codes are single use: taking one deletes it, in one statement. */
  takeCode(code: string): OAuthCodeRow | undefined {
    return prep(this.db, 'DELETE FROM oauth_codes WHERE hashed = ? RETURNING *').get(hashToken(code)) as OAuthCodeRow | undefined;
  }

  purgeExpiredCodes(now: string): void {
    prep(this.db, 'DELETE FROM oauth_codes WHERE expires_at <= ?').run(now);
  }
}
