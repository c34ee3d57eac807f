/** hub/stop-warnings.ts: a batch job's end time (Slurm, in the saved state) is a stop like a schedule's, and the earliest wins. */
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../config/schema.js';
import type { ServerRow } from '../../hub/db/servers.js';
import type { UserRow } from '../../hub/db/users.js';
import { nextStopFor } from '../../hub/stop-warnings.js';

const user = { id: 1, name: 'ann' } as UserRow;
const row = (state: Record<string, unknown>, extra: Partial<ServerRow> = {}) =>
  ({ id: 1, user_id: 1, name: '', state: JSON.stringify(state), user_options: '{}', started: '2026-11-22T10:00:00.000Z', last_activity: '2026-11-22T10:00:00.000Z', ...extra }) as ServerRow;
const deps = (culling: Record<string, unknown> = {}) => ({
  config: ConfigSchema.parse({ culling }),
  users: { groupNames: () => [] as string[] } as never,
  clock: { now: () => Date.parse('2026-11-22T10:30:00Z') },
  schedules: undefined,
});

/** What squeue prints: local time without a zone. */
const localStamp = (ms: number) => {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
};

describe('stop warnings', () => {
  it("a Slurm job's end time (squeue %e, the hub's local time) is announced", () => {
    const end = '2026-11-22T18:00:05';
    const w = nextStopFor(deps(), user, row({ jobId: '42', endTime: end }))!;
    expect(w).toMatchObject({ kind: 'time-limit', source: 'slurm', at: new Date(end).getTime(), iso: new Date(end).toISOString() });
    expect(w.message).toMatch(/^This server's batch job reaches its time limit at \d{4}-\d\d-\d\d \d\d:\d\d UTC and will be stopped then\./);
  });

  it('the earlier of the job end and the culler wins', () => {
    const culling = { idleTimeoutSeconds: 3600 };
    // idle since 10:00 → culled at 11:00, before the job's end at 18:00
    expect(nextStopFor(deps(culling), user, row({ endTime: '2026-11-22T18:00:00' }))).toMatchObject({ kind: 'idle', source: 'culler' });
    // a job ending at 10:45, before the idle timeout at 11:00
    const w = nextStopFor(deps(culling), user, row({ endTime: localStamp(Date.parse('2026-11-22T10:45:00Z')) }))!;
    expect(w).toMatchObject({ kind: 'time-limit', iso: '2026-11-22T10:45:00.000Z' });
  });

  it('no end time, Unknown or garbage: no job warning', () => {
    for (const state of [{}, { endTime: 'Unknown' }, { endTime: 'N/A' }, { endTime: 42 }]) expect(nextStopFor(deps(), user, row(state))).toBeNull();
    expect(nextStopFor(deps(), user, row({}, { state: 'not json' }))).toBeNull();
  });
});
