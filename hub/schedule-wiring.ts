/**
 * Connects the pure schedules module to the hub: lists every server row (with its user's groups,
 * the profile it was started with and its last activity) and stops/starts through ServerManager.
 */
import type { HubDeps } from './deps.js';
import { ScheduleMemoryRepo } from './db/schedule-memory.js';
import { ScheduleRunner, type Schedule, type ScheduleTarget } from './schedules.js';

export function scheduleTargets(d: Pick<HubDeps, 'users' | 'servers' | 'serverManager'>): ScheduleTarget[] {
  const out: ScheduleTarget[] = [];
  for (const u of d.users.list()) {
    const groups = d.users.groupNames(u.id);
    for (const row of d.servers.forUser(u.id)) {
      let options: Record<string, unknown> = {};
      try {
        options = JSON.parse(row.user_options || '{}') as Record<string, unknown>;
      } catch {
        /* keep {} */
      }
      out.push({
        user: u.name,
        server: row.name,
        running: d.serverManager.status(u.name, row.name) === 'running',
        profile: typeof options.profile === 'string' ? options.profile : undefined,
        groups,
        lastActivity: row.last_activity ? Date.parse(row.last_activity) : null,
      });
    }
  }
  return out;
}

/** Builds the runner for the configured schedules and starts its timer (no-op without schedules). */
export function startSchedules(d: Pick<HubDeps, 'db' | 'users' | 'servers' | 'serverManager' | 'clock' | 'log'>, schedules: readonly Schedule[], tickMs = 30_000): ScheduleRunner {
  const runner = new ScheduleRunner({
    schedules,
    clock: d.clock,
    log: d.log.child({ component: 'schedules' }),
    store: new ScheduleMemoryRepo(d.db),
    list: () => scheduleTargets(d),
    stop: async (t, reason) => {
      const user = d.users.byName(t.user);
      if (user) await d.serverManager.stop(user, t.server, { by: 'system', reason: `schedule ${(t as { schedule?: string }).schedule ?? ''}: ${reason}` });
    },
    start: async (t) => {
      const user = d.users.byName(t.user);
      const row = user ? d.servers.get(user.id, t.server) : undefined;
      if (user) await d.serverManager.spawn(user, t.server, row ? (JSON.parse(row.user_options || '{}') as Record<string, unknown>) : {});
    },
  });
  runner.startTimer(tickMs);
  return runner;
}
