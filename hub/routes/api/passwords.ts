/**
 * Local-account administration over the REST API (admin:users):
 *   POST   /hub/api/users/:name/password   {password}   set a user's password (create the user first)
 *   DELETE /hub/api/users/:name/lockout                 unlock a username locked after failed logins
 *   GET    /hub/api/signups                             pending self sign-up requests
 *   POST   /hub/api/signups/:name                       approve: creates the user with the requested password
 *   DELETE /hub/api/signups/:name                       reject
 */
import type { ApiRouter } from '../../http/api-router.js';
import type { HubDeps } from '../../deps.js';
import { HubError } from '../../errors.js';
import { isoNow } from '../../clock.js';
import { param, userTarget } from '../params.js';
import { approveSignup } from '../../auth/signup.js';
import { checkMayModify } from '../../user-ops.js';

export function passwordsRoutes(api: ApiRouter, d: HubDeps): void {
  const target = userTarget(d);
  const local = () => {
    if (!d.auth.local) throw new HubError(404, 'Local accounts are not enabled (auth.methods has no kind: local)');
    return d.auth.local;
  };

  api.post('/hub/api/users/:name/password', { scope: 'admin:users', target: target, bodyLimit: 16384 }, async (req, res) => {
    const user = d.users.byName(param(req, 'name'));
    if (!user) throw new HubError(404, `No such user: ${param(req, 'name')}`);
    // an admin's password is an admin's login: admin:users alone must not reach it
    checkMayModify(d, req.identity!, user);
    const b = (req.body ?? {}) as Record<string, unknown>;
    await local().setPassword(user.id, b.password as string);
    local().throttle.unlock(user.name);
    d.log.info({ user: user.name, by: req.identity?.user?.name, event: 'password-set' }, 'password set by admin');
    res.status(204).end();
  });

  api.delete('/hub/api/users/:name/lockout', { scope: 'admin:users', target: target }, (req, res) => {
    const name = param(req, 'name');
    const wasLocked = local().throttle.unlock(name);
    d.log.info({ user: name, by: req.identity?.user?.name, event: 'unlock', wasLocked }, 'login lockout cleared');
    res.status(204).end();
  });

  api.get('/hub/api/signups', { scope: 'admin:users' }, (_req, res) => {
    local();
    res.json(d.auth.signups.list().map((s) => ({ name: s.name, created: s.created })));
  });

  api.post('/hub/api/signups/:name', { scope: 'admin:users' }, (req, res) => {
    local();
    const name = param(req, 'name');
    const user = approveSignup(d.db, d.users, d.auth.signups, name, isoNow(d.clock));
    d.log.info({ user: name, by: req.identity?.user?.name, event: 'signup-approved' }, 'sign-up approved');
    res.status(201).json({ name: user.name, admin: false, created: user.created });
  });

  api.delete('/hub/api/signups/:name', { scope: 'admin:users' }, (req, res) => {
    local();
    if (!d.auth.signups.remove(param(req, 'name'))) throw new HubError(404, `No sign-up request for ${param(req, 'name')}`);
    res.status(204).end();
  });
}
