/**
 * Account pages for local accounts: /hub/account/password (change your own password; needs the
 * current one) and /hub/signup (request an account that an admin approves; only with
 * allowSignup). Both are cookie-authenticated form posts, so both check _xsrf.
 */
import { Router, urlencoded, type NextFunction, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { HubDeps } from '../deps.js';
import { HubError } from '../errors.js';
import { isoNow } from '../clock.js';
import { hashPassword, verifyPassword } from '../auth/password.js';

function requireLogin(req: Request, res: Response, next: NextFunction): void {
  if (req.identity?.user) return next();
  res.redirect(302, `/hub/login?next=${encodeURIComponent(req.originalUrl)}`);
}

export function accountRouter(d: HubDeps): Router {
  const r = Router();
  const local = d.auth.local;
  if (!local) return r;
  const form = urlencoded({ extended: false, limit: '16kb' });
  const limiter = rateLimit({
    windowMs: local.cfg.rateLimit.windowSeconds * 1000,
    limit: local.cfg.rateLimit.maxRequests,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (_req, _res, next) => next(new HubError(429, 'Too many attempts from your address; try again later', { code: 'RATE_LIMITED' })),
  });
  const minLength = local.cfg.minPasswordLength;

  r.get('/hub/account/password', requireLogin, (req, res) => {
    res.render('account-password', { identity: req.identity, xsrf: req.xsrfToken, error: null, done: false, minLength });
  });

  r.post('/hub/account/password', limiter, requireLogin, form, d.csrf.check(), async (req, res) => {
    const me = req.identity!.user!;
    const b = (req.body ?? {}) as Record<string, unknown>;
    const render = (status: number, error: string | null) =>
      res.status(status).render('account-password', { identity: req.identity, xsrf: req.xsrfToken, error, done: error === null, minLength });
    if (!me.password_hash) return void render(400, 'Your account has no local password (you log in with an identity provider).');
    if (local.throttle.isUserLocked(me.name)) return void render(429, 'Too many failed attempts; try again later.');
    if (typeof b.current !== 'string' || !(await verifyPassword(b.current, me.password_hash))) {
      local.throttle.fail(me.name, req.ip ?? 'unknown');
      return void render(403, 'The current password is not correct.');
    }
    if (b.password !== b.confirm) return void render(400, 'The new passwords do not match.');
    try {
      await local.setPassword(me.id, b.password as string);
    } catch (err) {
      if (err instanceof HubError && err.status === 400) return void render(400, err.message);
      throw err;
    }
    d.log.info({ user: me.name, event: 'password-changed' }, 'password changed');
    render(200, null);
  });

  if (local.cfg.allowSignup) {
    const page = (req: Request, extra: { error?: string | null; username?: string; done?: boolean } = {}) => ({
      xsrf: req.xsrfToken,
      error: extra.error ?? null,
      username: extra.username ?? '',
      done: extra.done ?? false,
      minLength,
    });
    r.get('/hub/signup', (req, res) => res.render('signup', page(req)));
    r.post('/hub/signup', limiter, form, d.csrf.check(), async (req, res) => {
      const b = (req.body ?? {}) as Record<string, unknown>;
      const raw = typeof b.username === 'string' ? b.username.slice(0, 256) : '';
      const name = d.auth.pipeline.usernames.normalize(raw);
      const problem = d.auth.pipeline.usernames.validate(name);
      if (problem) return void res.status(400).render('signup', page(req, { error: problem, username: raw }));
      if (b.password !== b.confirm) return void res.status(400).render('signup', page(req, { error: 'The passwords do not match.', username: raw }));
      let password: string;
      try {
        password = local.checkNewPassword(b.password);
      } catch (err) {
        return void res.status(400).render('signup', page(req, { error: (err as Error).message, username: raw }));
      }
      // Same answer whether or not the name is taken, so sign-up can't be used to probe accounts.
      if (!d.users.byName(name)) d.auth.signups.add(name, await hashPassword(password), isoNow(d.clock));
      d.log.info({ user: name, event: 'signup-requested' }, 'sign-up requested');
      res.status(202).render('signup', page(req, { username: name, done: true }));
    });
  }
  return r;
}
