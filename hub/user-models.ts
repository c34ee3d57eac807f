/**
 * JupyterHub user models for the REST API, built in batches and cached as JSON text.
 *
 * A model is a pure function of database rows (user, groups, roles, servers, auth state) and the
 * servers' in-memory status, filtered by the caller's scopes. The cache is keyed by a version that
 * moves on every row this hub's connection changes (SQLite total_changes()), on every status change
 * (ServerManager.statusVersion), and on commits by other connections (PRAGMA data_version, checked
 * at most every 250 ms) — so an answer is never older than the data, and listing 10,000 users or
 * polling one user costs a lookup instead of four queries and a stringify per user.
 */
import type { Db } from './db/db.js';
import { prep } from './db/db.js';
import type { ServerRow } from './db/servers.js';
import type { UserRow } from './db/users.js';
import type { AccessService } from './access.js';
import type { AuthStateStore } from './auth-state.js';
import type { Clock } from './clock.js';
import { userModel, type UserModelInput } from './models.js';
import type { ServerManager } from './servers.js';
import { hasScope } from './scopes.js';

export type UserSort = 'id' | 'name' | 'last_activity';

export interface ModelOptions {
  includeStoppedServers?: boolean;
  /** Include the decrypted auth state when the caller holds admin:auth_state (single-user GET). */
  withAuthState?: boolean;
  /** The caller is no admin: an admin's auth state (their identity-provider tokens) stays hidden. */
  callerNotAdmin?: boolean;
}

interface Deps {
  db: Db;
  access: AccessService;
  authState: AuthStateStore;
  serverManager: ServerManager;
  clock: Clock;
}

const EXTERNAL_CHECK_MS = 250;
const MAX_CALLER_KINDS = 8;
const MAX_ORDERS = 8;
// fixed SQL per sort key and direction (ties by id ascending, as the JS sort elsewhere)
const ORDER: Record<UserSort, string> = { id: 'id', name: 'name', last_activity: "COALESCE(last_activity, '')" };

export class UserModels {
  private version = '';
  private externalVersion = 0;
  private externalCheckedAt = -Infinity;
  private readonly idsByName = new Map<string, number>();
  /** JSON text by caller scope set (its sorted text) and options, then user id. */
  private readonly json = new Map<string, Map<number, string>>();
  private readonly scopeKeys = new WeakMap<ReadonlySet<string>, string>();
  /** All user ids in one order (sort, direction, name prefix), while the version holds. */
  private readonly orders = new Map<string, number[]>();

  constructor(private readonly d: Deps) {}

  /** Drops everything when the data may have changed since the cache was filled. */
  private sync(): void {
    const now = this.d.clock.now();
    if (now - this.externalCheckedAt >= EXTERNAL_CHECK_MS) {
      this.externalVersion = prep(this.d.db, 'PRAGMA data_version').pluck().get() as number;
      this.externalCheckedAt = now;
    }
    const changes = prep(this.d.db, 'SELECT total_changes()').pluck().get() as number;
    const version = `${changes}.${this.externalVersion}.${this.d.serverManager.statusVersion}`;
    if (version === this.version) return;
    this.version = version;
    this.idsByName.clear();
    this.json.clear();
    this.orders.clear();
  }

  /** One user's model as JSON text, or undefined when there is no such user. */
  one(name: string, callerScopes: ReadonlySet<string>, opts: ModelOptions = {}): string | undefined {
    this.sync();
    const id = this.idOf(name);
    return id === undefined ? undefined : this.cached([id], callerScopes, opts)[0];
  }

  /**
   * One page of all users as JSON text, optionally only names starting with `prefix`, and the total
   * the page is cut from.
   */
  page(sort: UserSort, descending: boolean, offset: number, limit: number, prefix: string, callerScopes: ReadonlySet<string>, opts: ModelOptions = {}): { items: string[]; total: number } {
    this.sync();
    const { ids, total } = this.pageIds(sort, descending, offset, limit, prefix);
    return { items: this.cached(ids, callerScopes, opts), total };
  }

  /** The models of `ids` as JSON text, in order (ids that no longer exist are left out). */
  jsonOf(ids: readonly number[], callerScopes: ReadonlySet<string>, opts: ModelOptions = {}): string[] {
    this.sync();
    return this.cached(ids, callerScopes, opts);
  }

  /**
   * Model inputs of `users`, read now and not cached (answers to writes, the deprecated token lookup
   * whose caller scopes are per user); with the decrypted auth state where `callerScopes` allow it.
   */
  inputsOf(users: readonly UserRow[], callerScopes?: ReadonlySet<string>): UserModelInput[] {
    const inputs = this.load(users.map((u) => u.id));
    const out: UserModelInput[] = [];
    for (const u of users) {
      const input = inputs.get(u.id);
      if (!input) continue;
      out.push(callerScopes ? this.withAuthState(input, callerScopes) : input);
    }
    return out;
  }

  // The helpers below assume sync() ran in the public call: once per request, not once per step.

  private idOf(name: string): number | undefined {
    let id = this.idsByName.get(name);
    if (id === undefined) {
      id = prep(this.d.db, 'SELECT id FROM users WHERE name = ?').pluck().get(name) as number | undefined;
      if (id !== undefined) this.idsByName.set(name, id);
    }
    return id;
  }

  /**
   * A page of ids and the total. The ids of the whole order are read once per data version and kept:
   * `LIMIT … OFFSET n` makes SQLite step over n rows for every page (≈ 25 µs at offset 800, ≈ 250 µs at
   * 9,800), so a paginated walk over all users was quadratic; now each page is a slice.
   */
  private pageIds(sort: UserSort, descending: boolean, offset: number, limit: number, prefix: string): { ids: number[]; total: number } {
    const key = `${sort}|${descending ? 1 : 0}|${prefix}`;
    let all = this.orders.get(key);
    if (!all) {
      const order = `${ORDER[sort]} ${descending ? 'DESC' : 'ASC'}, id ASC`;
      all = prefix
        ? (prep(this.d.db, `SELECT id FROM users WHERE substr(name, 1, length(?)) = ? ORDER BY ${order}`).pluck().all(prefix, prefix) as number[])
        : (prep(this.d.db, `SELECT id FROM users ORDER BY ${order}`).pluck().all() as number[]);
      // name filters are open-ended: keep a few orders, forget the oldest
      if (this.orders.size >= MAX_ORDERS) this.orders.delete(this.orders.keys().next().value!);
      this.orders.set(key, all);
    }
    return { ids: all.slice(offset, offset + limit), total: all.length };
  }

  private cached(ids: readonly number[], callerScopes: ReadonlySet<string>, opts: ModelOptions): string[] {
    const key = `${this.scopeKey(callerScopes)}|${opts.includeStoppedServers ? 1 : 0}${opts.withAuthState ? 1 : 0}${opts.callerNotAdmin ? 1 : 0}`;
    let cache = this.json.get(key);
    if (!cache) {
      // a few caller kinds (admin, culler service, dashboards) at a time: forget the oldest beyond that
      if (this.json.size >= MAX_CALLER_KINDS) this.json.delete(this.json.keys().next().value!);
      this.json.set(key, (cache = new Map()));
    }
    const missing = ids.filter((id) => !cache.has(id));
    if (missing.length) {
      const inputs = this.load(missing);
      for (const id of missing) {
        const input = inputs.get(id);
        if (!input) continue;
        const model = userModel(opts.withAuthState ? this.withAuthState(input, callerScopes, opts.callerNotAdmin) : input, callerScopes, opts);
        cache.set(id, JSON.stringify(model));
      }
    }
    const out: string[] = [];
    for (const id of ids) {
      const text = cache.get(id);
      if (text !== undefined) out.push(text);
    }
    return out;
  }

  /**
   * Model inputs for `ids`: the rows and their groups, roles and servers in one query each. Not kept:
   * only the JSON is cached (rows hold password hashes and encrypted auth state, and cost memory).
   */
  private load(ids: number[]): Map<number, UserModelInput> {
    const out = new Map<number, UserModelInput>();
    const list = JSON.stringify(ids);
    const rows = prep(this.d.db, 'SELECT * FROM users WHERE id IN (SELECT value FROM json_each(?))').all(list) as UserRow[];
    const groups = prep(this.d.db, 'SELECT ug.user_id AS id, g.name FROM user_groups ug JOIN groups g ON g.id = ug.group_id WHERE ug.user_id IN (SELECT value FROM json_each(?)) ORDER BY g.name').all(list) as Array<{ id: number; name: string }>;
    const roles = prep(
      this.d.db,
      `SELECT ur.user_id AS id, r.name FROM roles r JOIN user_roles ur ON ur.role_id = r.id WHERE ur.user_id IN (SELECT value FROM json_each(@ids))
       UNION SELECT ug.user_id AS id, r.name FROM roles r JOIN group_roles gr ON gr.role_id = r.id JOIN user_groups ug ON ug.group_id = gr.group_id WHERE ug.user_id IN (SELECT value FROM json_each(@ids))
       ORDER BY 2`,
    ).all({ ids: list }) as Array<{ id: number; name: string }>;
    const servers = prep(this.d.db, 'SELECT * FROM servers WHERE user_id IN (SELECT value FROM json_each(?)) ORDER BY name').all(list) as ServerRow[];
    const by = <T extends { id?: number; user_id?: number }>(items: T[], idOf: (t: T) => number) => {
      const m = new Map<number, T[]>();
      for (const it of items) {
        const k = idOf(it);
        const l = m.get(k);
        if (l) l.push(it);
        else m.set(k, [it]);
      }
      return m;
    };
    const groupsOf = by(groups, (g) => g.id);
    const rolesOf = by(roles, (r) => r.id);
    const serversOf = by(servers, (s) => s.user_id);
    for (const user of rows) {
      out.set(user.id, {
        user,
        groups: (groupsOf.get(user.id) ?? []).map((g) => g.name),
        roles: this.d.access.rolesFrom(user, (rolesOf.get(user.id) ?? []).map((r) => r.name)),
        servers: (serversOf.get(user.id) ?? []).map((row) => this.d.serverManager.viewOf(user.name, row)),
      });
    }
    return out;
  }

  /**
   * The input with the decrypted auth state, when the caller holds admin:auth_state on this user — and,
   * for an admin's, is an admin too (JupyterHub lets admin:users read it; LabHub keeps an admin's
   * identity-provider tokens from holders of a custom role).
   */
  private withAuthState(input: UserModelInput, callerScopes: ReadonlySet<string>, callerNotAdmin = false): UserModelInput {
    if (callerNotAdmin && input.user.admin) return input;
    return hasScope(callerScopes, 'admin:auth_state', { user: input.user.name }) ? { ...input, authState: this.d.authState.ofRow(input.user) } : input;
  }

  private scopeKey(scopes: ReadonlySet<string>): string {
    let key = this.scopeKeys.get(scopes);
    if (key === undefined) this.scopeKeys.set(scopes, (key = [...scopes].sort().join(' ')));
    return key;
  }
}
