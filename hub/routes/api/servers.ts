/**
 * Start/stop servers and stream spawn progress (PROTOCOL.md B4).
 * POST|DELETE /users/:name/server, /users/:name/servers/:server (servers | delete:servers)
 * GET …/progress (read:servers) as Server-Sent Events.
 */
import type { ApiRequest, ApiResponse, ApiRouter } from '../../http/api-router.js';
import type { HubDeps } from '../../deps.js';
import { HubError } from '../../errors.js';
import { serverPrefix } from '../../env.js';
import type { UserRow } from '../../db/users.js';
import { jsonBody, loadUser, param, userTarget } from '../params.js';

const SERVER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function serverNameOf(d: HubDeps, req: ApiRequest): string {
  const name = param(req, 'server');
  if (name === '') return '';
  if (!d.config.allowNamedServers) throw new HubError(400, 'Named servers are not enabled.');
  if (!SERVER_NAME_RE.test(name)) throw new HubError(400, `Invalid server name '${name}': use letters, digits, '.', '_' and '-'`);
  if (name === 'ports') throw new HubError(400, "'ports' is reserved (shared ports live at /user/{name}/ports/…)");
  return name;
}

export async function startServer(d: HubDeps, user: UserRow, serverName: string, options: Record<string, unknown>, opts: { waitMs?: number } = {}): Promise<{ pending: boolean }> {
  if (serverName && d.config.namedServerLimitPerUser > 0) {
    const active = d.servers.forUser(user.id).filter((s) => s.name !== '' && s.name !== serverName && d.serverManager.status(user.name, s.name) !== 'stopped');
    if (active.length >= d.config.namedServerLimitPerUser) throw new HubError(400, `User ${user.name} already has the maximum of ${d.config.namedServerLimitPerUser} named servers. One must be deleted before a new server can be created`);
  }
  return d.serverManager.spawn(user, serverName, options, opts);
}

export function serversRoutes(api: ApiRouter, d: HubDeps): void {
  const target = userTarget(d);

  const start = async (req: ApiRequest, res: ApiResponse) => {
    const user = loadUser(d, param(req, 'name'));
    const serverName = serverNameOf(d, req);
    const options = jsonBody(req);
    const { pending } = await startServer(d, user, serverName, options);
    if (!pending && d.serverManager.status(user.name, serverName) !== 'running') {
      const failure = d.serverManager.failureOf(user.name, serverName);
      throw new HubError(failure?.status ?? 500, failure?.message ?? 'Spawn failed', { headers: failure?.headers });
    }
    res.status(pending ? 202 : 201).end();
  };

  const stop = async (req: ApiRequest, res: ApiResponse) => {
    const user = loadUser(d, param(req, 'name'));
    const serverName = serverNameOf(d, req);
    const b = jsonBody(req);
    const { pending } = await d.serverManager.stop(user, serverName);
    if (!pending && serverName && b.remove === true) {
      const row = d.servers.get(user.id, serverName);
      if (row) d.servers.delete(row.id);
    }
    res.status(pending ? 202 : 204).end();
  };

  const progress = async (req: ApiRequest, res: ApiResponse) => {
    const user = loadUser(d, param(req, 'name'));
    const serverName = serverNameOf(d, req);
    const pending = d.serverManager.pendingOf(user.name, serverName);
    const status = d.serverManager.status(user.name, serverName);
    const url = d.serverManager.publicUrl(user.name, serverName);
    const failure = d.serverManager.failureOf(user.name, serverName);
    let log = pending?.kind === 'spawn' ? pending.progress : failure?.progress;
    if (!log && status !== 'running') throw new HubError(400, `${user.name} is not starting...`);
    res.raw.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
    const send = (e: unknown) => res.raw.write(`data: ${JSON.stringify(e)}\n\n`);
    if (!log) {
      send({ progress: 100, ready: true, message: `Server ready at ${url}`, html_message: `Server ready at <a href="${url}">${url}</a>`, url });
      return void res.end();
    }
    const abort = new AbortController();
    req.raw.on('close', () => abort.abort());
    const keepalive = setInterval(() => res.raw.write('\n\n'), 8000);
    try {
      for await (const e of log.stream(abort.signal)) send(e);
    } finally {
      clearInterval(keepalive);
      log = undefined;
      res.end();
    }
  };

  api.post('/hub/api/users/:name/server', { scope: 'servers', target: target, bodyLimit: 262144 }, start);
  api.post('/hub/api/users/:name/servers/:server', { scope: 'servers', target: target, bodyLimit: 262144 }, start);
  api.delete('/hub/api/users/:name/server', { scope: 'delete:servers', target: target, bodyLimit: 262144 }, stop);
  api.delete('/hub/api/users/:name/servers/:server', { scope: 'delete:servers', target: target, bodyLimit: 262144 }, stop);
  api.get('/hub/api/users/:name/server/progress', { scope: 'read:servers', target: target }, progress);
  api.get('/hub/api/users/:name/servers/:server/progress', { scope: 'read:servers', target: target }, progress);
}
