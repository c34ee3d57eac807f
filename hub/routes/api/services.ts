/**
 * /hub/api/services: GET list (list:services) · GET /services/:name (read:services) ·
 * POST|DELETE /services/:name for runtime services (admin:services; config services → 405).
 */
import type { ApiRequest, ApiRouter } from '../../http/api-router.js';
import type { HubDeps } from '../../deps.js';
import type { ServiceRow } from '../../db/services.js';
import { isoNow } from '../../clock.js';
import { HubError } from '../../errors.js';
import { hasScope } from '../../scopes.js';
import { serviceClientId, servicePrefix } from '../../services.js';
import { jsonBody, param } from '../params.js';

export function serviceModel(d: HubDeps, s: ServiceRow, scopes: ReadonlySet<string>): Record<string, unknown> {
  const model: Record<string, unknown> = { kind: 'service', name: s.name };
  if (hasScope(scopes, 'read:services', { service: s.name })) {
    Object.assign(model, {
      admin: false,
      url: s.url ?? '',
      prefix: s.url ? servicePrefix(s.name) : '',
      command: [],
      pid: 0,
      info: JSON.parse(s.info),
      display: s.display === 1,
      oauth_client_id: s.oauth_client_id,
      oauth_no_confirm: s.oauth_no_confirm === 1,
    });
  }
  if (hasScope(scopes, 'read:roles:services', { service: s.name })) model.roles = d.roles.forService(s.id);
  return model;
}

export function servicesRoutes(api: ApiRouter, d: HubDeps): void {
  const target = (req: ApiRequest) => ({ service: param(req, 'name') });

  api.get('/hub/api/services', { scope: 'list:services' }, (req, res) => {
    const scopes = req.identity!.scopes;
    const out: Record<string, unknown> = {};
    for (const s of d.services.list()) if (hasScope(scopes, 'list:services', { service: s.name })) out[s.name] = serviceModel(d, s, scopes);
    res.json(out);
  });

  api.get('/hub/api/services/:name', { scope: 'read:services', target: target }, (req, res) => {
    const s = d.services.byName(param(req, 'name'));
    if (!s) throw new HubError(404, `No such service: ${param(req, 'name')}`);
    res.json(serviceModel(d, s, req.identity!.scopes));
  });

  api.post('/hub/api/services/:name', { scope: 'admin:services', target: target, bodyLimit: 65536 }, (req, res) => {
    const name = param(req, 'name');
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new HubError(400, `Invalid service name '${name}'`);
    if (d.services.byName(name)) throw new HubError(409, `Service ${name} already exists`);
    const b = jsonBody(req);
    const unknown = Object.keys(b).filter((k) => !['url', 'display', 'oauth_no_confirm', 'info'].includes(k));
    if (unknown.length) throw new HubError(400, `Unsupported fields for a runtime service: ${unknown.join(', ')}`);
    if (b.url !== undefined && (typeof b.url !== 'string' || !/^https?:\/\//.test(b.url))) throw new HubError(400, "'url' must be an http(s) URL");
    const now = isoNow(d.clock);
    const row = d.services.upsert({ name, url: (b.url as string | undefined) ?? null, display: b.display !== false, oauthClientId: b.url ? serviceClientId(name) : null, oauthNoConfirm: b.oauth_no_confirm === true, fromConfig: false, info: (b.info as Record<string, unknown>) ?? {}, now });
    const { token } = d.tokens.create({ kind: 'api', serviceId: row.id, scopes: ['inherit'], note: `Service ${name}`, now });
    if (row.url) d.oauth.upsertClient({ identifier: serviceClientId(name), secret: token, redirectUri: `${d.serviceManager.publicUrl(name)}oauth_callback`, description: `Service ${name}`, allowedScopes: [`access:services!service=${name}`], now });
    d.log.info({ service: name, by: req.identity!.name, event: 'service-created' }, 'service created');
    res.status(201).json({ ...serviceModel(d, row, req.identity!.scopes), api_token: token });
  });

  api.delete('/hub/api/services/:name', { scope: 'admin:services', target: target }, async (req, res) => {
    const s = d.services.byName(param(req, 'name'));
    if (!s) throw new HubError(404, `No such service: ${param(req, 'name')}`);
    if (s.from_config) throw new HubError(405, `Service ${s.name} is defined in the configuration and cannot be deleted through the API`);
    d.oauth.deleteClient(serviceClientId(s.name));
    d.services.delete(s.id);
    if (s.url) await d.proxy.deleteRoute(d.serviceManager.routePath(s.name)).catch(() => undefined);
    d.log.info({ service: s.name, by: req.identity!.name, event: 'service-deleted' }, 'service deleted');
    res.status(204).end();
  });

}
