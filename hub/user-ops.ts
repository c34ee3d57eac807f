/**
 * User operations shared by the REST API and the admin console, so both validate the same way and
 * neither leaves half-done work: validation happens before any write, writes are one transaction.
 */
import type { Identity } from './access.js';
import type { HubDeps } from './deps.js';
import type { UserRow } from './db/users.js';
import { isoNow } from './clock.js';
import { HubError } from './errors.js';
import { normalizeUsername, validateUsername } from './auth/usernames.js';

/** Normalizes and validates a list of names; all problems are reported together. */
export function validatedNames(raw: unknown): string[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new HubError(400, 'Must specify at least one user to create');
  const names: string[] = [];
  const problems: string[] = [];
  for (const r of raw) {
    if (typeof r !== 'string') {
      problems.push('usernames must be strings');
      continue;
    }
    const name = normalizeUsername(r);
    const p = validateUsername(name);
    if (p) problems.push(p);
    else if (!names.includes(name)) names.push(name);
  }
  if (problems.length) throw new HubError(400, problems.join('; '));
  return names;
}

/**
 * JupyterHub 4+'s rule, for the API and the console alike: only an admin caller may make admins or change
 * an admin user (403), so `admin:users` in a custom role or a service is no path to every other scope.
 */
function checkAdminRights(d: HubDeps, caller: Identity, change: { target?: UserRow; admin?: unknown }): void {
  if (change.target) checkMayModify(d, caller, change.target);
  if (change.admin === true && !d.access.isAdmin(caller)) throw new HubError(403, 'Only admins can grant admin permissions');
}

/**
 * Anything done to or as an admin's account — rename, auth state, password, delete, a token minted for them,
 * a share of their server — needs an admin caller.
 */
export function checkMayModify(d: HubDeps, caller: Identity, target: UserRow): void {
  if (target.admin && !d.access.isAdmin(caller)) throw new HubError(403, 'Only admins can modify other admins');
}

/** Creates the users that don't exist yet; 409 when all of them exist. */
export function createUsers(d: HubDeps, names: string[], opts: { admin: boolean; caller: Identity }): UserRow[] {
  checkAdminRights(d, opts.caller, { admin: opts.admin });
  const toCreate = names.filter((n) => !d.users.byName(n));
  if (toCreate.length === 0) throw new HubError(409, names.length === 1 ? `User ${names[0]} already exists` : `All ${names.length} users already exist`);
  const now = isoNow(d.clock);
  const created = d.db.transaction(() => toCreate.map((n) => d.users.create(n, { admin: opts.admin, now })))();
  d.log.info({ users: toCreate, admin: opts.admin, by: opts.caller.name, event: 'users-created' }, 'users created');
  return created;
}

/** Renames, sets admin and/or replaces the auth state (encrypted), all in one transaction. */
export function updateUser(d: HubDeps, user: UserRow, change: { name?: unknown; admin?: unknown; auth_state?: Record<string, unknown> | null }, caller: Identity): UserRow {
  if (change.admin !== undefined && typeof change.admin !== 'boolean') throw new HubError(400, "'admin' must be true or false");
  checkAdminRights(d, caller, { target: user, admin: change.admin });
  let renamed: string | undefined;
  if (change.name !== undefined && change.name !== user.name) {
    [renamed] = validatedNames([change.name]);
    if (renamed !== user.name && d.users.byName(renamed)) throw new HubError(400, `User ${renamed} already exists, username must be unique`);
    const active = d.servers.forUser(user.id).filter((s) => d.serverManager.status(user.name, s.name) !== 'stopped');
    if (active.length) throw new HubError(400, `Stop ${user.name}'s servers before renaming (their URLs contain the name)`);
  }
  d.db.transaction(() => {
    if (renamed) d.users.rename(user.id, renamed);
    if (typeof change.admin === 'boolean') d.users.setAdmin(user.id, change.admin);
    if (change.auth_state !== undefined) d.authState.set(user.id, change.auth_state);
  })();
  // the auth state's content is never logged, only that it changed
  d.log.info({ user: user.name, renamed, admin: change.admin, authStateSet: change.auth_state !== undefined || undefined, by: caller.name, event: 'user-updated' }, 'user updated');
  return d.users.byId(user.id)!;
}

/** Stops the user's servers (waiting for them), then deletes the user and everything it owns. */
export async function deleteUser(d: HubDeps, user: UserRow, caller: Identity): Promise<void> {
  if (user.id === caller.user?.id) throw new HubError(400, "You can't delete yourself");
  checkMayModify(d, caller, user);
  for (const s of d.servers.forUser(user.id)) {
    if (d.serverManager.status(user.name, s.name) !== 'stopped') await d.serverManager.stop(user, s.name);
    const pending = d.serverManager.pendingOf(user.name, s.name);
    if (pending) await pending.done;
  }
  d.users.delete(user.id);
  d.access.invalidate();
  d.log.info({ user: user.name, by: caller.name, event: 'user-deleted' }, 'user deleted');
}
