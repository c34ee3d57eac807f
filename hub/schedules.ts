/**
 * Schedules for servers of any spawner kind: "stop every server of profile X / group Y at 18:00
 * Europe/London on weekdays", optional auto-start before class, idle stop, and the next stop time
 * of a server so the UI can warn. Wall-clock times are resolved in IANA time zones with Intl
 * (no tz library); DST days are handled: 18:00 local is 17:00Z after the spring change and 18:00Z
 * after the autumn one; a time skipped by a spring change fires at the same offset after the gap
 * (01:30 → 02:30 BST), a repeated one fires once (the first occurrence).
 *
 * Pure: plan() and nextStop() take the time as an argument; ScheduleRunner takes an injected clock
 * and callbacks to list/stop/start servers, so the hub wires it without this module knowing the hub.
 */
import { z } from 'zod';

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
type Day = (typeof DAYS)[number];

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const ScheduleSchema = z.strictObject({
  name: z.string().min(1).describe('Name shown to admins and in server warnings.'),
  timezone: z.string().refine(isTimeZone, 'not an IANA time zone (e.g. Europe/London)').default('UTC').describe('IANA time zone of stopAt/startAt, e.g. Europe/London.'),
  days: z.array(z.enum(DAYS)).min(1).default([...DAYS]).describe('Days (in that time zone) the schedule applies: sun, mon, … sat.'),
  stopAt: z.string().regex(HHMM, 'use HH:MM (24 h)').optional().describe('Wall-clock time every running matched server is stopped, e.g. "18:00".'),
  startAt: z.string().regex(HHMM, 'use HH:MM (24 h)').optional().describe('Wall-clock time matched servers are started again (before class).'),
  startWhich: z
    .enum(['stopped-by-schedule', 'all'])
    .default('stopped-by-schedule')
    .describe("'stopped-by-schedule': start only servers this schedule stopped; 'all': every matched server that is not running."),
  idleStopMinutes: z.number().positive().optional().describe('Stop a matched server after this many minutes without activity.'),
  match: z
    .strictObject({
      profiles: z.array(z.string()).default([]).describe('Only servers started with one of these profiles (user option `profile`).'),
      groups: z.array(z.string()).default([]).describe('Only servers of users in one of these groups.'),
      users: z.array(z.string()).default([]).describe('Only servers of these users.'),
    })
    .prefault({})
    .describe('Which servers the schedule applies to; every given list must match (empty lists match all).'),
});

export const SchedulesSchema = z.array(ScheduleSchema).default([]).describe('Scheduled stop/start and idle stop of servers (e.g. stop course VMs at 18:00 Europe/London).');

export type Schedule = z.infer<typeof ScheduleSchema>;

// ---------------------------------------------------------------------------------------------
// Time-zone arithmetic with Intl

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(tz, f);
  }
  return f;
}

interface LocalTime {
  y: number;
  m: number;
  d: number;
  hh: number;
  mm: number;
  ss: number;
}

export function localTime(ts: number, tz: string): LocalTime {
  const parts = Object.fromEntries(formatter(tz).formatToParts(new Date(ts)).map((p) => [p.type, p.value]));
  return { y: Number(parts.year), m: Number(parts.month), d: Number(parts.day), hh: Number(parts.hour) % 24, mm: Number(parts.minute), ss: Number(parts.second) };
}

/** Offset of the zone from UTC at instant ts, in ms (BST: +3600000). */
export function zoneOffset(ts: number, tz: string): number {
  const l = localTime(ts, tz);
  const asUtc = Date.UTC(l.y, l.m - 1, l.d, l.hh, l.mm, l.ss);
  return asUtc - Math.floor(ts / 1000) * 1000;
}

/**
 * The instant of a local wall-clock time. Skipped times (spring gap) move forward by the gap;
 * repeated times (autumn) resolve to the first occurrence.
 */
export function zonedTimeToUtc(y: number, m: number, d: number, hh: number, mm: number, tz: string): number {
  const wall = Date.UTC(y, m - 1, d, hh, mm);
  // candidates: the wall time read with the offsets in force a day before and after
  const offsets = new Set([zoneOffset(wall - 86_400_000, tz), zoneOffset(wall, tz), zoneOffset(wall + 86_400_000, tz)]);
  const valid = [...offsets].map((o) => wall - o).filter((t) => zoneOffset(t, tz) === wall - t);
  if (valid.length) return Math.min(...valid);
  // in a gap: use the offset before the change (01:30 GMT = 02:30 BST)
  return wall - zoneOffset(wall - 86_400_000, tz);
}

function weekday(y: number, m: number, d: number): Day {
  return DAYS[new Date(Date.UTC(y, m - 1, d)).getUTCDay()];
}

/** The first instant strictly after `after` at which local time in tz is `hhmm` on one of `days`. */
export function nextOccurrence(hhmm: string, tz: string, days: readonly string[], after: number): number | null {
  const [hh, mm] = hhmm.split(':').map(Number);
  const start = localTime(after, tz);
  for (let k = -1; k <= 8; k++) {
    const date = new Date(Date.UTC(start.y, start.m - 1, start.d + k));
    const [y, m, d] = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
    if (!days.includes(weekday(y, m, d))) continue;
    const t = zonedTimeToUtc(y, m, d, hh, mm, tz);
    if (t > after) return t;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Planning

export interface ScheduleTarget {
  user: string;
  server: string;
  running: boolean;
  profile?: string;
  groups?: string[];
  /** Epoch ms of the last activity (for idle stop). */
  lastActivity?: number | null;
}

export interface ScheduleAction {
  action: 'stop' | 'start';
  user: string;
  server: string;
  schedule: string;
  reason: string;
}

export interface NextStop {
  at: number;
  schedule: string;
  kind: 'scheduled' | 'idle';
}

export interface ServerRef {
  user: string;
  server: string;
}

/** The key of a server in PlanMemory. */
export const serverKey = (t: ServerRef) => `${t.user}/${t.server}`;
const keyOf = serverKey;

export function matches(s: Schedule, t: ScheduleTarget): boolean {
  const { profiles, groups, users } = s.match;
  if (profiles.length && !(t.profile && profiles.includes(t.profile))) return false;
  if (groups.length && !(t.groups ?? []).some((g) => groups.includes(g))) return false;
  if (users.length && !users.includes(t.user)) return false;
  return true;
}

export interface PlanMemory {
  /** Servers a schedule stopped (by schedule name), for startWhich 'stopped-by-schedule'. */
  stoppedBy: Map<string, Set<string>>;
  /** Admin overrides: no scheduled/idle stop for this server until the given instant. */
  overrides: Map<string, number>;
}

/**
 * Where a runner keeps its memory so a hub restart does not forget it (the hub's SQLite database;
 * without a store — unit tests, createHub alone — memory lives only in the process).
 */
export interface PlanMemoryStore {
  load(): PlanMemory;
  setStopped(schedule: string, target: ServerRef, stopped: boolean): void;
  setOverride(target: ServerRef, until: number): void;
  dropExpiredOverrides(now: number): void;
  /** Drops the stopped-by marks of a schedule that is no longer configured. */
  forgetSchedule(schedule: string): void;
}

export function newMemory(): PlanMemory {
  return { stoppedBy: new Map(), overrides: new Map() };
}

/** What to do for the time window (from, to]: scheduled stops/starts that fall in it, and idle stops. */
export function plan(schedules: readonly Schedule[], targets: readonly ScheduleTarget[], from: number, to: number, memory: PlanMemory = newMemory()): ScheduleAction[] {
  const out: ScheduleAction[] = [];
  const stopping = new Set<string>();
  const starting = new Set<string>();
  for (const s of schedules) {
    const stopDue = s.stopAt ? (nextOccurrence(s.stopAt, s.timezone, s.days, from) ?? Infinity) <= to : false;
    const startDue = s.startAt ? (nextOccurrence(s.startAt, s.timezone, s.days, from) ?? Infinity) <= to : false;
    for (const t of targets) {
      if (!matches(s, t)) continue;
      const k = keyOf(t);
      const overridden = (memory.overrides.get(k) ?? -Infinity) > to;
      if (t.running && !overridden && !stopping.has(k)) {
        if (stopDue) {
          out.push({ action: 'stop', user: t.user, server: t.server, schedule: s.name, reason: `scheduled stop at ${s.stopAt} ${s.timezone}` });
          stopping.add(k);
          continue;
        }
        if (s.idleStopMinutes && t.lastActivity != null && to - t.lastActivity >= s.idleStopMinutes * 60_000) {
          out.push({ action: 'stop', user: t.user, server: t.server, schedule: s.name, reason: `idle for more than ${s.idleStopMinutes} minutes` });
          stopping.add(k);
          continue;
        }
      }
      if (!t.running && startDue && !starting.has(k)) {
        const wanted = s.startWhich === 'all' || (memory.stoppedBy.get(s.name)?.has(k) ?? false);
        if (wanted) {
          out.push({ action: 'start', user: t.user, server: t.server, schedule: s.name, reason: `scheduled start at ${s.startAt} ${s.timezone}` });
          starting.add(k);
        }
      }
    }
  }
  return out;
}

/** When this server will next be stopped by a schedule or for idleness (for a UI warning). */
export function nextStop(schedules: readonly Schedule[], t: ScheduleTarget, now: number, memory?: PlanMemory): NextStop | null {
  let best: NextStop | null = null;
  const after = Math.max(now, memory?.overrides.get(keyOf(t)) ?? -Infinity);
  for (const s of schedules) {
    if (!matches(s, t)) continue;
    if (s.stopAt) {
      const at = nextOccurrence(s.stopAt, s.timezone, s.days, after);
      if (at !== null && (!best || at < best.at)) best = { at, schedule: s.name, kind: 'scheduled' };
    }
    if (s.idleStopMinutes && t.lastActivity != null) {
      const at = Math.max(after, t.lastActivity + s.idleStopMinutes * 60_000);
      if (!best || at < best.at) best = { at, schedule: s.name, kind: 'idle' };
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Runner

export interface ScheduleRunnerDeps {
  schedules: readonly Schedule[];
  clock: { now(): number };
  /** All servers the schedules may act on (running and stopped ones, for auto-start). */
  list(): Promise<ScheduleTarget[]> | ScheduleTarget[];
  stop(target: { user: string; server: string }, reason: string): Promise<unknown>;
  start?(target: { user: string; server: string }, reason: string): Promise<unknown>;
  log?: { info(obj: unknown, msg?: string): void; warn(obj: unknown, msg?: string): void };
  /** How far back the first tick looks (so a stop at 18:00 is not missed by a hub started at 18:00:20). */
  catchUpMs?: number;
  /** Keeps stopped-by-schedule marks and overrides across restarts. */
  store?: PlanMemoryStore;
}

export class ScheduleRunner {
  readonly memory: PlanMemory;
  private lastTick: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<ScheduleAction[]> | null = null;

  constructor(private readonly d: ScheduleRunnerDeps) {
    this.memory = d.store?.load() ?? newMemory();
    // marks of a schedule that was renamed or removed from the configuration would never be used again
    const names = new Set(d.schedules.map((s) => s.name));
    for (const name of [...this.memory.stoppedBy.keys()]) if (!names.has(name)) {
      this.memory.stoppedBy.delete(name);
      d.store?.forgetSchedule(name);
    }
  }

  /** Runs what is due since the previous tick; returns the actions taken. */
  async tick(): Promise<ScheduleAction[]> {
    if (this.running) return this.running;
    this.running = this.doTick().finally(() => (this.running = null));
    return this.running;
  }

  private async doTick(): Promise<ScheduleAction[]> {
    const now = this.d.clock.now();
    const from = this.lastTick ?? now - (this.d.catchUpMs ?? 120_000);
    this.lastTick = now;
    for (const [k, until] of this.memory.overrides) if (until <= now) this.memory.overrides.delete(k);
    this.d.store?.dropExpiredOverrides(now);
    const actions = plan(this.d.schedules, await this.d.list(), from, now, this.memory);
    for (const a of actions) {
      try {
        if (a.action === 'stop') {
          await this.d.stop(a, a.reason);
          if (!this.memory.stoppedBy.has(a.schedule)) this.memory.stoppedBy.set(a.schedule, new Set());
          this.memory.stoppedBy.get(a.schedule)!.add(keyOf(a));
          this.d.store?.setStopped(a.schedule, a, true);
        } else if (this.d.start) {
          await this.d.start(a, a.reason);
          this.memory.stoppedBy.get(a.schedule)?.delete(keyOf(a));
          this.d.store?.setStopped(a.schedule, a, false);
        }
        this.d.log?.info({ ...a }, `schedule: ${a.action}`);
      } catch (err) {
        this.d.log?.warn({ ...a, err: String(err) }, `schedule: ${a.action} failed`);
      }
    }
    return actions;
  }

  nextStop(t: ScheduleTarget): NextStop | null {
    return nextStop(this.d.schedules, t, this.d.clock.now(), this.memory);
  }

  /** Admin override: keep this server running (no scheduled or idle stop) until `until`. */
  override(user: string, server: string, until: number): void {
    this.memory.overrides.set(keyOf({ user, server }), until);
    this.d.store?.setOverride({ user, server }, until);
  }

  startTimer(intervalMs = 30_000): void {
    if (this.timer || !this.d.schedules.length) return;
    const loop = () => {
      this.timer = setTimeout(() => {
        this.tick()
          .catch((err) => this.d.log?.warn({ err: String(err) }, 'schedule tick failed'))
          .finally(() => this.timer && loop());
      }, intervalMs);
      this.timer.unref();
    };
    loop();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
