/**
 * Built-in culler (jupyterhub-idle-culler in core): stops servers idle longer than a timeout or
 * older than a maximum age, with per-profile and per-group rules. Activity comes from the proxy
 * (last_activity of each route, GET /api/routes) and from the servers' own activity reports
 * (POST /hub/api/users/:name/activity → servers.last_activity); the later of the two counts.
 *
 * Pure decisions (cullDecisions) take `now`; the Culler takes an injected clock, so tests run
 * hours of idleness without sleeping.
 */
import type { CullingConfig } from '../config/ops-schema.js';
import type { HubDeps } from './deps.js';
import { jitter } from './concurrency.js';

export interface CullTarget {
  user: string;
  server: string;
  profile?: string;
  groups: string[];
  /** Epoch ms the server started. */
  started: number | null;
  /** Epoch ms of the last activity (proxy traffic or activity report). */
  lastActivity: number | null;
}

export interface CullDecision {
  user: string;
  server: string;
  reason: string;
}

/** The rule for one server: its profile's, else the most lenient of its groups', else the global one (0 = off). */
export function cullRule(cfg: CullingConfig, t: Pick<CullTarget, 'profile' | 'groups'>): { idleTimeoutSeconds: number; maxAgeSeconds: number } {
  const rule = { idleTimeoutSeconds: cfg.idleTimeoutSeconds, maxAgeSeconds: cfg.maxAgeSeconds };
  const byProfile = t.profile ? cfg.byProfile[t.profile] : undefined;
  const groupRules = t.groups.map((g) => cfg.byGroup[g]).filter((r) => r !== undefined);
  const lenient = (vals: number[]) => (vals.includes(0) ? 0 : Math.max(...vals));
  for (const k of ['idleTimeoutSeconds', 'maxAgeSeconds'] as const) {
    if (byProfile?.[k] !== undefined) rule[k] = byProfile[k]!;
    else {
      const vals = groupRules.map((r) => r[k]).filter((v): v is number => v !== undefined);
      if (vals.length) rule[k] = lenient(vals);
    }
  }
  return rule;
}

export function cullDecisions(cfg: CullingConfig, targets: readonly CullTarget[], now: number): CullDecision[] {
  const out: CullDecision[] = [];
  for (const t of targets) {
    const rule = cullRule(cfg, t);
    if (rule.maxAgeSeconds > 0 && t.started !== null && now - t.started >= rule.maxAgeSeconds * 1000) {
      out.push({ user: t.user, server: t.server, reason: `running for more than ${fmt(rule.maxAgeSeconds)} (maximum age)` });
      continue;
    }
    if (rule.idleTimeoutSeconds > 0) {
      const last = Math.max(t.lastActivity ?? 0, t.started ?? 0);
      if (last > 0 && now - last >= rule.idleTimeoutSeconds * 1000) out.push({ user: t.user, server: t.server, reason: `idle for more than ${fmt(rule.idleTimeoutSeconds)}` });
    }
  }
  return out;
}

/** When a server would next be culled, for the home page (null: never). */
export function nextCull(cfg: CullingConfig, t: CullTarget): { at: number; kind: 'idle' | 'max-age' } | null {
  const rule = cullRule(cfg, t);
  let best: { at: number; kind: 'idle' | 'max-age' } | null = null;
  if (rule.maxAgeSeconds > 0 && t.started !== null) best = { at: t.started + rule.maxAgeSeconds * 1000, kind: 'max-age' };
  if (rule.idleTimeoutSeconds > 0) {
    const last = Math.max(t.lastActivity ?? 0, t.started ?? 0);
    if (last > 0 && (!best || last + rule.idleTimeoutSeconds * 1000 < best.at)) best = { at: last + rule.idleTimeoutSeconds * 1000, kind: 'idle' };
  }
  return best;
}

function fmt(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

export function cullingEnabled(cfg: CullingConfig): boolean {
  const rules = [cfg, ...Object.values(cfg.byProfile), ...Object.values(cfg.byGroup)];
  return rules.some((r) => (r.idleTimeoutSeconds ?? 0) > 0 || (r.maxAgeSeconds ?? 0) > 0);
}

type CullDeps = Pick<HubDeps, 'config' | 'users' | 'servers' | 'serverManager' | 'clock' | 'log' | 'proxy' | 'schedules'>;

/** Running servers with their activity (after pulling the proxy's). */
export function cullTargets(d: CullDeps): CullTarget[] {
  const out: CullTarget[] = [];
  const groupCache = new Map<number, string[]>();
  for (const a of d.serverManager.activeServers()) {
    if (a.status !== 'running') continue;
    const user = d.users.byName(a.user);
    const row = user ? d.servers.get(user.id, a.server) : undefined;
    if (!user || !row) continue;
    let groups = groupCache.get(user.id);
    if (!groups) groupCache.set(user.id, (groups = d.users.groupNames(user.id)));
    let profile: string | undefined;
    try {
      const p = (JSON.parse(row.user_options || '{}') as { profile?: unknown }).profile;
      profile = typeof p === 'string' ? p : undefined;
    } catch {
      profile = undefined;
    }
    out.push({ user: a.user, server: a.server, profile, groups, started: row.started ? Date.parse(row.started) : null, lastActivity: row.last_activity ? Date.parse(row.last_activity) : null });
  }
  return out;
}

/** Copies the proxy's per-route last_activity into servers and users (JupyterHub update_last_activity). */
export async function pullProxyActivity(d: CullDeps): Promise<number> {
  const routes = await d.proxy.getAllRoutes();
  let n = 0;
  for (const data of Object.values(routes)) {
    if (typeof data.user !== 'string' || typeof data.last_activity !== 'string') continue;
    const user = d.users.byName(data.user);
    const row = user ? d.servers.get(user.id, typeof data.server_name === 'string' ? data.server_name : '') : undefined;
    if (!user || !row) continue;
    const when = new Date(Date.parse(data.last_activity)).toISOString();
    if (Number.isNaN(Date.parse(data.last_activity))) continue;
    d.servers.touch(row.id, when);
    if (!user.last_activity || user.last_activity < when) d.users.touch(user.id, when);
    n++;
  }
  return n;
}

export class Culler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<CullDecision[]> | null = null;

  constructor(private readonly d: CullDeps) {}

  /** Pulls proxy activity, then stops what is due. Returns what it stopped. */
  tick(): Promise<CullDecision[]> {
    this.running ??= this.doTick().finally(() => (this.running = null));
    return this.running;
  }

  private async doTick(): Promise<CullDecision[]> {
    const cfg = this.d.config.culling;
    await pullProxyActivity(this.d).catch((err) => this.d.log.warn({ err: String(err) }, 'culler: proxy activity unavailable; using activity reports only'));
    const now = this.d.clock.now();
    // an admin's "keep running" override (admin schedules page) holds off the culler too
    const overrides = this.d.schedules?.memory.overrides;
    const decisions = cullDecisions(cfg, cullTargets(this.d), now).filter((c) => (overrides?.get(`${c.user}/${c.server}`) ?? -Infinity) <= now);
    for (const c of decisions) {
      const user = this.d.users.byName(c.user);
      if (!user) continue;
      try {
        await this.d.serverManager.stop(user, c.server, { by: 'system', reason: `culled: ${c.reason}` });
        this.d.log.info({ user: c.user, server: c.server, reason: c.reason }, 'culled server');
      } catch (err) {
        this.d.log.warn({ user: c.user, server: c.server, err: String(err) }, 'culler: stop failed');
      }
    }
    return decisions;
  }

  start(): void {
    if (this.timer) return;
    // Without culling, proxy traffic still counts as activity in the API (JupyterHub's
    // update_last_activity every 300 s), so dashboards and external cullers see it.
    const enabled = cullingEnabled(this.d.config.culling);
    const every = enabled ? this.d.config.culling.intervalSeconds : 300;
    const work = () => (enabled ? this.tick().then(() => undefined) : pullProxyActivity(this.d).then(() => undefined));
    const loop = () => {
      this.timer = setTimeout(() => {
        work()
          .catch((err) => this.d.log.warn({ err: String(err) }, enabled ? 'cull tick failed' : 'proxy activity pull failed'))
          .finally(() => this.timer && loop());
      }, every * 1000 * jitter());
      this.timer.unref();
    };
    loop();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
