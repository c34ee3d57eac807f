/** The schedule runner's memory in SQLite (migration 0005), so a hub restart keeps it. */
import type { PlanMemory, PlanMemoryStore, ServerRef } from '../schedules.js';
import { serverKey } from '../schedules.js';
import { prep, type Db } from './db.js';

export class ScheduleMemoryRepo implements PlanMemoryStore {
  constructor(private readonly db: Db) {}

  load(): PlanMemory {
    const memory: PlanMemory = { stoppedBy: new Map(), overrides: new Map() };
    const stopped = prep(this.db, 'SELECT s.schedule, u.name AS user, s.server_name AS server FROM schedule_stopped s JOIN users u ON u.id = s.user_id').all() as Array<{ schedule: string } & ServerRef>;
    for (const r of stopped) {
      if (!memory.stoppedBy.has(r.schedule)) memory.stoppedBy.set(r.schedule, new Set());
      memory.stoppedBy.get(r.schedule)!.add(serverKey(r));
    }
    const overrides = prep(this.db, 'SELECT u.name AS user, o.server_name AS server, o.until_ms AS until FROM schedule_overrides o JOIN users u ON u.id = o.user_id').all() as Array<{ until: number } & ServerRef>;
    for (const r of overrides) memory.overrides.set(serverKey(r), r.until);
    return memory;
  }

  setStopped(schedule: string, t: ServerRef, stopped: boolean): void {
    if (stopped) prep(this.db, 'INSERT OR IGNORE INTO schedule_stopped (schedule, user_id, server_name) SELECT ?, id, ? FROM users WHERE name = ?').run(schedule, t.server, t.user);
    else prep(this.db, 'DELETE FROM schedule_stopped WHERE schedule = ? AND server_name = ? AND user_id = (SELECT id FROM users WHERE name = ?)').run(schedule, t.server, t.user);
  }

  setOverride(t: ServerRef, until: number): void {
    prep(this.db, 'INSERT INTO schedule_overrides (user_id, server_name, until_ms) SELECT id, ?, ? FROM users WHERE name = ? ON CONFLICT (user_id, server_name) DO UPDATE SET until_ms = excluded.until_ms').run(t.server, until, t.user);
  }

  forgetSchedule(schedule: string): void {
    prep(this.db, 'DELETE FROM schedule_stopped WHERE schedule = ?').run(schedule);
  }

  dropExpiredOverrides(now: number): void {
    prep(this.db, 'DELETE FROM schedule_overrides WHERE until_ms <= ?').run(now);
  }
}
