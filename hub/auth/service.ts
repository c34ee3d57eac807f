/**
 * AuthService: builds the configured login methods, owns the pipeline and the session switch,
 * and offers what the rest of the hub needs: refreshAuthState(userId) before a spawn, the
 * logout redirect, and lockout/sign-up administration.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import type { AuthConfig, AuthMethodConfig } from '../../config/auth-schema.js';
import type { AuthState, AuthStateStore } from '../auth-state.js';
import type { Clock } from '../clock.js';
import { isoNow } from '../clock.js';
import type { Db } from '../db/db.js';
import type { UserRepo, UserRow } from '../db/users.js';
import { HubError } from '../errors.js';
import type { Csrf } from '../http/csrf.js';
import type { Logger } from '../log.js';
import { LoginPipeline, type Authenticator, type LoginFinisher, type LoginResult, type PostAuthHook } from './authenticator.js';
import { GitHubAuthenticator } from './github.js';
import { LocalAuthenticator } from './local.js';
import { safeNext } from './next.js';
import { OidcAuthenticator } from './oidc.js';
import { SignupRepo } from './signup.js';
import { SqliteThrottleStore } from '../db/login-throttle.js';


declare module 'express-session' {
  interface SessionData {
    /** Login method (config name) of this session, for logout and refresh. */
    authMethod?: string;
    /** Validated `next` remembered across an OAuth round trip. */
    loginNext?: string;
  }
}

export interface AuthServiceDeps {
  config: AuthConfig;
  db: Db;
  users: UserRepo;
  authState: AuthStateStore;
  clock: Clock;
  log: Logger;
  csrf: Csrf;
  secureCookies: boolean;
  /** name of the jupyterhub-session-id cookie (`__Host-` form with cookieHostPrefix; http/hub-cookies.ts) */
  sessionIdCookie: string;
  /** Client secrets by method name (env LABHUB_<NAME>_CLIENT_SECRET), else clientSecretFile. */
  clientSecrets?: Record<string, string>;
  postAuthHook?: PostAuthHook;
}

export class AuthService implements LoginFinisher {
  readonly pipeline: LoginPipeline;
  readonly methods: Authenticator[];
  readonly local: LocalAuthenticator | undefined;
  readonly signups: SignupRepo;
  private readonly refreshing = new Map<number, Promise<AuthState | null>>();

  constructor(private readonly d: AuthServiceDeps) {
    this.pipeline = new LoginPipeline({ db: d.db, users: d.users, authState: d.authState, clock: d.clock, log: d.log, config: d.config, postAuthHook: d.postAuthHook });
    const seen = new Set<string>();
    this.methods = d.config.methods.map((m) => {
      if (seen.has(m.name)) throw new HubError(500, `auth.methods: two methods are named '${m.name}'; give each a distinct name`);
      seen.add(m.name);
      return this.build(m);
    });
    this.local = this.methods.find((m): m is LocalAuthenticator => m instanceof LocalAuthenticator);
    this.signups = new SignupRepo(d.db);
  }

  private build(m: AuthMethodConfig): Authenticator {
    const log = this.d.log.child({ component: 'auth', method: m.name });
    switch (m.kind) {
      case 'local':
        return new LocalAuthenticator(m, this.d.users, this.pipeline.usernames, this.d.clock, new SqliteThrottleStore(this.d.db));
      case 'github':
        return new GitHubAuthenticator(m, this.secretFor(m), log);
      case 'oidc':
        return new OidcAuthenticator(m, this.secretFor(m), log, this.d.clock);
    }
  }

  private secretFor(m: { name: string; clientSecretFile?: string }): string {
    const fromEnv = this.d.clientSecrets?.[m.name];
    if (fromEnv) return fromEnv;
    if (m.clientSecretFile) {
      const v = readFileSync(m.clientSecretFile, 'utf8').trim();
      if (v) return v;
    }
    throw new HubError(500, `auth method '${m.name}': no client secret (set LABHUB_${m.name.toUpperCase().replace(/-/g, '_')}_CLIENT_SECRET or clientSecretFile)`);
  }

  method(name: string | undefined): Authenticator | undefined {
    return name ? this.methods.find((m) => m.name === name) : undefined;
  }

  /** LoginFinisher: pipeline, then the session switch, then the remembered `next`. */
  async finish(req: Request, res: Response, result: LoginResult): Promise<void> {
    const next = safeNext(req.session?.loginNext);
    const user = await this.pipeline.run(result);
    await this.completeLogin(req, res, user, result.method);
    res.redirect(302, next);
  }

  /** New session id (no fixation), jupyterhub-session-id, new CSRF nonce. */
  completeLogin(req: Request, res: Response, user: UserRow, method: string): Promise<void> {
    const d = this.d;
    return new Promise((resolve, reject) => {
      req.session.regenerate((err) => {
        if (err) return reject(err);
        const hubSessionId = randomBytes(16).toString('hex');
        req.session.userId = user.id;
        req.session.cookieId = user.cookie_id;
        req.session.hubSessionId = hubSessionId;
        req.session.authMethod = method;
        res.cookie(d.sessionIdCookie, hubSessionId, { httpOnly: true, sameSite: 'lax', secure: d.secureCookies, path: '/' });
        d.csrf.rotate(req, res);
        d.users.touch(user.id, isoNow(d.clock));
        d.log.info({ user: user.name, method, event: 'login' }, 'user logged in');
        req.session.save((e) => (e ? reject(e) : resolve()));
      });
    });
  }

  /**
   * Refreshes the user's identity-provider tokens when they have expired (or `force`), before a
   * spawn hands them to a server. Returns the current auth state (null when there is none).
   * Throws HubError(403) when the provider refuses the refresh: the user must log in again.
   */
  async refreshAuthState(userId: number, opts: { force?: boolean } = {}): Promise<AuthState | null> {
    // One refresh per user at a time: providers rotate refresh tokens, so a second concurrent
    // refresh with the same token would fail.
    const running = this.refreshing.get(userId);
    if (running) return running;
    const p = this.doRefresh(userId, opts).finally(() => this.refreshing.delete(userId));
    this.refreshing.set(userId, p);
    return p;
  }

  private async doRefresh(userId: number, opts: { force?: boolean }): Promise<AuthState | null> {
    const state = this.d.authState.get(userId);
    if (!state) return null;
    const method = this.method(typeof state.method === 'string' ? state.method : undefined);
    if (!method?.refresh) return state;
    let result: LoginResult | null;
    try {
      result = await method.refresh(state, { force: opts.force ?? false });
    } catch (err) {
      this.d.log.warn({ userId, method: method.name, err: (err as Error)?.message, event: 'refresh-failed' }, 'token refresh failed');
      throw new HubError(403, 'Your login has expired; log out and log in again', { cause: err });
    }
    if (!result) return state;
    this.pipeline.applyRefresh(userId, result);
    this.d.log.info({ userId, method: method.name, event: 'token-refreshed' }, 'identity provider tokens refreshed');
    return this.d.authState.get(userId);
  }

  /** The identity provider's logout URL for this session (RP-initiated logout), if any. */
  async logoutUrl(req: Request): Promise<string | null> {
    const userId = req.session?.userId;
    const method = this.method(req.session?.authMethod);
    if (!userId || !method?.logoutUrl) return null;
    let state: AuthState | null = null;
    try {
      state = this.d.authState.get(userId);
    } catch {
      state = null;
    }
    return method.logoutUrl(state, req);
  }
}
