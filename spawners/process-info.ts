/**
 * Facts about a process from /proc, so a pid saved before a hub restart is only trusted when it
 * still names the same process (the kernel reuses pids).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or null. */
export function processStartTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: split after the last ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = rest[0];
    if (state === 'Z' || state === 'X') return null; // zombie or dead: not running
    return Number(rest[19]);
  } catch {
    return null;
  }
}

/** Live processes whose environment holds `NAME=value` (a marker set at spawn), from /proc. */
export function processesWithEnv(name: string, value: string): number[] {
  const needle = Buffer.from(`\0${name}=${value}\0`);
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const env = Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${d}/environ`), Buffer.from([0])]);
      if (env.includes(needle) && processStartTime(Number(d)) !== null) out.push(Number(d));
    } catch {
      /* gone, or not ours */
    }
  }
  return out;
}

export function isAlive(pid: number, startTime?: number | null): boolean {
  const actual = processStartTime(pid);
  if (actual === null) return false;
  return startTime === undefined || startTime === null || actual === startTime;
}
