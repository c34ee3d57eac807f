/**
 * /hub/admin: the admin console, server-rendered (works without JavaScript). Users: search, sort,
 * pages; add in bulk (local accounts get a generated password, shown once); admin flag, rename,
 * delete; start (via the spawn page, with the user's profile form) and stop servers, or stop all.
 * Groups: create, delete, members, properties. Every action needs admin-ui plus the scope the
 * matching REST call needs, and goes through the same operations as the REST API.
 */
import { randomBytes } from 'node:crypto';
import { Router, urlencoded, type NextFunction, type Request, type Response } from 'express';
import type { HubDeps } from '../deps.js';
import type { UserRow } from '../db/users.js';
import { HubError } from '../errors.js';
import { hashPassword } from '../auth/password.js';
import { normalizeUsername, validateUsername } from '../auth/usernames.js';
import { hasScope } from '../scopes.js';
import { createUsers, deleteUser, updateUser } from '../user-ops.js';
import { checkMayAddMembers } from '../group-ops.js';
import { param } from './params.js';

const PAGE = 50;

function requireAdminUi(req: Request, res: Response, next: NextFunction): void {
  if (!req.identity) return void res.redirect(302, `/hub/login?next=${encodeURIComponent(req.originalUrl)}`);
  if (!hasScope(req.identity.scopes, 'admin-ui')) return next(new HubError(403, 'You need the admin-ui permission to use the admin console'));
  next();
}

function need(req: Request, scope: string, target: { user?: string; group?: string } = {}): void {
  if (!hasScope(req.identity!.scopes, scope, target)) throw new HubError(403, `This action needs the ${scope} permission`);
}

/** Bulk-add text → names: one per line or separated by spaces/commas. Duplicates are an error. */
export function parseBulkNames(text: string): { names: string[]; problems: string[] } {
  const raw = text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
  const problems: string[] = [];
  if (raw.length === 0) problems.push('Enter at least one username.');
  const seen = new Set<string>();
  const names: string[] = [];
  for (const r of raw) {
    const n = normalizeUsername(r);
    const p = validateUsername(n);
    if (p) problems.push(p);
    else if (seen.has(n)) problems.push(`'${n}' is listed twice`);
    else {
      seen.add(n);
      names.push(n);
    }
  }
  return { names, problems };
}

export function adminRouter(d: HubDeps): Router {
  const r = Router();
  const form = urlencoded({ extended: false, limit: '256kb' });
  const localAuth = () => d.config.auth.methods.some((m) => m.kind === 'local');

  const back = (req: Request, res: Response, message: string) => res.redirect(303, `/hub/admin?flash=${encodeURIComponent(message)}`);

  const render = (req: Request, res: Response, extra: { error?: string | null; bulk?: string; status?: number; created?: Array<{ name: string; password?: string }> } = {}) => {
    const q = typeof req.query.q === 'string' ? req.query.q.trim().toLowerCase() : '';
    const sort = ['name', 'last_activity', 'created'].includes(String(req.query.sort)) ? String(req.query.sort) : 'name';
    const dir = req.query.dir === 'desc' ? -1 : 1;
    const offset = Math.max(0, Number.parseInt(String(req.query.offset ?? '0'), 10) || 0);
    let users = d.users.list();
    if (q) users = users.filter((u) => u.name.includes(q));
    const key = (u: UserRow) => (sort === 'name' ? u.name : sort === 'created' ? u.created : (u.last_activity ?? ''));
    users.sort((a, b) => (key(a) < key(b) ? -dir : key(a) > key(b) ? dir : 0));
    const page = users.slice(offset, offset + PAGE).map((u) => ({
      name: u.name,
      admin: u.admin === 1,
      created: u.created,
      lastActivity: u.last_activity,
      groups: d.users.groupNames(u.id),
      servers: d.servers.forUser(u.id).map((s) => {
        const opts = JSON.parse(s.user_options) as Record<string, unknown>;
        return { name: s.name, status: d.serverManager.status(u.name, s.name), url: d.serverManager.publicUrl(u.name, s.name), started: s.started, lastActivity: s.last_activity, profile: typeof opts.profile === 'string' ? opts.profile : '' };
      }),
    }));
    const groups = d.groups.list().map((g) => ({ name: g.name, members: d.groups.members(g.id), properties: g.properties }));
    res.status(extra.status ?? 200).render('admin', {
      identity: req.identity,
      xsrf: req.xsrfToken,
      users: page,
      total: users.length,
      offset,
      pageSize: PAGE,
      q,
      sort,
      dir: dir === 1 ? 'asc' : 'desc',
      groups,
      flash: typeof req.query.flash === 'string' ? req.query.flash : null,
      error: extra.error ?? null,
      bulk: extra.bulk ?? '',
      created: extra.created ?? null,
      localAuth: localAuth(),
      running: d.serverManager.runningCount(),
    });
  };
  /** A refused action (a 4xx HubError) is shown on the console page; true when it was. */
  const showClientError = (req: Request, res: Response, err: unknown, extra: { bulk?: string } = {}): boolean => {
    if (!(err instanceof HubError) || err.status >= 500) return false;
    render(req, res, { ...extra, error: err.message, status: err.status });
    return true;
  };

  r.get('/hub/admin', requireAdminUi, (req, res) => render(req, res));

  r.post('/hub/admin/users', requireAdminUi, form, d.csrf.check(), async (req, res) => {
    need(req, 'admin:users');
    const body = (req.body ?? {}) as Record<string, string>;
    const text = body.usernames ?? '';
    const { names, problems } = parseBulkNames(text);
    const existing = names.filter((n) => d.users.byName(n));
    if (existing.length) problems.push(`Already exist: ${existing.join(', ')}`);
    if (problems.length) return render(req, res, { error: problems.join(' · '), bulk: text, status: 400 });
    // passwords are hashed before anything is written, so a failure leaves nothing half-created
    const passwords: Array<{ name: string; password?: string }> = names.map((n) => ({ name: n, password: localAuth() ? randomBytes(9).toString('base64url') : undefined }));
    const hashes = await Promise.all(passwords.map((p) => (p.password ? hashPassword(p.password) : Promise.resolve(undefined))));
    try {
      d.db.transaction(() => {
        const created = createUsers(d, names, { admin: body.admin === 'on', caller: req.identity! });
        created.forEach((u, i) => {
          const hash = hashes[i];
          if (hash) d.users.setPasswordHash(u.id, hash);
        });
      })();
    } catch (err) {
      if (!showClientError(req, res, err, { bulk: text })) throw err;
      return;
    }
    render(req, res, { created: passwords, status: 201 });
  });

  const userAction = (path: string, scope: string, act: (req: Request, user: UserRow) => Promise<string> | string) =>
    r.post(`/hub/admin/users/:name/${path}`, requireAdminUi, form, d.csrf.check(), async (req, res) => {
      const user = d.users.byName(param(req, 'name'));
      if (!user) throw new HubError(404, `No such user: ${param(req, 'name')}`);
      need(req, scope, { user: user.name });
      try {
        back(req, res, await act(req, user));
      } catch (err) {
        if (!showClientError(req, res, err)) throw err;
      }
    });

  userAction('admin', 'admin:users', (req, user) => {
    const admin = (req.body as Record<string, string>).admin === 'true';
    updateUser(d, user, { admin }, req.identity!);
    return `${user.name} is ${admin ? 'now' : 'no longer'} an admin`;
  });
  userAction('rename', 'admin:users', (req, user) => {
    const updated = updateUser(d, user, { name: (req.body as Record<string, string>).name ?? '' }, req.identity!);
    return `Renamed ${user.name} to ${updated.name}`;
  });
  userAction('delete', 'delete:users', async (req, user) => {
    await deleteUser(d, user, req.identity!);
    return `Deleted ${user.name}`;
  });
  userAction('stop', 'delete:servers', async (req, user) => {
    const server = (req.body as Record<string, string>).server ?? '';
    await d.serverManager.stop(user, server);
    return `Stopping ${user.name}'s server${server ? ` ${server}` : ''}`;
  });

  r.post('/hub/admin/stop-all', requireAdminUi, form, d.csrf.check(), async (req, res) => {
    need(req, 'delete:servers');
    let n = 0;
    for (const u of d.users.list()) {
      for (const s of d.servers.forUser(u.id)) {
        if (d.serverManager.status(u.name, s.name) === 'stopped') continue;
        await d.serverManager.stop(u, s.name);
        n++;
      }
    }
    d.log.info({ by: req.identity!.name, stopped: n, event: 'stop-all' }, 'all servers stopped');
    back(req, res, `Stopping ${n} server${n === 1 ? '' : 's'}`);
  });

  // groups
  const groupAction = (path: string, scope: string, act: (req: Request, groupName: string) => string) =>
    r.post(path, requireAdminUi, form, d.csrf.check(), (req, res) => {
      const name = param(req, 'group') || String((req.body as Record<string, string>).name ?? '').trim();
      need(req, scope, { group: name });
      try {
        back(req, res, act(req, name));
      } catch (err) {
        if (!showClientError(req, res, err)) throw err;
      }
    });
  const loadGroup = (name: string) => {
    const g = d.groups.byName(name);
    if (!g) throw new HubError(404, `No such group: ${name}`);
    return g;
  };
  groupAction('/hub/admin/groups', 'admin:groups', (req, name) => {
    if (!/^[A-Za-z0-9][A-Za-z0-9._@ -]{0,63}$/.test(name)) throw new HubError(400, `Invalid group name '${name}'`);
    if (d.groups.byName(name)) throw new HubError(409, `Group ${name} already exists`);
    d.groups.create(name);
    d.log.info({ group: name, by: req.identity!.name, event: 'group-created' }, 'group created');
    return `Created group ${name}`;
  });
  groupAction('/hub/admin/groups/:group/delete', 'delete:groups', (req, name) => {
    d.groups.delete(loadGroup(name).id);
    d.log.info({ group: name, by: req.identity!.name, event: 'group-deleted' }, 'group deleted');
    return `Deleted group ${name}`;
  });
  groupAction('/hub/admin/groups/:group/members', 'groups', (req, name) => {
    const g = loadGroup(name);
    const body = req.body as Record<string, string>;
    const user = d.users.byName(normalizeUsername(body.user ?? ''));
    if (!user) throw new HubError(400, `No such user: ${body.user ?? ''}`);
    if (body.action === 'remove') d.groups.removeMember(g.id, user.id);
    else {
      checkMayAddMembers(d, req.identity!, g, [user]);
      d.groups.addMember(g.id, user.id);
    }
    d.log.info({ group: name, user: user.name, action: body.action === 'remove' ? 'remove' : 'add', by: req.identity!.name, event: 'group-members-changed' }, 'group members changed');
    return `${body.action === 'remove' ? 'Removed' : 'Added'} ${user.name} ${body.action === 'remove' ? 'from' : 'to'} ${name}`;
  });
  groupAction('/hub/admin/groups/:group/properties', 'groups', (req, name) => {
    const g = loadGroup(name);
    let props: unknown;
    try {
      props = JSON.parse((req.body as Record<string, string>).properties || '{}');
    } catch {
      throw new HubError(400, 'Properties must be valid JSON');
    }
    if (typeof props !== 'object' || props === null || Array.isArray(props)) throw new HubError(400, 'Properties must be a JSON object');
    d.groups.setProperties(g.id, props as Record<string, unknown>);
    d.log.info({ group: name, by: req.identity!.name, event: 'group-properties-changed' }, 'group properties changed');
    return `Saved properties of ${name}`;
  });

  return r;
}
