/**
 * Who is calling the REST API, as JupyterHub decides it: an `Authorization: token|bearer` header
 * wins (and never falls back to the cookie: the caller meant the token); otherwise the login
 * session cookie, and then every write must carry the `_xsrf` token bound to that login.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessService, Identity } from '../access.js';
import type { UserRepo } from '../db/users.js';
import type { Logger } from '../log.js';
import type { ApiCaller, ApiRequest } from './api-router.js';
import { tokenFromHeader } from './auth.js';
import { xsrfField, type Csrf } from './csrf.js';
import { writeApiError } from './error-handler.js';

/** express-session's middleware (connect-style; it works on plain node:http objects). */
export type SessionMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

interface SessionFields {
  userId?: number;
  cookieId?: string;
  hubSessionId?: string;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export function createApiCaller(d: { access: AccessService; users: UserRepo; csrf: Csrf; log: Logger; session: SessionMiddleware }): ApiCaller {
  const loadSession = (req: IncomingMessage, res: ServerResponse) =>
    new Promise<SessionFields | undefined>((resolve, reject) =>
      d.session(req, res, (err) => (err ? reject(err) : resolve((req as IncomingMessage & { session?: SessionFields }).session))),
    );
  /** Cookie callers: the session, then _xsrf on writes. */
  const fromCookie = async (req: ApiRequest, res: ServerResponse): Promise<Identity | undefined> => {
    let identity: Identity | undefined;
    let binding = '';
    if (req.headers.cookie) {
      const s = await loadSession(req.raw, res);
      const user = s?.userId ? d.users.byId(s.userId) : undefined;
      if (user && user.cookie_id === s?.cookieId) identity = d.access.forUser(user, s?.hubSessionId);
      binding = s?.cookieId ?? '';
    }
    if (!SAFE.has(req.method)) {
      const queryXsrf = typeof req.query._xsrf === 'string' ? req.query._xsrf : undefined;
      d.csrf.verify(req.headers, xsrfField(req.body) ?? queryXsrf, d.csrf.expectedFor(req.headers.cookie, binding));
    }
    return ((req.raw as IncomingMessage & { identity?: Identity }).identity = identity);
  };
  return {
    authenticate(req, res) {
      const token = tokenFromHeader(req.headers.authorization);
      // token callers are answered synchronously (the API's hot path)
      if (token) return ((req.raw as IncomingMessage & { identity?: Identity }).identity = d.access.forToken(token));
      return fromCookie(req, res);
    },
    fail: (err, req, res) => writeApiError(d.log, err, req, res),
  };
}
