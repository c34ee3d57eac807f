/**
 * Start/stop servers and stream spawn progress (PROTOCOL.md B4).
 * POST|DELETE /users/:name/server, /users/:name/servers/:server (servers | delete:servers)
 * GET …/progress (read:servers) as Server-Sent Events.
 */
import { json, Router, type Request, type Response } from 'express';
import type { HubDeps } from '../../deps.js';
import { HubError } from '../../errors.js';
import { requireScope } from '../../http/auth.js';
import { serverPrefix } from '../../env.js';
import type { UserRow } from '../../db/users.js';
import { jsonBody, loadUser, param, userTarget } from '../params.js';

const SERVER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function serverNameOf(d: HubDeps, req: Request): string {
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

export function serversRouter(d: HubDeps): Router {
  const r = Router();
  const target = userTarget(d);
  const body = json({ limit: '256kb' });

  const start = async (req: Request, res: Response) => {
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

  const stop = async (req: Request, res: Response) => {
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

  const progress = async (req: Request, res: Response) => {
    const user = loadUser(d, param(req, 'name'));
    const serverName = serverNameOf(d, req);
    const pending = d.serverManager.pendingOf(user.name, serverName);
    const status = d.serverManager.status(user.name, serverName);
    const prefix = serverPrefix(user.name, serverName);
    const failure = d.serverManager.failureOf(user.name, serverName);
    let log = pending?.kind === 'spawn' ? pending.progress : failure?.progress;
    if (!log && status !== 'running') throw new HubError(400, `${user.name} is not starting...`);
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
    const send = (e: unknown) => res.write(`data: ${JSON.stringify(e)}\n\n`);
    if (!log) {
      send({ progress: 100, ready: true, message: `Server ready at ${prefix}`, html_message: `Server ready at <a href="${prefix}">${prefix}</a>`, url: prefix });
      return void res.end();
    }
    const abort = new AbortController();
    req.on('close', () => abort.abort());
    const keepalive = setInterval(() => res.write('\n\n'), 8000);
    try {
      for await (const e of log.stream(abort.signal)) send(e);
    } finally {
      clearInterval(keepalive);
      log = undefined;
      res.end();
    }
  };

  r.post('/hub/api/users/:name/server', requireScope('servers', target), body, start);
  r.post('/hub/api/users/:name/servers/:server', requireScope('servers', target), body, start);
  r.delete('/hub/api/users/:name/server', requireScope('delete:servers', target), body, stop);
  r.delete('/hub/api/users/:name/servers/:server', requireScope('delete:servers', target), body, stop);
  r.get('/hub/api/users/:name/server/progress', requireScope('read:servers', target), progress);
  r.get('/hub/api/users/:name/servers/:server/progress', requireScope('read:servers', target), progress);
  return r;
}
