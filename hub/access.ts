/**
 * Who is calling and what they may do: resolves a token or a login session to an Identity with
 * its expanded scopes (roles → scopes, token scopes ∩ owner scopes).
 */
import type { Clock } from './clock.js';
import { isoNow } from './clock.js';
import type { ServerRepo } from './db/servers.js';
import type { TokenRepo, TokenRow } from './db/tokens.js';
import type { UserRepo, UserRow } from './db/users.js';
import { expandScopes, intersectScopes, rolesToScopes } from './scopes.js';

export interface Identity {
  kind: 'user';
  user: UserRow;
  groups: string[];
  scopes: Set<string>;
  /** Set when authenticated by token. */
  token?: TokenRow;
  /** jupyterhub-session-id of the login (cookie) or of the OAuth token. */
  sessionId?: string;
  via: 'token' | 'cookie';
}

export class AccessService {
  /** Token last_activity is written at most this often per token, to keep the hot path read-only. */
  private readonly activityResolutionMs = 30_000;

  constructor(
    private readonly users: UserRepo,
    private readonly tokens: TokenRepo,
    private readonly servers: ServerRepo,
    private readonly clock: Clock,
  ) {}

  userRoles(user: UserRow): string[] {
    return user.admin ? ['user', 'admin'] : ['user'];
  }

  userScopes(user: UserRow): Set<string> {
    return expandScopes(rolesToScopes(this.userRoles(user)), { user: user.name });
  }

  forUser(user: UserRow, sessionId?: string): Identity {
    return { kind: 'user', user, groups: this.users.groupNames(user.id), scopes: this.userScopes(user), sessionId, via: 'cookie' };
  }

  forToken(value: string): Identity | undefined {
    const now = isoNow(this.clock);
    const token = this.tokens.find(value, now);
    if (!token || token.user_id === null) return undefined;
    const user = this.users.byId(token.user_id);
    if (!user) return undefined;
    const owner = this.userScopes(user);
    const serverName = token.server_id !== null ? this.servers.byId(token.server_id)?.name : undefined;
    const raw = JSON.parse(token.scopes) as string[];
    const own = expandScopes(raw, { user: user.name, server: serverName !== undefined ? `${user.name}/${serverName}` : undefined });
    const scopes = raw.includes('inherit') ? owner : intersectScopes(own, owner);
    const last = token.last_activity ? Date.parse(token.last_activity) : 0;
    if (this.clock.now() - last > this.activityResolutionMs) this.tokens.touch(token.id, now);
    return { kind: 'user', user, groups: this.users.groupNames(user.id), scopes, token, sessionId: token.session_id ?? undefined, via: 'token' };
  }
}
