/**
 * GitHub (github.com or GitHub Enterprise Server) with passport-github2. Every endpoint derives from
 * one base URL: {base}/login/oauth/{authorize,access_token} and the API {api}/user, /user/orgs,
 * /user/teams, /user/emails (api = https://api.github.com, or {base}/api/v3 for Enterprise).
 * Allowed: allowedUsers, or membership of an allowed organization or org:team.
 * passport-github2 (and passport, via oauth-routes) is imported on the first login, not at start:
 * a hub without a GitHub method never loads it.
 */
import type { GitHubProfile } from 'passport-github2';
import type { Router } from 'express';
import type { GitHubAuthConfig } from '../../config/auth-schema.js';
import { HubError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Authenticator, LoginFinisher, LoginResult } from './authenticator.js';
import { callbackPath, errMessage, loginPath, oauthRoutes, publicUrl } from './oauth-routes.js';

export interface GitHubEndpoints {
  authorize: string;
  token: string;
  api: string;
}

export function githubEndpoints(enterpriseUrl?: string): GitHubEndpoints {
  if (!enterpriseUrl) return { authorize: 'https://github.com/login/oauth/authorize', token: 'https://github.com/login/oauth/access_token', api: 'https://api.github.com' };
  const base = enterpriseUrl.replace(/\/+$/, '');
  return { authorize: `${base}/login/oauth/authorize`, token: `${base}/login/oauth/access_token`, api: `${base}/api/v3` };
}

const MAX_PAGES = 10;

export class GitHubAuthenticator implements Authenticator {
  readonly kind = 'github' as const;
  readonly name: string;
  readonly label: string;
  readonly loginUrl: string;
  readonly endpoints: GitHubEndpoints;

  constructor(
    private readonly cfg: GitHubAuthConfig,
    private readonly clientSecret: string,
    private readonly log: Logger,
  ) {
    this.name = cfg.name;
    this.label = cfg.label ?? (cfg.enterpriseUrl ? 'Sign in with GitHub Enterprise' : 'Sign in with GitHub');
    this.loginUrl = loginPath(cfg.name);
    this.endpoints = githubEndpoints(cfg.enterpriseUrl);
  }

  routes(finisher: LoginFinisher): Router {
    const cfg = this.cfg;
    return oauthRoutes(
      {
        name: cfg.name,
        log: this.log,
        strategy: async () => {
          const { Strategy: GitHubStrategy } = await import('passport-github2');
          return new GitHubStrategy(
            {
              name: cfg.name,
              clientID: cfg.clientId,
              clientSecret: this.clientSecret,
              callbackURL: cfg.callbackUrl ?? callbackPath(cfg.name),
              authorizationURL: this.endpoints.authorize,
              tokenURL: this.endpoints.token,
              userProfileURL: `${this.endpoints.api}/user`,
              userEmailURL: `${this.endpoints.api}/user/emails`,
              scope: cfg.scopes,
              state: true,
              allRawEmails: true,
              userAgent: 'LabHub',
            },
            (accessToken, _refreshToken, params, profile, done) => {
              this.verify(accessToken, params, profile).then((r) => done(null, r), (err) => done(err));
            },
          );
        },
        authOptions: (req) => (cfg.callbackUrl ? {} : { callbackURL: publicUrl(req, callbackPath(cfg.name)) }),
      },
      finisher,
    );
  }

  private async api<T>(token: string, path: string): Promise<T[]> {
    const out: T[] = [];
    let url: string | null = `${this.endpoints.api}${path}${path.includes('?') ? '&' : '?'}per_page=100`;
    for (let page = 0; url && page < MAX_PAGES; page++) {
      const res: Response = await fetch(url, {
        headers: { Authorization: `token ${token}`, Accept: 'application/vnd.github+json', 'User-Agent': 'LabHub' },
        signal: AbortSignal.timeout(15_000),
      });
      if (!res.ok) throw new Error(`GitHub API ${path} answered ${res.status}`);
      out.push(...((await res.json()) as T[]));
      url = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
    }
    return out;
  }

  async verify(accessToken: string, params: Record<string, unknown>, profile: GitHubProfile): Promise<LoginResult> {
    const cfg = this.cfg;
    const login = String(profile._json.login ?? profile.username ?? '');
    if (!login) throw new HubError(403, 'Login failed: GitHub returned no login name');
    const wantsOrgs = cfg.allowedOrganizations.length > 0 || cfg.populateTeamsInAuthState;
    let orgs: string[] = [];
    let teams: string[] = [];
    if (wantsOrgs) {
      try {
        orgs = (await this.api<{ login: string }>(accessToken, '/user/orgs')).map((o) => o.login);
        teams = (await this.api<{ slug: string; organization: { login: string } }>(accessToken, '/user/teams')).map((t) => `${t.organization.login}:${t.slug}`);
      } catch (err) {
        // Without read:org the lists may be unavailable; then only allowedUsers can admit the user.
        this.log.warn({ method: cfg.name, err: errMessage(err) }, 'could not read GitHub organizations/teams');
      }
    }
    const email = await this.primaryEmail(accessToken, profile);
    const lower = (s: string) => s.toLowerCase();
    const orgSet = new Set(orgs.map(lower));
    const teamSet = new Set(teams.map(lower));
    const inAllowedOrg = cfg.allowedOrganizations.some((entry) => (entry.includes(':') ? teamSet.has(lower(entry)) : orgSet.has(lower(entry))));
    const listed = cfg.allowedUsers.map(lower).includes(lower(login));
    const restricted = cfg.allowedOrganizations.length > 0 || cfg.allowedUsers.length > 0;
    return {
      method: cfg.name,
      username: login,
      allowed: restricted ? listed || inAllowedOrg : undefined,
      admin: cfg.adminUsers.map(lower).includes(lower(login)) ? true : undefined,
      authState: {
        access_token: accessToken,
        token_type: typeof params.token_type === 'string' ? params.token_type : 'bearer',
        scope: typeof params.scope === 'string' ? params.scope : cfg.scopes.join(','),
        github_user: profile._json,
        email,
        organizations: orgs,
        ...(cfg.populateTeamsInAuthState ? { teams } : {}),
      },
    };
  }

  /** The public email, else the primary verified one from /user/emails (needs user:email). */
  private async primaryEmail(token: string, profile: GitHubProfile): Promise<string | null> {
    if (typeof profile._json.email === 'string' && profile._json.email) return profile._json.email;
    let emails = profile.emails ?? [];
    if (!emails.some((e) => e.verified !== undefined) && this.cfg.scopes.includes('user:email')) {
      try {
        emails = (await this.api<{ email: string; primary: boolean; verified: boolean }>(token, '/user/emails')).map((e) => ({ value: e.email, primary: e.primary, verified: e.verified }));
      } catch (err) {
        this.log.warn({ method: this.cfg.name, err: errMessage(err) }, 'could not read GitHub emails');
      }
    }
    return emails.find((e) => e.primary && e.verified)?.value ?? emails.find((e) => e.verified)?.value ?? null;
  }
}
