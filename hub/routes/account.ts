/**
 * Account pages for local accounts: /hub/account/password (change your own password; needs the
 * current one) and /hub/signup (request an account that an admin approves; only with
 * allowSignup), and for admins (admin:users) /hub/signups: approve or reject sign-up requests and
 * unlock usernames locked after failed logins. All are cookie-authenticated form posts with _xsrf.
 */
import { Router, urlencoded, type NextFunction, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import { SqliteRateLimitStore } from '../db/request-rate.js';
import type { HubDeps } from '../deps.js';
import { requireLoginPage } from '../http/auth.js';
import { HubError } from '../errors.js';
import { isoNow } from '../clock.js';
import { hashPassword, verifyPassword } from '../auth/password.js';
import { approveSignup } from '../auth/signup.js';
import { hasScope } from '../scopes.js';


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
    store: new SqliteRateLimitStore(d.db, 'account:', () => d.clock.now()),
    handler: (_req, _res, next) => next(new HubError(429, 'Too many attempts from your address; try again later', { code: 'RATE_LIMITED' })),
  });
  const minLength = local.cfg.minPasswordLength;

  r.get('/hub/account/password', requireLoginPage, (req, res) => {
    res.render('account-password', { identity: req.identity, xsrf: req.xsrfToken, error: null, done: false, minLength });
  });

  r.post('/hub/account/password', limiter, requireLoginPage, form, d.csrf.check(), async (req, res) => {
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

  const requireAdmin = (req: Request, res: Response, next: NextFunction) =>
    requireLoginPage(req, res, () => (hasScope(req.identity!.scopes, 'admin:users') ? next() : next(new HubError(403, 'Only admins manage accounts'))));
  r.get('/hub/signups', requireAdmin, (req, res) => {
    const notice = typeof req.query.done === 'string' ? req.query.done.slice(0, 200) : null;
    res.render('signups', { identity: req.identity, xsrf: req.xsrfToken, requests: d.auth.signups.list(), allowSignup: local.cfg.allowSignup, notice });
  });
  r.post('/hub/signups/unlock', requireAdmin, form, d.csrf.check(), (req, res) => {
    const name = d.auth.pipeline.usernames.normalize(String((req.body as Record<string, unknown>)?.username ?? '').slice(0, 256));
    const was = local.throttle.unlock(name);
    d.log.info({ user: name, by: req.identity!.user!.name, event: 'unlock', wasLocked: was }, 'login lockout cleared');
    res.redirect(303, `/hub/signups?done=${encodeURIComponent(was ? `Unlocked ${name}` : `${name} was not locked`)}`);
  });
  r.post('/hub/signups/:name/:action', requireAdmin, form, d.csrf.check(), (req, res) => {
    const name = String(req.params.name);
    if (req.params.action === 'approve') {
      approveSignup(d.db, d.users, d.auth.signups, name, isoNow(d.clock));
      d.log.info({ user: name, by: req.identity!.user!.name, event: 'signup-approved' }, 'sign-up approved');
      return void res.redirect(303, `/hub/signups?done=${encodeURIComponent(`Approved ${name}`)}`);
    }
    if (req.params.action === 'reject') {
      if (!d.auth.signups.remove(name)) throw new HubError(404, `No sign-up request for ${name}`);
      d.log.info({ user: name, by: req.identity!.user!.name, event: 'signup-rejected' }, 'sign-up rejected');
      return void res.redirect(303, `/hub/signups?done=${encodeURIComponent(`Rejected ${name}`)}`);
    }
    throw new HubError(404, 'Unknown action');
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
