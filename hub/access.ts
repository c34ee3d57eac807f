/**
 * Who is calling and what they may do: resolves a token or a login session to an Identity with
 * its expanded scopes. Users get the scopes of their roles (user, admin, roles assigned directly or
 * through groups) plus what others shared with them; services get their roles' scopes; a token
 * gets its own scopes intersected with its owner's (JupyterHub RBAC).
 */
import type { Clock } from './clock.js';
import type { RoleRepo } from './db/roles.js';
import type { ServerRepo } from './db/servers.js';
import type { ServiceRepo, ServiceRow } from './db/services.js';
import type { ShareRepo } from './db/shares.js';
import { hashToken, type TokenRepo, type TokenRow } from './db/tokens.js';
import type { UserRepo, UserRow } from './db/users.js';
import { expandScopes, intersectScopes } from './scopes.js';

export interface Identity {
  kind: 'user' | 'service';
  name: string;
  /** Set for kind 'user'. */
  user?: UserRow;
  /** Set for kind 'service'. */
  service?: ServiceRow;
  groups: string[];
  scopes: Set<string>;
  /** Set when authenticated by token. */
  token?: TokenRow;
  /** jupyterhub-session-id of the login (cookie) or of the OAuth token. */
  sessionId?: string;
  via: 'token' | 'cookie';
}

export interface AccessRepos {
  users: UserRepo;
  tokens: TokenRepo;
  servers: ServerRepo;
  roles: RoleRepo;
  services: ServiceRepo;
  shares: ShareRepo;
}

/**
 * Token identities are cached briefly: API clients (cullers, dashboards) send many requests with one
 * token, and resolving roles, groups and shares for each costs several queries. Every write request
 * and every token deletion clears the cache, so revocations apply at once; the TTL bounds what a
 * change made outside a request (e.g. groups synced at an OIDC login) can lag.
 */
const IDENTITY_TTL_MS = 2000;

export class AccessService {
  /** Token last_activity is written at most this often per token, to keep the hot path read-only. */
  private readonly activityResolutionMs = 30_000;
  private readonly cache = new Map<string, { identity: Identity; at: number }>();
  /** isAdmin's answer for service identities (users carry their admin flag). */
  private readonly serviceAdmin = new WeakMap<Identity, boolean>();

  constructor(
    private readonly r: AccessRepos,
    private readonly clock: Clock,
  ) {}

  userRoles(user: UserRow): string[] {
    return this.rolesFrom(user, this.r.roles.forUser(user.id));
  }

  /** A user's role names from the roles assigned (directly or through groups): user, admin, the rest. */
  rolesFrom(user: UserRow, assigned: string[]): string[] {
    const roles = new Set(['user', ...assigned]);
    if (user.admin) roles.add('admin');
    return [...roles];
  }

  userScopes(user: UserRow): Set<string> {
    const raw = this.userRoles(user).flatMap((role) => this.r.roles.scopesOf(role));
    for (const share of this.r.shares.reaching(user.id)) {
      const owner = this.r.users.byId(share.owner_id);
      if (owner) for (const s of JSON.parse(share.scopes) as string[]) raw.push(s.includes('!') ? s : `${s}!server=${owner.name}/${share.server_name}`);
    }
    return expandScopes(raw, { user: user.name });
  }

  /**
   * Whether the caller is an admin, as JupyterHub's `current_user.admin`: an admin user (with any token
   * of theirs) or a service holding the admin role. Holding `admin:users` alone is not enough to make
   * admins or change them — otherwise that scope would be a path to every other scope.
   */
  isAdmin(identity: Identity): boolean {
    if (identity.user) return Boolean(identity.user.admin);
    if (!identity.service) return false;
    // identities are cached per token, so a service's role lookup runs once per identity, not per request
    let admin = this.serviceAdmin.get(identity);
    if (admin === undefined) this.serviceAdmin.set(identity, (admin = this.r.roles.forService(identity.service.id).includes('admin')));
    return admin;
  }

  serviceScopes(service: ServiceRow): Set<string> {
    return expandScopes(this.r.roles.forService(service.id).flatMap((role) => this.r.roles.scopesOf(role)), { service: service.name });
  }

  forUser(user: UserRow, sessionId?: string): Identity {
    return { kind: 'user', name: user.name, user, groups: this.r.users.groupNames(user.id), scopes: this.userScopes(user), sessionId, via: 'cookie' };
  }

  /** Forget cached identities (after any change to users, roles, groups, shares or tokens). */
  invalidate(): void {
    this.cache.clear();
  }

  forToken(value: string): Identity | undefined {
    const nowMs = this.clock.now();
    const key = hashToken(value);
    const hit = this.cache.get(key);
    if (hit && nowMs - hit.at < IDENTITY_TTL_MS && (!hit.identity.token?.expires_at || Date.parse(hit.identity.token.expires_at) > nowMs)) return hit.identity;
    const identity = this.resolveToken(value, nowMs);
    if (identity) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, { identity, at: nowMs });
    } else this.cache.delete(key);
    return identity;
  }

  private resolveToken(value: string, nowMs: number): Identity | undefined {
    const now = new Date(nowMs).toISOString();
    const token = this.r.tokens.find(value, now);
    if (!token) return undefined;
    let base: Omit<Identity, 'scopes' | 'via'> & { ownerScopes: Set<string> };
    let ownerCtx: { user?: string; server?: string; service?: string };
    if (token.user_id !== null) {
      const user = this.r.users.byId(token.user_id);
      if (!user) return undefined;
      const serverName = token.server_id !== null ? this.r.servers.byId(token.server_id)?.name : undefined;
      ownerCtx = { user: user.name, server: serverName !== undefined ? `${user.name}/${serverName}` : undefined };
      base = { kind: 'user', name: user.name, user, groups: this.r.users.groupNames(user.id), ownerScopes: this.userScopes(user) };
    } else if (token.service_id !== null) {
      const service = this.r.services.byId(token.service_id);
      if (!service) return undefined;
      ownerCtx = { service: service.name };
      base = { kind: 'service', name: service.name, service, groups: [], ownerScopes: this.serviceScopes(service) };
    } else return undefined;
    const raw = JSON.parse(token.scopes) as string[];
    const scopes = raw.includes('inherit') ? base.ownerScopes : intersectScopes(expandScopes(raw, ownerCtx), base.ownerScopes);
    const last = token.last_activity ? Date.parse(token.last_activity) : 0;
    if (nowMs - last > this.activityResolutionMs) this.r.tokens.touch(token.id, now);
    const { ownerScopes: _owner, ...identity } = base;
    return { ...identity, scopes, token, sessionId: token.session_id ?? undefined, via: 'token' };
  }
}
