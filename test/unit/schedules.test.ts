/** hub/schedules.ts with an injected clock: wall-clock stops in IANA zones across DST, auto-start, idle stop, overrides. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDb } from '../../hub/db/db.js';
import { ScheduleMemoryRepo } from '../../hub/db/schedule-memory.js';
import { UserRepo } from '../../hub/db/users.js';
import { nextOccurrence, nextStop, plan, ScheduleRunner, ScheduleSchema, SchedulesSchema, zonedTimeToUtc, type PlanMemoryStore, type ScheduleTarget } from '../../hub/schedules.js';

const Z = (iso: string) => Date.parse(iso);
const iso = (t: number) => new Date(t).toISOString();

class FakeClock {
  constructor(public t: number) {}
  now() {
    return this.t;
  }
}

/** A tiny world of servers the runner lists and stops, ticked every `stepMs` by a fake clock. */
function world(schedules: unknown[], servers: ScheduleTarget[], startIso: string, store?: PlanMemoryStore) {
  const clock = new FakeClock(Z(startIso));
  const stops: Array<{ user: string; at: string; reason: string }> = [];
  const starts: Array<{ user: string; at: string }> = [];
  const runner = new ScheduleRunner({
    schedules: SchedulesSchema.parse(schedules),
    clock,
    list: () => servers.map((s) => ({ ...s })),
    stop: async (t, reason) => {
      stops.push({ user: t.user, at: iso(clock.now()), reason });
      servers.find((s) => s.user === t.user && s.server === t.server)!.running = false;
    },
    start: async (t) => {
      starts.push({ user: t.user, at: iso(clock.now()) });
      servers.find((s) => s.user === t.user && s.server === t.server)!.running = true;
    },
    store,
  });
  const runUntil = async (endIso: string, stepMs = 30_000, each?: (now: number) => void) => {
    for (let i = 0; i < 100_000 && clock.t < Z(endIso); i++) {
      clock.t += stepMs;
      each?.(clock.t);
      await runner.tick();
    }
  };
  return { clock, stops, starts, runner, runUntil, servers };
}

const london18 = { name: 'evening', timezone: 'Europe/London', stopAt: '18:00', match: { profiles: ['course'] } };

describe('schedules: stop at 18:00 Europe/London', () => {
  it('stops every running server of the profile at 18:00 local, including one started at 17:59, and nothing else', async () => {
    const servers: ScheduleTarget[] = [
      { user: 'ann', server: '', running: true, profile: 'course' },
      { user: 'bob', server: '', running: false, profile: 'course' },
      { user: 'cat', server: '', running: true, profile: 'gpu' },
      { user: 'dan', server: '', running: false, profile: 'course' },
    ];
    // 2026-06-15 is in BST: 18:00 London = 17:00Z
    const w = world([london18], servers, '2026-06-15T16:50:00Z');
    await w.runUntil('2026-06-15T17:20:00Z', 30_000, (now) => {
      if (now === Z('2026-06-15T16:59:00Z')) servers[1].running = true; // bob starts at 17:59 local
    });
    expect(w.stops.map((s) => s.user).sort()).toEqual(['ann', 'bob']);
    for (const s of w.stops) {
      expect(Z(s.at)).toBeGreaterThanOrEqual(Z('2026-06-15T17:00:00Z'));
      expect(Z(s.at)).toBeLessThanOrEqual(Z('2026-06-15T17:00:30Z'));
      expect(s.reason).toBe('scheduled stop at 18:00 Europe/London');
    }
    expect(servers.find((s) => s.user === 'cat')!.running).toBe(true);
    // a server started after 18:00 is left alone until the next day's 18:00
    servers[3].running = true;
    await w.runUntil('2026-06-15T20:00:00Z', 60_000);
    expect(w.stops).toHaveLength(2);
    await w.runUntil('2026-06-16T17:01:00Z', 60_000);
    expect(w.stops.map((s) => s.user)).toEqual(['ann', 'bob', 'dan']);
    expect(w.stops[2].at).toBe('2026-06-16T17:00:00.000Z');
  });

  it('DST spring forward (29 March 2026): 18:00 local is 17:00Z that day', async () => {
    const servers: ScheduleTarget[] = [{ user: 'ann', server: '', running: true, profile: 'course' }];
    const w = world([london18], servers, '2026-03-28T17:30:00Z'); // Saturday before the change, GMT
    await w.runUntil('2026-03-28T18:30:00Z', 60_000);
    expect(w.stops.map((s) => s.at)).toEqual(['2026-03-28T18:00:00.000Z']);
    servers[0].running = true;
    await w.runUntil('2026-03-29T18:30:00Z', 60_000);
    expect(w.stops.map((s) => s.at)).toEqual(['2026-03-28T18:00:00.000Z', '2026-03-29T17:00:00.000Z']);
  });

  it('DST fall back (25 October 2026): 18:00 local is 18:00Z that day', async () => {
    const servers: ScheduleTarget[] = [{ user: 'ann', server: '', running: true, profile: 'course' }];
    const w = world([london18], servers, '2026-10-24T16:30:00Z'); // BST
    await w.runUntil('2026-10-24T18:30:00Z', 60_000);
    expect(w.stops.map((s) => s.at)).toEqual(['2026-10-24T17:00:00.000Z']);
    servers[0].running = true;
    await w.runUntil('2026-10-25T18:30:00Z', 60_000);
    expect(w.stops.map((s) => s.at)).toEqual(['2026-10-24T17:00:00.000Z', '2026-10-25T18:00:00.000Z']);
  });

  it('times inside the DST gap or overlap fire exactly once', () => {
    // London: 01:30 does not exist on 29 March (fires at 02:30 BST = 01:30Z); it happens twice on 25 October (first one)
    expect(iso(zonedTimeToUtc(2026, 3, 29, 1, 30, 'Europe/London'))).toBe('2026-03-29T01:30:00.000Z');
    expect(iso(zonedTimeToUtc(2026, 10, 25, 1, 30, 'Europe/London'))).toBe('2026-10-25T00:30:00.000Z');
    const all = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
    const first = nextOccurrence('01:30', 'Europe/London', all, Z('2026-10-24T23:00:00Z'))!;
    expect(iso(first)).toBe('2026-10-25T00:30:00.000Z');
    expect(iso(nextOccurrence('01:30', 'Europe/London', all, first)!)).toBe('2026-10-26T01:30:00.000Z');
    // New York changes on other dates (8 March / 1 November 2026)
    expect(iso(nextOccurrence('18:00', 'America/New_York', all, Z('2026-03-08T12:00:00Z'))!)).toBe('2026-03-08T22:00:00.000Z');
    expect(iso(nextOccurrence('18:00', 'America/New_York', all, Z('2026-03-07T12:00:00Z'))!)).toBe('2026-03-07T23:00:00.000Z');
    expect(iso(nextOccurrence('18:00', 'America/New_York', all, Z('2026-11-01T12:00:00Z'))!)).toBe('2026-11-01T23:00:00.000Z');
  });

  it('respects days: a weekday schedule does not stop on Saturday', () => {
    const [s] = SchedulesSchema.parse([{ ...london18, days: ['mon', 'tue', 'wed', 'thu', 'fri'] }]);
    const t = { user: 'ann', server: '', running: true, profile: 'course' };
    expect(plan([s], [t], Z('2026-06-13T16:00:00Z'), Z('2026-06-13T18:00:00Z'))).toEqual([]); // Saturday
    expect(plan([s], [t], Z('2026-06-12T16:00:00Z'), Z('2026-06-12T18:00:00Z'))).toHaveLength(1); // Friday
    expect(iso(nextStop([s], t, Z('2026-06-12T18:00:00Z'))!.at)).toBe('2026-06-15T17:00:00.000Z'); // next Monday
  });
});

describe('schedules: auto-start, idle stop, groups, overrides, next stop', () => {
  it('auto-starts before class only the servers the evening stop stopped', async () => {
    const servers: ScheduleTarget[] = [
      { user: 'ann', server: '', running: true, groups: ['bioinf'] },
      { user: 'bob', server: '', running: false, groups: ['bioinf'] },
      { user: 'eve', server: '', running: true, groups: ['staff'] },
    ];
    const w = world([{ name: 'course', timezone: 'Europe/London', stopAt: '18:00', startAt: '08:30', match: { groups: ['bioinf'] } }], servers, '2026-06-15T16:55:00Z');
    await w.runUntil('2026-06-16T08:00:00Z', 60_000);
    expect(w.stops.map((s) => s.user)).toEqual(['ann']);
    expect(w.starts.map((s) => s.user)).toEqual(['ann']);
    expect(w.starts[0].at).toBe('2026-06-16T07:30:00.000Z'); // 08:30 BST
    expect(servers.map((s) => s.running)).toEqual([true, false, true]);
  });

  it('idle stop after N minutes without activity; next stop reports the earlier of idle and schedule', () => {
    const [s] = SchedulesSchema.parse([{ name: 'idle', timezone: 'Europe/London', stopAt: '18:00', idleStopMinutes: 30 }]);
    const busy = { user: 'ann', server: '', running: true, lastActivity: Z('2026-06-15T09:50:00Z') };
    const idle = { user: 'bob', server: '', running: true, lastActivity: Z('2026-06-15T09:20:00Z') };
    const acts = plan([s], [busy, idle], Z('2026-06-15T09:59:30Z'), Z('2026-06-15T10:00:00Z'));
    expect(acts).toEqual([{ action: 'stop', user: 'bob', server: '', schedule: 'idle', reason: 'idle for more than 30 minutes' }]);
    expect(nextStop([s], busy, Z('2026-06-15T10:00:00Z'))).toEqual({ at: Z('2026-06-15T10:20:00Z'), schedule: 'idle', kind: 'idle' });
    expect(nextStop([s], { ...busy, lastActivity: null }, Z('2026-06-15T10:00:00Z'))).toEqual({ at: Z('2026-06-15T17:00:00Z'), schedule: 'idle', kind: 'scheduled' });
  });

  it('an admin override keeps a server running past the scheduled stop, until it expires', async () => {
    const servers: ScheduleTarget[] = [{ user: 'ann', server: '', running: true, profile: 'course' }];
    const w = world([london18], servers, '2026-06-15T16:00:00Z');
    w.runner.override('ann', '', Z('2026-06-15T19:00:00Z'));
    expect(iso(w.runner.nextStop(servers[0])!.at)).toBe('2026-06-16T17:00:00.000Z');
    await w.runUntil('2026-06-15T20:00:00Z', 60_000);
    expect(w.stops).toEqual([]);
    await w.runUntil('2026-06-16T17:05:00Z', 60_000);
    expect(w.stops.map((s) => s.at)).toEqual(['2026-06-16T17:00:00.000Z']);
  });

  it('validates the configuration', () => {
    expect(ScheduleSchema.safeParse({ name: 'x', timezone: 'Europe/Londn', stopAt: '18:00' }).success).toBe(false);
    expect(ScheduleSchema.safeParse({ name: 'x', timezone: 'Europe/London', stopAt: '6pm' }).success).toBe(false);
    expect(ScheduleSchema.safeParse({ name: 'x', timezone: 'Europe/London', stopAt: '18:00', match: { profile: ['a'] } }).success).toBe(false);
    expect(ScheduleSchema.parse({ name: 'x', stopAt: '18:00' })).toMatchObject({ timezone: 'UTC', days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], match: { profiles: [], groups: [], users: [] } });
  });
});

describe('schedules: memory survives a hub restart (SQLite store)', () => {
  /** A database file with the users, reopened for each "hub process". */
  function database() {
    const dir = mkdtempSync(join(tmpdir(), 'labhub-sched-'));
    const file = join(dir, 'labhub.sqlite');
    const db = openDb(file);
    for (const name of ['ann', 'bob']) new UserRepo(db).create(name, { now: new Date(0).toISOString() });
    db.close();
    return { open: () => openDb(file), remove: () => rmSync(dir, { recursive: true, force: true }) };
  }
  const course = { name: 'course', timezone: 'Europe/London', stopAt: '18:00', startAt: '08:30' };

  it('a hub restarted overnight still starts in the morning only the servers the evening stop stopped', async () => {
    const data = database();
    const servers: ScheduleTarget[] = [
      { user: 'ann', server: '', running: true },
      { user: 'bob', server: 'gpu', running: false },
    ];
    let db = data.open();
    const evening = world([course], servers, '2026-06-15T16:55:00Z', new ScheduleMemoryRepo(db));
    await evening.runUntil('2026-06-15T20:00:00Z', 60_000);
    expect(evening.stops.map((s) => s.user)).toEqual(['ann']);
    db.close(); // the hub process ends

    db = data.open();
    const morning = world([course], servers, '2026-06-16T06:00:00Z', new ScheduleMemoryRepo(db));
    expect([...morning.runner.memory.stoppedBy.get('course')!]).toEqual(['ann/']);
    await morning.runUntil('2026-06-16T08:00:00Z', 60_000);
    expect(morning.starts).toEqual([{ user: 'ann', at: '2026-06-16T07:30:00.000Z' }]);
    // started again: the mark is gone from the database too
    expect(new ScheduleMemoryRepo(db).load().stoppedBy.get('course')?.size ?? 0).toBe(0);
    // a schedule removed from the configuration: its marks are dropped when the next hub starts
    new ScheduleMemoryRepo(db).setStopped('old-course', { user: 'bob', server: 'gpu' }, true);
    world([course], servers, '2026-06-16T09:00:00Z', new ScheduleMemoryRepo(db));
    expect([...new ScheduleMemoryRepo(db).load().stoppedBy.keys()]).toEqual([]);
    db.close();
    data.remove();
  });

  it("an admin override outlives a restart, expires on time, and goes with its user", async () => {
    const data = database();
    const servers: ScheduleTarget[] = [{ user: 'ann', server: '', running: true }];
    let db = data.open();
    const before = world([course], servers, '2026-06-15T16:00:00Z', new ScheduleMemoryRepo(db));
    before.runner.override('ann', '', Z('2026-06-15T19:00:00Z'));
    before.runner.override('bob', '', Z('2026-06-20T19:00:00Z'));
    db.close();

    db = data.open();
    const after = world([course], servers, '2026-06-15T16:30:00Z', new ScheduleMemoryRepo(db));
    expect(iso(after.runner.nextStop(servers[0])!.at)).toBe('2026-06-16T17:00:00.000Z');
    await after.runUntil('2026-06-15T20:00:00Z', 60_000);
    expect(after.stops).toEqual([]); // 18:00 BST passed under the override
    expect(new ScheduleMemoryRepo(db).load().overrides.has('ann/')).toBe(false); // expired at 19:00, dropped
    new UserRepo(db).delete(new UserRepo(db).byName('bob')!.id);
    expect([...new ScheduleMemoryRepo(db).load().overrides.keys()]).toEqual([]);
    db.close();
    data.remove();
  });
});
