/**
 * Stopping process-based servers (local, Apptainer) and reading their output: shared so every
 * spawner stops the same way (SIGTERM to the group, a grace period, then SIGKILL) and shows the same
 * log tail on error pages.
 */
import { readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from './process-info.js';

/** Signals the whole process group (the server and anything it started), else the process. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** SIGTERM, wait up to graceMs, then SIGKILL; resolves once the process is gone (or after ~1 s more). */
export async function terminateGroup(pid: number, startTime: number | null, graceMs: number): Promise<void> {
  if (!isAlive(pid, startTime)) return;
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && isAlive(pid, startTime)) await sleep(50);
  if (isAlive(pid, startTime)) signalGroup(pid, 'SIGKILL');
  for (let i = 0; i < 40 && isAlive(pid, startTime); i++) await sleep(25);
}

/** The last non-empty lines of a log file (from its last 4 kB); [] when unreadable. */
export function tailLog(file: string, lines = 20): string[] | undefined {
  try {
    const size = statSync(file).size;
    return readFileSync(file, 'utf8').slice(Math.max(0, size - 4096)).split('\n').filter((l) => l.trim()).slice(-lines);
  } catch {
    return undefined;
  }
}
