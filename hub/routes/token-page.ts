/**
 * /hub/token: create API tokens (note, expiry, scopes; the value is shown once), list and revoke
 * them, and see and revoke the applications authorized through OAuth. Form posts with _xsrf;
 * creation goes through the same function as POST /hub/api/users/:name/tokens.
 */
import { Router, urlencoded, type NextFunction, type Request, type Response } from 'express';
import type { HubDeps } from '../deps.js';
import { requireLoginPage } from '../http/auth.js';
import { isoNow } from '../clock.js';
import { HubError } from '../errors.js';
import { userOf } from '../http/auth.js';
import { createApiToken } from './api/tokens.js';
import { param } from './params.js';

const EXPIRY_CHOICES: Array<[string, number | null]> = [
  ['Never', null],
  ['1 hour', 3600],
  ['1 day', 86_400],
  ['1 week', 7 * 86_400],
  ['30 days', 30 * 86_400],
];


export function tokenPageRouter(d: HubDeps): Router {
  const r = Router();
  const form = urlencoded({ extended: false, limit: '16kb' });

  const render = (req: Request, res: Response, extra: { created?: { token: string; note: string }; error?: string; values?: Record<string, string> } = {}, status = 200) => {
    const me = userOf(req);
    const now = isoNow(d.clock);
    const live = d.tokens.forUser(me.id).filter((t) => !t.expires_at || t.expires_at > now);
    const apps = new Map<string, { client: string; count: number; lastActivity: string | null; created: string }>();
    for (const t of live.filter((x) => x.kind === 'oauth' && x.client_id)) {
      const a = apps.get(t.client_id!) ?? { client: t.client_id!, count: 0, lastActivity: null, created: t.created };
      a.count++;
      if (t.last_activity && (!a.lastActivity || t.last_activity > a.lastActivity)) a.lastActivity = t.last_activity;
      apps.set(t.client_id!, a);
    }
    res.status(status).render('token', {
      identity: req.identity,
      xsrf: req.xsrfToken,
      tokens: live.filter((t) => t.kind === 'api').map((t) => ({ id: `a${t.id}`, note: t.note, created: t.created, expires: t.expires_at, lastActivity: t.last_activity, scopes: (JSON.parse(t.scopes) as string[]).join(' ') })),
      apps: [...apps.values()],
      expiryChoices: EXPIRY_CHOICES,
      created: extra.created ?? null,
      error: extra.error ?? null,
      values: extra.values ?? {},
    });
  };

  r.get('/hub/token', requireLoginPage, (req, res) => render(req, res));

  r.post('/hub/token', requireLoginPage, form, d.csrf.check(), (req, res) => {
    const body = (req.body ?? {}) as Record<string, string>;
    const values = { note: body.note ?? '', expires_in: body.expires_in ?? '', scopes: body.scopes ?? '' };
    const expires = values.expires_in === '' ? null : Number(values.expires_in);
    const scopes = values.scopes.split(/[\s,]+/).filter(Boolean);
    try {
      if (expires !== null && !EXPIRY_CHOICES.some(([, v]) => v === expires)) throw new HubError(400, 'Choose one of the offered expiry times');
      const { token } = createApiToken(d, req.identity!, userOf(req), { note: values.note || 'Requested via token page', expires_in: expires ?? undefined, scopes: scopes.length ? scopes : undefined });
      render(req, res, { created: { token, note: values.note } }, 201);
    } catch (err) {
      if (err instanceof HubError && err.status < 500) return render(req, res, { error: err.message, values }, err.status);
      throw err;
    }
  });

  r.post('/hub/token/:id/revoke', requireLoginPage, form, d.csrf.check(), (req, res) => {
    const me = userOf(req);
    const id = Number(param(req, 'id').replace(/^a/, ''));
    const t = Number.isInteger(id) ? d.tokens.byId(id) : undefined;
    if (!t || t.user_id !== me.id || t.kind === 'server') throw new HubError(404, 'No such token');
    d.tokens.delete(t.id);
    d.log.info({ user: me.name, tokenId: `a${t.id}`, event: 'token-revoked' }, 'token revoked');
    res.redirect(303, '/hub/token');
  });

  r.post('/hub/token/apps/:client/revoke', requireLoginPage, form, d.csrf.check(), (req, res) => {
    const me = userOf(req);
    const client = param(req, 'client');
    const mine = d.tokens.forUser(me.id).filter((t) => t.kind === 'oauth' && t.client_id === client);
    for (const t of mine) d.tokens.delete(t.id);
    d.log.info({ user: me.name, client, revoked: mine.length, event: 'oauth-app-revoked' }, 'authorized application revoked');
    res.redirect(303, '/hub/token');
  });

  return r;
}
