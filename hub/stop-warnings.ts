/**
 * When will this server be stopped, and why: the earliest of the wall-clock schedules (idle or
 * scheduled stop, with admin overrides), the culler (idle timeout, maximum age) and the batch job's
 * time limit (Slurm's end time, saved in the server's state). Shown on the user's home page and in
 * the admin schedules view.
 */
import type { HubDeps } from './deps.js';
import { nextCull } from './culler.js';
import type { ServerRow } from './db/servers.js';
import type { UserRow } from './db/users.js';

export interface StopWarning {
  at: number;
  /** ISO time of the stop. */
  iso: string;
  kind: 'scheduled' | 'idle' | 'max-age' | 'time-limit';
  /** Schedule name, 'culler', or 'slurm'. */
  source: string;
  message: string;
}

/**
 * The end of the server's batch job, from squeue's end time in the saved state. Slurm prints it
 * without a zone, in the controller's local time; the hub runs on (or next to) the cluster, so it is
 * read in the hub's local time.
 */
function jobEnd(row: ServerRow): number | null {
  try {
    const end = (JSON.parse(row.state || '{}') as { endTime?: unknown }).endTime;
    if (typeof end !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(end)) return null; // also skips Unknown / N/A
    const at = new Date(end).getTime();
    return Number.isFinite(at) ? at : null;
  } catch {
    return null;
  }
}

function profileOf(row: ServerRow): string | undefined {
  try {
    const p = (JSON.parse(row.user_options || '{}') as { profile?: unknown }).profile;
    return typeof p === 'string' ? p : undefined;
  } catch {
    return undefined;
  }
}

export function nextStopFor(d: Pick<HubDeps, 'config' | 'users' | 'clock' | 'schedules'>, user: UserRow, row: ServerRow): StopWarning | null {
  const groups = d.users.groupNames(user.id);
  const profile = profileOf(row);
  const lastActivity = row.last_activity ? Date.parse(row.last_activity) : null;
  const started = row.started ? Date.parse(row.started) : null;
  const candidates: StopWarning[] = [];
  const sched = d.schedules?.nextStop({ user: user.name, server: row.name, running: true, profile, groups, lastActivity });
  if (sched) candidates.push({ at: sched.at, iso: new Date(sched.at).toISOString(), kind: sched.kind, source: sched.schedule, message: '' });
  const override = d.schedules?.memory.overrides.get(`${user.name}/${row.name}`);
  const cull = nextCull(d.config.culling, { user: user.name, server: row.name, profile, groups, started, lastActivity });
  if (cull) {
    const at = Math.max(cull.at, override ?? -Infinity);
    candidates.push({ at, iso: new Date(at).toISOString(), kind: cull.kind, source: 'culler', message: '' });
  }
  const end = jobEnd(row);
  if (end !== null) candidates.push({ at: end, iso: new Date(end).toISOString(), kind: 'time-limit', source: 'slurm', message: '' });
  if (!candidates.length) return null;
  const best = candidates.sort((a, b) => a.at - b.at)[0];
  const when = `${best.iso.slice(0, 16).replace('T', ' ')} UTC`;
  best.message =
    best.kind === 'scheduled'
      ? `This server will be stopped at ${when} (schedule “${best.source}”). Save your work before then.`
      : best.kind === 'idle'
        ? `This server will be stopped at ${when} if it stays idle.`
        : best.kind === 'time-limit'
          ? `This server's batch job reaches its time limit at ${when} and will be stopped then. Save your work before then.`
          : `This server will be stopped at ${when}: it reaches its maximum running time.`;
  return best;
}
