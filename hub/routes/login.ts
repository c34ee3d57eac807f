/**
 * /hub/login (JupyterHub-compatible form: username, password, _xsrf) and /hub/logout.
 * Login regenerates the session (no fixation) and issues jupyterhub-session-id; logout revokes the
 * OAuth tokens issued under that session.
 */
import { randomBytes } from 'node:crypto';
import { Router, urlencoded, type Request, type Response } from 'express';
import type { HubDeps } from '../deps.js';
import type { UserRow } from '../db/users.js';
import { verifyPassword } from '../auth/password.js';
import { normalizeUsername } from '../auth/usernames.js';
import { isoNow } from '../clock.js';

export const SESSION_ID_COOKIE = 'jupyterhub-session-id';
export const LOGIN_COOKIE = 'jupyterhub-hub-login';

/** Only same-site paths: no scheme, no host, no protocol-relative '//' or '/\' tricks. */
export function safeNext(next: unknown, fallback = '/hub/home'): string {
  if (typeof next !== 'string' || next === '') return fallback;
  if (!next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\') || /[\r\n\t]/.test(next)) return fallback;
  try {
    const u = new URL(next, 'http://labhub.invalid');
    if (u.host !== 'labhub.invalid') return fallback;
    return u.pathname + u.search + u.hash;
  } catch {
    return fallback;
  }
}

export function completeLogin(d: HubDeps, req: Request, res: Response, user: UserRow): Promise<void> {
  return new Promise((resolve, reject) => {
    req.session.regenerate((err) => {
      if (err) return reject(err);
      const hubSessionId = randomBytes(16).toString('hex');
      req.session.userId = user.id;
      req.session.cookieId = user.cookie_id;
      req.session.hubSessionId = hubSessionId;
      res.cookie(SESSION_ID_COOKIE, hubSessionId, { httpOnly: true, sameSite: 'lax', secure: d.config.secureCookies, path: '/' });
      d.csrf.rotate(req, res);
      d.users.touch(user.id, isoNow(d.clock));
      d.log.info({ user: user.name, event: 'login' }, 'user logged in');
      req.session.save((e) => (e ? reject(e) : resolve()));
    });
  });
}

export function loginRouter(d: HubDeps): Router {
  const r = Router();

  r.get('/hub/login', (req, res) => {
    const next = safeNext(req.query.next);
    if (req.identity) return void res.redirect(302, next);
    res.render('login', { next, error: null, username: '', xsrf: req.xsrfToken, identity: null });
  });

  r.post('/hub/login', urlencoded({ extended: false, limit: '16kb' }), d.csrf.check(), async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const next = safeNext(req.query.next ?? body.next);
    const username = normalizeUsername(typeof body.username === 'string' ? body.username : '');
    const password = typeof body.password === 'string' ? body.password : '';
    const user = username ? d.users.byName(username) : undefined;
    const ok = username !== '' && password !== '' && (await verifyPassword(password, user?.password_hash ?? null));
    if (!ok || !user) {
      d.log.info({ user: username, event: 'login-failed' }, 'login failed');
      res.status(403).render('login', { next, error: 'Invalid username or password', username, xsrf: req.xsrfToken, identity: null });
      return;
    }
    await completeLogin(d, req, res, user);
    res.redirect(302, next);
  });

  const logout = async (req: Request, res: Response) => {
    const sid = req.session?.hubSessionId;
    if (sid) d.tokens.deleteForSession(sid);
    const name = req.identity?.user.name;
    await new Promise<void>((resolve) => (req.session ? req.session.destroy(() => resolve()) : resolve()));
    for (const [cookie, path] of [[SESSION_ID_COOKIE, '/'], [LOGIN_COOKIE, '/hub/'], ['_xsrf', '/hub/'], ['jupyterhub-services', '/services']]) res.clearCookie(cookie, { path });
    if (name) d.log.info({ user: name, event: 'logout' }, 'user logged out');
    res.redirect(302, '/hub/login');
  };
  r.get('/hub/logout', logout);
  r.post('/hub/logout', logout);
  return r;
}
