/**
 * OpenID Connect with openid-client v6 and its passport strategy (openid-client/passport).
 * Discovery from the issuer; PKCE S256 on every authorization request (the strategy always sends
 * it) plus state and nonce; the ID token's signature is verified against the provider's JWKS
 * (enableNonRepudiationChecks), besides iss/aud/exp/nonce. Username and groups come from
 * configurable claims (ID token merged with userinfo); adminGroups grant and revoke admin.
 * Tokens are kept in (encrypted) auth state and refreshed before a spawn when they expire.
 * openid-client (with jose and oauth4webapi) is imported when the method is first used (discovery
 * on the first login, refresh or logout), not at start: a hub without an OIDC method never loads it.
 */
import type * as client from 'openid-client';
import type { AuthenticateOptions, Strategy as OidcStrategyType } from 'openid-client/passport';
import type { Request, Router } from 'express';
import type { OidcAuthConfig } from '../../config/auth-schema.js';
import type { AuthState } from '../auth-state.js';
import type { Clock } from '../clock.js';
import { HubError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Authenticator, LoginFinisher, LoginResult } from './authenticator.js';
import { callbackPath, loginPath, oauthRoutes, publicUrl } from './oauth-routes.js';

let openidClient: Promise<typeof client> | undefined;
/** openid-client, loaded once on first use. */
const loadClient = () => (openidClient ??= import('openid-client'));

let strategyClass: Promise<typeof OidcStrategyType> | undefined;
/** The passport strategy, loaded once on first use: adds state and nonce to PKCE (the strategy omits them when the provider supports PKCE). */
const loadStrategy = () =>
  (strategyClass ??= Promise.all([loadClient(), import('openid-client/passport')]).then(
    ([c, { Strategy }]) =>
      class LabHubOidcStrategy extends Strategy {
        override authorizationRequestParams<T extends AuthenticateOptions>(req: Request, options: T): URLSearchParams {
          const params = new URLSearchParams(super.authorizationRequestParams(req, options) as URLSearchParams);
          params.set('state', c.randomState());
          params.set('nonce', c.randomNonce());
          return params;
        }
      },
  ));

export function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (path in claims) return claims[path];
  let cur: unknown = claims;
  for (const part of path.split('.')) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

export class OidcAuthenticator implements Authenticator {
  readonly kind = 'oidc' as const;
  readonly name: string;
  readonly label: string;
  readonly loginUrl: string;
  private configPromise: Promise<client.Configuration> | null = null;

  constructor(
    private readonly cfg: OidcAuthConfig,
    private readonly clientSecret: string,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {
    this.name = cfg.name;
    this.label = cfg.label ?? 'Sign in with OpenID Connect';
    this.loginUrl = loginPath(cfg.name);
  }

  /** Discovery, once; retried after a failure. */
  configuration(): Promise<client.Configuration> {
    if (!this.configPromise) {
      this.configPromise = loadClient().then((c) => {
        const execute = [c.enableNonRepudiationChecks, ...(this.cfg.allowInsecureHttp ? [c.allowInsecureRequests] : [])];
        return c.discovery(new URL(this.cfg.issuer), this.cfg.clientId, this.clientSecret, undefined, { execute, timeout: 15 });
      });
      this.configPromise.catch(() => (this.configPromise = null));
    }
    return this.configPromise;
  }

  private scope(): string {
    return [...new Set(['openid', ...this.cfg.scopes])].join(' ');
  }

  routes(finisher: LoginFinisher): Router {
    const cfg = this.cfg;
    return oauthRoutes(
      {
        name: cfg.name,
        log: this.log,
        strategy: async () => {
          const [LabHubOidcStrategy, config] = await Promise.all([loadStrategy(), this.configuration()]);
          return new LabHubOidcStrategy({ config, name: cfg.name, sessionKey: `oidc:${cfg.name}`, scope: this.scope(), callbackURL: cfg.callbackUrl }, (tokens, done) => {
            this.fromTokens(tokens).then((r) => done(null, r), (err) => done(err));
          });
        },
        authOptions: (req) => (cfg.callbackUrl ? {} : { callbackURL: publicUrl(req, callbackPath(cfg.name)) }),
      },
      finisher,
    );
  }

  /** Turns a verified token response (code or refresh grant) into a LoginResult. */
  private async fromTokens(tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers, previous?: AuthState): Promise<LoginResult> {
    const cfg = this.cfg;
    const config = await this.configuration();
    const idClaims = (tokens.claims() as Record<string, unknown> | undefined) ?? (previous?.id_token_claims as Record<string, unknown> | undefined);
    if (!idClaims) throw new Error('the provider returned no ID token');
    let claims: Record<string, unknown> = { ...idClaims };
    if (cfg.fetchUserinfo && config.serverMetadata().userinfo_endpoint) {
      const info = await (await loadClient()).fetchUserInfo(config, tokens.access_token, String(idClaims.sub));
      claims = { ...claims, ...info };
    }
    const username = claimAt(claims, cfg.usernameClaim);
    if (typeof username !== 'string' || !username) throw new HubError(403, `Login failed: the identity provider sent no '${cfg.usernameClaim}' claim (auth usernameClaim)`);
    const rawGroups = claimAt(claims, cfg.groupsClaim);
    const groups = Array.isArray(rawGroups) ? rawGroups.filter((g): g is string => typeof g === 'string').map((g) => g.replace(/^\//, '')) : [];
    const lower = username.toLowerCase();
    const listed = cfg.allowedUsers.map((u) => u.toLowerCase()).includes(lower);
    const inGroup = groups.some((g) => cfg.allowedGroups.includes(g));
    const restricted = cfg.allowedUsers.length > 0 || cfg.allowedGroups.length > 0;
    let admin: boolean | undefined;
    if (cfg.adminUsers.map((u) => u.toLowerCase()).includes(lower)) admin = true;
    else if (cfg.adminGroups.length > 0) admin = groups.some((g) => cfg.adminGroups.includes(g));
    const expiresIn = tokens.expiresIn();
    return {
      method: cfg.name,
      username,
      allowed: restricted ? listed || inGroup : undefined,
      admin,
      groups: cfg.manageGroups ? groups : undefined,
      authState: {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token ?? previous?.refresh_token ?? null,
        id_token: tokens.id_token ?? previous?.id_token ?? null,
        token_type: tokens.token_type,
        scope: tokens.scope ?? null,
        expires_at: expiresIn !== undefined ? Math.floor(this.clock.now() / 1000) + expiresIn : null,
        id_token_claims: idClaims,
        claims,
        groups,
      },
    };
  }

  async refresh(state: AuthState, opts: { force: boolean }): Promise<LoginResult | null> {
    const expiresAt = typeof state.expires_at === 'number' ? state.expires_at : null;
    const due = opts.force || (expiresAt !== null && expiresAt - this.cfg.refreshMarginSeconds <= this.clock.now() / 1000);
    if (!due) return null;
    if (typeof state.refresh_token !== 'string' || !state.refresh_token) return null;
    const config = await this.configuration();
    const tokens = await (await loadClient()).refreshTokenGrant(config, state.refresh_token);
    return this.fromTokens(tokens, state);
  }

  async logoutUrl(state: AuthState | null, req: Request): Promise<string | null> {
    if (!this.cfg.logoutRedirect) return null;
    let config: client.Configuration;
    try {
      config = await this.configuration();
    } catch {
      return null; // provider down: local logout still happens
    }
    if (!config.serverMetadata().end_session_endpoint) return null;
    const params: Record<string, string> = { client_id: this.cfg.clientId, post_logout_redirect_uri: this.cfg.postLogoutRedirectUrl ?? publicUrl(req, '/hub/login') };
    if (typeof state?.id_token === 'string') params.id_token_hint = state.id_token;
    return (await loadClient()).buildEndSessionUrl(config, params).href;
  }
}
