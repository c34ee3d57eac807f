/**
 * The hub as OAuth2 provider for single-user servers and services (authorization-code grant,
 * PROTOCOL.md B2): /hub/api/oauth2/authorize issues one-time codes to logged-in users with access
 * to the client's server; /hub/api/oauth2/token exchanges them for tokens bound to the login session.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Router, urlencoded, type Request, type Response } from 'express';
import type { Clock } from '../clock.js';
import { isoNow } from '../clock.js';
import type { OAuthRepo } from '../db/oauth.js';
import type { TokenRepo } from '../db/tokens.js';
import { hashToken } from '../db/tokens.js';
import type { UserRepo } from '../db/users.js';
import { HubError } from '../errors.js';
import { hasScope, type ScopeTarget } from '../scopes.js';
import type { ServiceRepo } from '../db/services.js';
import type { Csrf } from '../http/csrf.js';

export interface OAuthDeps {
  oauth: OAuthRepo;
  tokens: TokenRepo;
  users: UserRepo;
  clock: Clock;
  /** OAuth access token lifetime (JupyterHub: cookie max age, 14 days). */
  tokenLifetimeSeconds: number;
  services: ServiceRepo;
  csrf: Csrf;
}

const CODE_LIFETIME_MS = 300_000;

function oauthError(res: Response, status: number, error: string, description?: string): void {
  res.status(status).set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' }).json({ error, ...(description ? { error_description: description } : {}) });
}

/** The access scope a client protects: a user's server or a service (from its allowed scopes). */
function accessTarget(allowedScopes: string[]): { scope: 'access:servers' | 'access:services'; raw: string; target: ScopeTarget; label: string } | undefined {
  for (const s of allowedScopes) {
    const server = /^access:servers!server=([^/]+)\/(.*)$/.exec(s);
    if (server) return { scope: 'access:servers', raw: s, target: { user: server[1], server: `${server[1]}/${server[2]}` }, label: server[2] ? `${server[1]}'s server ${server[2]}` : `${server[1]}'s server` };
    const service = /^access:services!service=(.+)$/.exec(s);
    if (service) return { scope: 'access:services', raw: s, target: { service: service[1] }, label: `the service ${service[1]}` };
  }
  return undefined;
}

export function oauthRouter(d: OAuthDeps): Router {
  const router = Router();

  const authorize = (req: Request, res: Response) => {
    const q = { ...(req.query as Record<string, unknown>), ...(req.method === 'POST' ? (req.body as Record<string, unknown>) : {}) };
    const clientId = typeof q.client_id === 'string' ? q.client_id : '';
    const redirectUri = typeof q.redirect_uri === 'string' ? q.redirect_uri : '';
    const state = typeof q.state === 'string' ? q.state : undefined;
    const responseType = typeof q.response_type === 'string' ? q.response_type : '';
    if (!req.identity) {
      res.redirect(302, `/hub/login?next=${encodeURIComponent(req.originalUrl)}`);
      return;
    }
    const client = d.oauth.client(clientId);
    if (!client || !client.secret_hash) throw new HubError(400, `OAuth client ${clientId || '(none)'} is not registered`);
    if (redirectUri && redirectUri !== client.redirect_uri) throw new HubError(400, 'Mismatching redirect URI');
    const redirect = redirectUri || client.redirect_uri;
    const sep = redirect.includes('?') ? '&' : '?';
    if (responseType !== 'code') {
      res.redirect(302, `${redirect}${sep}error=unsupported_response_type${state ? `&state=${encodeURIComponent(state)}` : ''}`);
      return;
    }
    const allowed = JSON.parse(client.allowed_scopes) as string[];
    const access = accessTarget(allowed);
    const identity = req.identity;
    const user = identity.user;
    if (!user) throw new HubError(403, 'Only users can authorize OAuth clients');
    if (access && !hasScope(identity.scopes, access.scope, { ...access.target, userGroups: identity.groups })) {
      throw new HubError(403, `You do not have permission to access ${access.label}`);
    }
    const name = user.name;
    const scopes = [`read:users:name!user=${name}`, `read:users:groups!user=${name}`, ...(access ? [access.raw] : [])];
    // Your own server, a service marked oauth_no_confirm, or a consent just given: no page.
    const ownServer = access?.scope === 'access:servers' && access.target.user === name;
    const service = access?.scope === 'access:services' ? d.services.byName(access.target.service!) : undefined;
    const confirmed = req.method === 'POST';
    if (!ownServer && !(service && service.oauth_no_confirm) && !confirmed) {
      res.render('oauth', { identity, xsrf: req.xsrfToken, clientName: client.description || client.identifier, label: access?.label ?? client.identifier, scopes, query: { client_id: clientId, redirect_uri: redirect, state: state ?? '', response_type: responseType } });
      return;
    }
    const code = randomBytes(22).toString('base64url').slice(0, 30);
    d.oauth.purgeExpiredCodes(isoNow(d.clock));
    d.oauth.createCode(code, {
      client_id: client.identifier,
      user_id: user.id,
      scopes: JSON.stringify(scopes),
      redirect_uri: redirect,
      session_id: identity.sessionId ?? null,
      expires_at: new Date(d.clock.now() + CODE_LIFETIME_MS).toISOString(),
    });
    res.redirect(302, `${redirect}${sep}code=${encodeURIComponent(code)}${state ? `&state=${encodeURIComponent(state)}` : ''}`);
  };

  router.get('/hub/api/oauth2/authorize', authorize);
  router.post('/hub/api/oauth2/authorize', urlencoded({ extended: false }), d.csrf.check(), authorize);

  router.post('/hub/api/oauth2/token', urlencoded({ extended: false, limit: '16kb' }), (req, res) => {
    const body = (req.body ?? {}) as Record<string, string>;
    let clientId = body.client_id;
    let secret = body.client_secret;
    // RFC 6749 also allows HTTP Basic client authentication.
    const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (basic && !secret) {
      const [id, sec] = Buffer.from(basic[1], 'base64').toString().split(':');
      clientId = decodeURIComponent(id ?? '');
      secret = decodeURIComponent(sec ?? '');
    }
    if (body.grant_type !== 'authorization_code') return oauthError(res, 400, 'unsupported_grant_type');
    const client = clientId ? d.oauth.client(clientId) : undefined;
    if (!client || !client.secret_hash || !secret || !safeEqualHex(hashToken(secret), client.secret_hash)) return oauthError(res, 401, 'invalid_client');
    const code = body.code ? d.oauth.takeCode(body.code) : undefined;
    const now = isoNow(d.clock);
    if (!code || code.client_id !== client.identifier || code.expires_at <= now) return oauthError(res, 400, 'invalid_grant');
    if (body.redirect_uri && body.redirect_uri !== code.redirect_uri) return oauthError(res, 400, 'invalid_grant', 'redirect_uri does not match');
    const scopes = JSON.parse(code.scopes) as string[];
    const { token } = d.tokens.create({
      kind: 'oauth',
      userId: code.user_id,
      clientId: client.identifier,
      sessionId: code.session_id,
      scopes,
      note: `OAuth token for ${client.identifier}`,
      expiresAt: new Date(d.clock.now() + d.tokenLifetimeSeconds * 1000).toISOString(),
      now,
    });
    res.status(200).set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' }).json({
      access_token: token,
      expires_in: d.tokenLifetimeSeconds,
      token_type: 'Bearer',
      scope: scopes.map((s) => s.replace(/!user=[^ ]+$/, '!user').replace(/!server=[^ ]+$/, '!server')).join(' '),
    });
  });

  return router;
}

function safeEqualHex(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

