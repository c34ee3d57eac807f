/**
 * Quotas, checked by ServerManager.spawn before anything starts: servers per user (403), running
 * servers per group and per profile, and the CPU/memory budget of a group (429, try later).
 * Counts include spawns in progress. Limits of running servers come from their profile choice
 * (re-resolved from the saved user_options), the same numbers the spawner enforced.
 */
import type { Config } from '../config/schema.js';
import type { ResourceLimits } from '../spawners/spawner.js';
import type { ServerRepo } from './db/servers.js';
import type { UserRepo, UserRow } from './db/users.js';
import { HubError } from './errors.js';
import { parseBytes, resolveSpawn } from './profiles.js';

export interface ActiveServer {
  user: string;
  server: string;
  profile?: string;
  groups: string[];
  limits?: ResourceLimits;
}

export interface QuotaDeps {
  config: Config;
  users: UserRepo;
  servers: ServerRepo;
  /** Servers running or starting (ServerManager.activeServers). */
  active: () => Array<{ user: string; server: string }>;
}

const gb = (b: number) => `${(b / 1024 ** 3).toFixed(b % 1024 ** 3 ? 1 : 0)} GB`;

export class Quotas {
  constructor(private readonly d: QuotaDeps) {}

  private get q() {
    return this.d.config.quotas;
  }

  /** Anything to check beyond the per-user count? (skips the scan when not) */
  private needsScan(): boolean {
    const q = this.q;
    return Object.keys(q.maxRunningPerGroup).length + Object.keys(q.maxRunningPerProfile).length + Object.keys(q.groupBudgets).length > 0;
  }

  /** Running/starting servers with their profile, owner's groups and limits. */
  activeServers(): ActiveServer[] {
    const groupCache = new Map<string, string[]>();
    const out: ActiveServer[] = [];
    for (const a of this.d.active()) {
      const user = this.d.users.byName(a.user);
      if (!user) continue;
      let groups = groupCache.get(a.user);
      if (!groups) groupCache.set(a.user, (groups = this.d.users.groupNames(user.id)));
      const row = this.d.servers.get(user.id, a.server);
      let options: Record<string, unknown> = {};
      try {
        options = JSON.parse(row?.user_options ?? '{}') as Record<string, unknown>;
      } catch {
        /* keep {} */
      }
      let limits: ResourceLimits | undefined;
      try {
        limits = resolveSpawn(this.d.config, groups, options).limits;
      } catch {
        limits = undefined; // profile gone from the config: counts as a server without limits
      }
      out.push({ user: a.user, server: a.server, profile: typeof options.profile === 'string' ? options.profile : undefined, groups, limits });
    }
    return out;
  }

  check(user: UserRow, serverName: string, resolved: { limits?: ResourceLimits; userOptions: Record<string, unknown> }): void {
    const q = this.q;
    if (q.maxServersPerUser > 0) {
      const mine = this.d.active().filter((a) => a.user === user.name && a.server !== serverName).length;
      if (mine >= q.maxServersPerUser) {
        throw new HubError(403, `You already have ${mine} server${mine === 1 ? '' : 's'} running; the limit is ${q.maxServersPerUser} per user. Stop one before starting another.`);
      }
    }
    if (!this.needsScan()) return;
    const others = this.activeServers().filter((a) => !(a.user === user.name && a.server === serverName));
    const profile = typeof resolved.userOptions.profile === 'string' ? resolved.userOptions.profile : undefined;
    const retry = { headers: { 'Retry-After': '60' } };
    if (profile && q.maxRunningPerProfile[profile] !== undefined) {
      const n = others.filter((a) => a.profile === profile).length;
      const max = q.maxRunningPerProfile[profile];
      if (n >= max) throw new HubError(429, `All ${max} places for the profile '${profile}' are in use. Try again later or choose another profile.`, retry);
    }
    const groups = this.d.users.groupNames(user.id);
    for (const g of groups) {
      const max = q.maxRunningPerGroup[g];
      if (max === undefined) continue;
      const n = others.filter((a) => a.groups.includes(g)).length;
      if (n >= max) throw new HubError(429, `The group '${g}' already runs ${n} server${n === 1 ? '' : 's'} (its limit is ${max}). Try again when someone in the group stops theirs.`, retry);
    }
    for (const g of groups) {
      const budget = q.groupBudgets[g];
      if (!budget) continue;
      const members = others.filter((a) => a.groups.includes(g));
      if (budget.cpu !== undefined) {
        const used = members.reduce((s, a) => s + (a.limits?.cpus ?? 0), 0);
        const want = resolved.limits?.cpus ?? 0;
        if (used + want > budget.cpu + 1e-9) {
          throw new HubError(429, `The group '${g}' has a budget of ${budget.cpu} CPUs; ${used} are in use and this server needs ${want}. Try a smaller profile or try again later.`, retry);
        }
      }
      if (budget.memory !== undefined) {
        const cap = parseBytes(budget.memory);
        const used = members.reduce((s, a) => s + (a.limits?.memBytes ?? 0), 0);
        const want = resolved.limits?.memBytes ?? 0;
        if (used + want > cap) {
          throw new HubError(429, `The group '${g}' has a memory budget of ${gb(cap)}; ${gb(used)} are in use and this server needs ${gb(want)}. Try a smaller profile or try again later.`, retry);
        }
      }
    }
  }
}
