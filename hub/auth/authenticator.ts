/**
 * The one small Authenticator interface and the login pipeline (JupyterHub auth.py
 * get_authenticated_user): authenticate (the method) → normalize username → blocked? → allowed?
 * → admin? → post-auth hook (save encrypted auth state, sync groups). Methods only produce a
 * LoginResult; every policy decision lives here, in one function, in that order.
 */
import type { Request, Router } from 'express';
import type { AuthConfig } from '../../config/auth-schema.js';
import type { AuthState, AuthStateStore } from '../auth-state.js';
import type { Clock } from '../clock.js';
import { isoNow } from '../clock.js';
import type { Db } from '../db/db.js';
import type { UserRepo, UserRow } from '../db/users.js';
import { HubError } from '../errors.js';
import type { Logger } from '../log.js';
import { syncUserGroups } from './groups.js';
import { usernamePolicy, type UsernamePolicy } from './usernames.js';

/** What a login method hands to the pipeline after it has authenticated someone. */
export interface LoginResult {
  /** Name of the method (its config `name`), kept in the session and in auth state. */
  method: string;
  /** Username as the provider gave it (normalized by the pipeline). */
  username: string;
  /** The method's own allow decision (organizations, groups, its allowedUsers); undefined = no opinion. */
  allowed?: boolean;
  /** true = make admin, false = demote (the method manages admin rights), undefined = leave as is. */
  admin?: boolean;
  /** Group names the user should be in (only when the method manages groups). */
  groups?: string[];
  /** Tokens, claims, teams: stored encrypted, never logged. */
  authState?: AuthState;
}

/** Context a method's routes use to finish a login. */
export interface LoginFinisher {
  /** Runs the pipeline and the session switch, then redirects to the saved `next`. */
  finish(req: Request, res: import('express').Response, result: LoginResult): Promise<void>;
}

export interface Authenticator {
  readonly kind: 'local' | 'github' | 'oidc';
  readonly name: string;
  /** Button text on the login page. */
  readonly label: string;
  /** Where the login button points; null for the password form. */
  readonly loginUrl: string | null;
  /** OAuth redirect and callback routes (none for local accounts). */
  routes?(finisher: LoginFinisher): Router;
  /** Refreshes expired tokens; a new result (re-run through the post-auth stages) or null when nothing changed. */
  refresh?(state: AuthState, opts: { force: boolean }): Promise<LoginResult | null>;
  /** Where to send the browser after local logout (RP-initiated logout), if anywhere. */
  logoutUrl?(state: AuthState | null, req: Request): Promise<string | null>;
}

export type PostAuthHook = (result: LoginResult & { admin: boolean | undefined }) => Promise<LoginResult | void> | LoginResult | void;

export interface PipelineDeps {
  db: Db;
  users: UserRepo;
  authState: AuthStateStore;
  clock: Clock;
  log: Logger;
  config: AuthConfig;
  /**
   * Optional programmatic post-auth hook (JupyterHub post_auth_hook): runs after the admin stage and
   * before anything is written, with the normalized username; may return a changed result (e.g.
   * extra auth state) or throw HubError to refuse the login.
   */
  postAuthHook?: PostAuthHook;
}

export class LoginPipeline {
  readonly usernames: UsernamePolicy;

  constructor(private readonly d: PipelineDeps) {
    this.usernames = usernamePolicy(d.config.usernames);
  }

  /** The whole decision, in JupyterHub's order. Throws HubError(403) when the user may not log in. */
  async run(result: LoginResult): Promise<UserRow> {
    const { config, users, log } = this.d;
    // 1. normalize + validate
    const name = this.usernames.normalize(result.username);
    const problem = this.usernames.validate(name);
    if (problem) {
      log.info({ method: result.method, event: 'login-refused', why: 'username' }, 'login refused: unacceptable username');
      throw new HubError(403, `Login refused: ${problem}`);
    }
    // 2. blocked
    if (config.blockedUsers.map((u) => this.usernames.normalize(u)).includes(name)) {
      log.info({ user: name, method: result.method, event: 'login-refused', why: 'blocked' }, 'login refused: blocked user');
      throw new HubError(403, `User ${name} is not allowed to log in`);
    }
    // 3. allowed
    const existing = users.byName(name);
    const listed = [...config.allowedUsers, ...config.adminUsers].map((u) => this.usernames.normalize(u)).includes(name);
    const allowed = config.allowAll || result.allowed === true || listed || (config.allowExistingUsers && existing !== undefined);
    if (!allowed) {
      log.info({ user: name, method: result.method, event: 'login-refused', why: 'not-allowed' }, 'login refused: not allowed');
      throw new HubError(403, `User ${name} is not allowed to log in`);
    }
    // 4. admin
    let admin: boolean | undefined = result.admin;
    if (config.adminUsers.map((u) => this.usernames.normalize(u)).includes(name)) admin = true;
    // 5. post-auth hook, then create/update with auth state and groups
    let final: LoginResult = { ...result, username: name, admin };
    if (this.d.postAuthHook) final = (await this.d.postAuthHook({ ...final, admin })) ?? final;
    admin = final.admin;
    const user = this.d.db.transaction(() => {
      const u = existing ?? users.create(name, { admin: admin === true, now: isoNow(this.d.clock) });
      if (admin !== undefined && Boolean(u.admin) !== admin) {
        users.setAdmin(u.id, admin);
        log.info({ user: name, admin, method: result.method }, admin ? 'admin granted at login' : 'admin revoked at login');
      }
      if (final.groups) syncUserGroups(this.d.db, u.id, final.groups);
      if (final.authState !== undefined) this.d.authState.set(u.id, { ...final.authState, method: result.method });
      return users.byId(u.id)!;
    })();
    return user;
  }

  /** Post-auth stages only, for a refresh of an already logged-in user (no allow check). */
  applyRefresh(userId: number, result: LoginResult): void {
    const { users, config } = this.d;
    this.d.db.transaction(() => {
      const u = users.byId(userId);
      if (!u) return;
      let admin = result.admin;
      if (config.adminUsers.map((n) => this.usernames.normalize(n)).includes(u.name)) admin = true;
      if (admin !== undefined && Boolean(u.admin) !== admin) users.setAdmin(u.id, admin);
      if (result.groups) syncUserGroups(this.d.db, u.id, result.groups);
      if (result.authState !== undefined) this.d.authState.set(u.id, { ...result.authState, method: result.method });
    })();
  }
}
