/**
 * Hub-wide endpoints: GET|POST|PATCH /hub/api/proxy (proxy), POST /hub/api/shutdown (shutdown),
 * /hub/metrics (read:metrics), and the deprecated /authorizations/token/:token identify call.
 */
import type { ApiHandler, ApiRouter } from '../../http/api-router.js';
import type { HubDeps } from '../../deps.js';
import { HubError } from '../../errors.js';
import { jsonBody, param } from '../params.js';
import { sendPage } from '../paging.js';
import { userModel } from '../../models.js';
import { buildUserModelInput } from './users.js';


export function hubRoutes(api: ApiRouter, d: HubDeps): void {

  api.get('/hub/api/proxy', { scope: 'proxy' }, async (req, res) => {
    const routes = await d.proxy.getAllRoutes();
    const entries = Object.entries(routes);
    const paginated = (req.headers.accept ?? '').includes('application/jupyterhub-pagination+json');
    if (!paginated && req.query.offset === undefined && req.query.limit === undefined) return void res.json(routes);
    sendPage(req, res, entries, ([path, data]) => ({ routespec: path.endsWith('/') ? path : `${path}/`, target: data.target, data }));
  });

  api.post('/hub/api/proxy', { scope: 'proxy', noBody: true }, async (_req, res) => {
    await d.serverManager.checkRoutes(d.hubTarget());
    res.status(200).end();
  });

  api.patch('/hub/api/proxy', { scope: 'proxy', bodyLimit: 65536 }, async (req, res) => {
    // telling the hub about a new proxy without saying where is a client error, not a no-op
    const b = jsonBody(req, { required: '{ip?, port?, protocol?, auth_token?}' });
    const protocol = b.protocol === undefined ? 'http' : b.protocol;
    if (protocol !== 'http' && protocol !== 'https') throw new HubError(400, "'protocol' must be http or https");
    if (b.ip !== undefined && typeof b.ip !== 'string') throw new HubError(400, "'ip' must be a string");
    if (b.port !== undefined && (!Number.isInteger(b.port) || (b.port as number) < 1 || (b.port as number) > 65535)) throw new HubError(400, "'port' must be a port number");
    if (b.auth_token !== undefined && typeof b.auth_token !== 'string') throw new HubError(400, "'auth_token' must be a string");
    const current = new URL(d.proxy.apiUrl);
    const apiUrl = `${protocol}://${(b.ip as string | undefined) ?? current.hostname}:${(b.port as number | undefined) ?? current.port}`;
    d.proxy.reconfigure({ apiUrl, authToken: b.auth_token as string | undefined });
    await d.serverManager.checkRoutes(d.hubTarget());
    d.log.info({ apiUrl, by: req.identity!.name, event: 'proxy-changed' }, 'proxy API moved');
    res.status(200).end();
  });

  api.post('/hub/api/shutdown', { scope: 'shutdown', bodyLimit: 65536 }, async (req, res) => {
    const b = jsonBody(req);
    for (const k of ['proxy', 'servers'] as const) if (b[k] !== undefined && typeof b[k] !== 'boolean') throw new HubError(400, `'${k}' must be true or false`);
    d.log.warn({ by: req.identity!.name, event: 'shutdown', servers: b.servers === true }, 'shutdown requested');
    await d.shutdown({ proxy: b.proxy !== false, servers: b.servers === true });
    res.status(202).json({ status: 202, message: 'Shutting down Hub' });
  });

  const metrics: ApiHandler = async (_req, res) => {
    const m = d.metrics;
    m.totalUsers.set(d.users.count());
    m.runningServers.reset();
    // one series per spawner kind in use (profiles can mix kinds); the configured kind always shows
    m.runningServers.set({ spawner: d.config.spawner.kind }, 0);
    for (const [kind, n] of d.serverManager.runningByKind()) m.runningServers.set({ spawner: kind }, n);
    const now = d.clock.now();
    for (const [period, days] of [['24h', 1], ['7d', 7], ['30d', 30]] as const) m.activeUsers.set({ period }, d.users.activeSince(new Date(now - days * 86400_000).toISOString()));
    res.type(m.registry.contentType).send(await m.registry.metrics());
  };
  api.get('/hub/metrics', { scope: 'read:metrics' }, metrics);
  api.get('/hub/api/metrics', { scope: 'read:metrics' }, metrics);

  // Deprecated since JupyterHub 0.8 but still used by old services: identify a token.
  api.get('/hub/api/authorizations/token/:token', {}, (req, res) => {
    const identity = d.access.forToken(param(req, 'token'));
    if (!identity) throw new HubError(404, 'Token not found');
    if (identity.kind === 'service') return void res.json({ kind: 'service', name: identity.name });
    const scopes = new Set(identity.scopes);
    scopes.add(`read:users:name!user=${identity.name}`);
    res.json(userModel(buildUserModelInput(d, identity.user!), scopes));
  });

}
