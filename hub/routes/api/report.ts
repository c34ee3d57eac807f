/**
 * Address reports from single-user servers whose host/port the hub can't know in advance
 * (a Slurm compute node, a VM): POST /hub/api/users/:name/server/report {host?, port} and the
 * batchspawner-compatible POST /hub/api/batchspawner {port[, host]}; and GET /hub/api/bootstrap/:code,
 * the single-use environment hand-off for VMs. Only the server's own token
 * may report for it; the host defaults to the caller's address.
 */
import type { ApiRequest, ApiResponse, ApiRouter } from '../../http/api-router.js';
import type { HubDeps } from '../../deps.js';
import { HubError } from '../../errors.js';
import { jsonBody } from '../params.js';

const HOST_RE = /^[A-Za-z0-9.:-]{1,253}$/;

export function reportRoutes(api: ApiRouter, d: HubDeps): void {
  const handle = (req: ApiRequest, res: ApiResponse) => {
    const token = req.identity?.token;
    if (!token || token.kind !== 'server' || token.server_id === null) throw new HubError(403, 'Only a server may report its own address');
    const row = d.servers.byId(token.server_id);
    const user = row ? d.users.byId(row.user_id) : undefined;
    if (!row || !user) throw new HubError(404, 'No such server');
    const named = req.params;
    if ((named.name !== undefined && named.name !== user.name) || (named.server !== undefined && named.server !== row.name)) throw new HubError(404, 'No such server');
    const b = jsonBody(req);
    const port = Number(b.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new HubError(400, "'port' must be a TCP port number");
    const remote = (req.raw.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const host = typeof b.host === 'string' && b.host ? b.host : remote;
    if (!HOST_RE.test(host)) throw new HubError(400, `Invalid host '${host}'`);
    if (!d.serverManager.reportAddress(user.name, row.name, { host, port })) throw new HubError(409, `${user.name}'s server is not waiting for an address report`);
    d.log.info({ user: user.name, server: row.name, host, port }, 'server reported its address');
    res.status(200).json({ host, port });
  };
  // Single-use environment hand-off (see SpawnRequest.bootstrapUrl); the code is the credential.
  api.get('/hub/api/bootstrap/:code', {}, (req, res) => {
    const env = d.serverManager.takeBootstrap(String(req.params.code));
    if (!env) throw new HubError(404, 'Unknown or already used bootstrap code');
    res.set('Cache-Control', 'no-store').json({ env });
  });
  api.post('/hub/api/batchspawner', { authenticated: true, bodyLimit: 16384 }, handle);
  api.post('/hub/api/users/:name/server/report', { authenticated: true, bodyLimit: 16384 }, handle);
  api.post('/hub/api/users/:name/servers/:server/report', { authenticated: true, bodyLimit: 16384 }, handle);
}
