/**
 * The two routes every OAuth method has: /hub/oauth/{name}/login (remembers a validated `next`,
 * then redirects to the provider) and /hub/oauth/{name}/callback (the passport strategy checks
 * state/PKCE and tokens, the method builds a LoginResult, the pipeline decides).
 * passport and the strategy are loaded on the first request to either route, so a hub whose
 * methods are all local accounts never loads passport or any OAuth/OIDC library.
 */
import type passport from 'passport';
import { Router, type Request, type Response } from 'express';
import { HubError } from '../errors.js';
import type { Logger } from '../log.js';
import type { LoginFinisher, LoginResult } from './authenticator.js';
import { safeNext } from './next.js';

export interface OAuthRouteSpec {
  name: string;
  log: Logger;
  /** The strategy (may be built lazily, e.g. after OIDC discovery). */
  strategy(): Promise<passport.Strategy>;
  /** Per-request options for passport.authenticate (e.g. callbackURL derived from the request). */
  authOptions?(req: Request): Record<string, unknown>;
}

const PRE_LOGIN_SESSION_MS = 15 * 60_000;

export function callbackPath(name: string): string {
  return `/hub/oauth/${name}/callback`;
}

export function loginPath(name: string): string {
  return `/hub/oauth/${name}/login`;
}

/** Absolute URL of a hub path as the browser sees it (honours X-Forwarded-* from trusted proxies). */
export function publicUrl(req: Request, path: string): string {
  return `${req.protocol}://${req.host}${path}`;
}

export function oauthRoutes(spec: OAuthRouteSpec, finisher: LoginFinisher): Router {
  const r = Router();
  let registered: Promise<passport.Authenticator> | null = null;
  const ensure = () =>
    (registered ??= Promise.all([import('passport'), spec.strategy()]).then(
      ([{ default: passport }, s]) => new passport.Passport().use(spec.name, s),
      (err) => {
        registered = null; // retry on the next request (the provider may be back)
        throw err;
      },
    ));

  const run = (pp: passport.Authenticator, req: Request, res: Response) =>
    new Promise<LoginResult | null>((resolve, reject) => {
      // A redirect to the provider ends the response without calling back.
      res.once('finish', () => resolve(null));
      pp.authenticate(spec.name, { session: false, ...(spec.authOptions?.(req) ?? {}) }, (err: unknown, user: unknown, info: unknown) => {
        if (err) return reject(err);
        if (!user) return reject(new HubError(403, `Login failed: ${describeInfo(info)}`));
        resolve(user as LoginResult);
      })(req, res, (err?: unknown) => (err ? reject(err) : resolve(null)));
    });

  r.get(loginPath(spec.name), async (req, res) => {
    const pp = await ensure().catch((err) => {
      throw unreachable(spec, err);
    });
    req.session.loginNext = safeNext(req.query.next);
    // A pre-login session only carries state/PKCE for one round trip; login replaces it (regenerate).
    req.session.cookie.maxAge = PRE_LOGIN_SESSION_MS;
    await run(pp, req, res);
  });

  r.get(callbackPath(spec.name), async (req, res) => {
    if (typeof req.query.error === 'string') {
      throw new HubError(403, `Login failed at the identity provider: ${String(req.query.error_description ?? req.query.error).slice(0, 200)}`);
    }
    const pp = await ensure().catch((err) => {
      throw unreachable(spec, err);
    });
    let result: LoginResult | null;
    try {
      result = await run(pp, req, res);
    } catch (err) {
      if (err instanceof HubError) throw err;
      spec.log.warn({ method: spec.name, err: errMessage(err), event: 'login-failed' }, 'OAuth callback rejected');
      throw new HubError(403, "Login failed: the identity provider's response could not be verified", { logMessage: errMessage(err), cause: err });
    }
    if (!result) {
      if (!res.headersSent) throw new HubError(400, 'Login did not complete');
      return;
    }
    await finisher.finish(req, res, result);
  });
  return r;
}

function unreachable(spec: OAuthRouteSpec, err: unknown): HubError {
  spec.log.error({ method: spec.name, err: errMessage(err) }, 'identity provider unavailable');
  return new HubError(503, 'The identity provider is not reachable right now; try again later', { logMessage: errMessage(err) });
}

function describeInfo(info: unknown): string {
  const m = (info as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' ? m.slice(0, 200) : 'not authenticated';
}

export function errMessage(err: unknown): string {
  const e = err as { message?: string; code?: string; cause?: unknown };
  return `${e?.code ? `${e.code}: ` : ''}${e?.message ?? String(err)}`;
}
