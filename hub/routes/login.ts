/**
 * /hub/login (JupyterHub-compatible form: username, password, _xsrf, plus one button per OAuth
 * method), the OAuth methods' /hub/oauth/{name}/{login,callback} routes, and /hub/logout.
 * Every method ends in AuthService.finish/completeLogin: the pipeline, then a new session id.
 * Logout revokes the OAuth tokens issued under the session and, for OIDC, continues at the
 * provider's end_session_endpoint (RP-initiated logout).
 */
import { Router, urlencoded, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import { SqliteRateLimitStore } from '../db/request-rate.js';
import type { HubDeps } from '../deps.js';
import type { UserRow } from '../db/users.js';
import { HubError } from '../errors.js';
import { safeNext } from '../auth/next.js';

export { safeNext } from '../auth/next.js';

/** Kept for callers of the foundation API: a local-account session switch. */
export function completeLogin(d: HubDeps, req: Request, res: Response, user: UserRow): Promise<void> {
  return d.auth.completeLogin(req, res, user, d.auth.local?.name ?? 'local');
}

export function loginPageModel(d: HubDeps, req: Request, extra: { error?: string | null; username?: string; status?: number } = {}) {
  const next = safeNext(req.query.next ?? (req.body as Record<string, unknown> | undefined)?.next);
  return {
    next,
    error: extra.error ?? null,
    username: extra.username ?? '',
    xsrf: req.xsrfToken,
    identity: null,
    local: d.auth.local ? { allowSignup: d.auth.local.cfg.allowSignup } : null,
    buttons: d.auth.methods.filter((m) => m.loginUrl).map((m) => ({ name: m.name, label: m.label, href: `${m.loginUrl}?next=${encodeURIComponent(next)}` })),
  };
}

export function loginRouter(d: HubDeps): Router {
  const r = Router();
  const local = d.auth.local;
  const form = urlencoded({ extended: false, limit: '16kb' });

  // JupyterHub's /hub/oauth_login: with exactly one OAuth method it is that method's login.
  const oauthMethods = d.auth.methods.filter((m) => m.loginUrl);
  // auth.autoLogin (JupyterHub auto_login): no login page, straight to the only provider
  const autoLogin = d.config.auth.autoLogin && oauthMethods.length === 1 ? oauthMethods[0] : null;

  r.get('/hub/login', (req, res) => {
    if (req.identity) return void res.redirect(302, safeNext(req.query.next));
    if (autoLogin) return void res.redirect(302, `${autoLogin.loginUrl}?next=${encodeURIComponent(safeNext(req.query.next))}`);
    res.render('login', loginPageModel(d, req));
  });

  if (oauthMethods.length === 1) {
    r.get('/hub/oauth_login', (req, res) => res.redirect(302, `${oauthMethods[0].loginUrl}?next=${encodeURIComponent(safeNext(req.query.next))}`));
  }

  if (local) {
    const limiter = rateLimit({
      windowMs: local.cfg.rateLimit.windowSeconds * 1000,
      limit: local.cfg.rateLimit.maxRequests,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      store: new SqliteRateLimitStore(d.db, 'login:', () => d.clock.now()),
      handler: (_req, _res, next) => next(new HubError(429, 'Too many login attempts from your address; try again later', { code: 'RATE_LIMITED' })),
    });
    r.post('/hub/login', limiter, form, d.csrf.check(), async (req, res) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const next = safeNext(req.query.next ?? body.next);
      const username = typeof body.username === 'string' ? body.username.slice(0, 256) : '';
      const password = typeof body.password === 'string' ? body.password.slice(0, 1024) : '';
      try {
        const result = await local.authenticate(username, password, req.ip ?? 'unknown');
        const user = await d.auth.pipeline.run(result);
        await d.auth.completeLogin(req, res, user, local.name);
      } catch (err) {
        if (!(err instanceof HubError) || err.status >= 500) throw err;
        d.log.info({ user: username.slice(0, 64), event: 'login-failed', why: err.code }, 'login failed');
        for (const [k, v] of Object.entries(err.headers ?? {})) res.setHeader(k, v);
        res.status(err.status).render('login', loginPageModel(d, req, { error: err.message, username }));
        return;
      }
      res.redirect(302, next);
    });
  }

  for (const m of d.auth.methods) if (m.routes) r.use(m.routes(d.auth));

  const logout = async (req: Request, res: Response) => {
    const sid = req.session?.hubSessionId;
    if (sid) d.tokens.deleteForSession(sid);
    const name = req.identity?.user?.name;
    const providerLogout = await d.auth.logoutUrl(req).catch(() => null);
    await new Promise<void>((resolve) => (req.session ? req.session.destroy(() => resolve()) : resolve()));
    const c = d.cookies;
    // same attributes as when set: browsers ignore a __Host- cookie (even an expiring one) that is not Secure
    for (const [cookie, path] of [[c.sessionId, '/'], [c.login, c.hubPath], [c.xsrf, c.hubPath], ['jupyterhub-services', '/services']]) res.clearCookie(cookie, { path, secure: d.config.secureCookies, httpOnly: true, sameSite: 'lax' });
    if (name) d.log.info({ user: name, event: 'logout', provider: Boolean(providerLogout) }, 'user logged out');
    // with autoLogin, /hub/login would sign the user straight back in at a provider that still has a session
    if (autoLogin && !providerLogout) return void res.render('logged-out');
    res.redirect(302, providerLogout ?? '/hub/login');
  };
  r.get('/hub/logout', logout);
  r.post('/hub/logout', logout);
  return r;
}
