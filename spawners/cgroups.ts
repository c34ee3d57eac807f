/**
 * CPU and memory limits for plain processes (local spawner) with Linux cgroups, v1 or v2, found
 * through /proc/self/mountinfo. Each server gets its own group, labhub/<hub id>/<name>, under the
 * memory and cpu controllers; the server joins it before it execs (a shell writes its own pid into
 * cgroup.procs, then execs the command), so nothing it starts escapes the limits. Needs root.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface CgroupLimits {
  memBytes?: number;
  cpus?: number;
}

export interface Layout {
  version: 1 | 2;
  /** v2: the unified mount; v1: the memory and cpu hierarchies' mount points. */
  memoryRoot: string;
  cpuRoot: string;
}

const CPU_PERIOD_US = 100_000;

function mounts(): Array<{ point: string; fstype: string; superOptions: string[] }> {
  const out: Array<{ point: string; fstype: string; superOptions: string[] }> = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const point = line.slice(0, sep).split(' ')[4];
    const [fstype, , superOpts] = line.slice(sep + 3).split(' ');
    out.push({ point: point.replace(/\\040/g, ' '), fstype, superOptions: (superOpts ?? '').split(',') });
  }
  return out;
}

/** Where the memory and cpu controllers are, or why they cannot be used. */
export function cgroupLayout(): Layout | string {
  if (process.getuid?.() !== 0) return 'cgroup limits need the hub to run as root';
  let all;
  try {
    all = mounts();
  } catch (err) {
    return `cannot read /proc/self/mountinfo: ${(err as Error).message}`;
  }
  const v1 = (controller: string) => all.find((m) => m.fstype === 'cgroup' && m.superOptions.includes(controller))?.point;
  const mem1 = v1('memory');
  const cpu1 = v1('cpu');
  if (mem1 && cpu1) return { version: 1, memoryRoot: mem1, cpuRoot: cpu1 };
  for (const m of all.filter((x) => x.fstype === 'cgroup2')) {
    let controllers: string[] = [];
    try {
      controllers = readFileSync(join(m.point, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
    } catch {
      continue;
    }
    if (controllers.includes('memory') && controllers.includes('cpu')) return { version: 2, memoryRoot: m.point, cpuRoot: m.point };
  }
  return 'no cgroup hierarchy with the memory and cpu controllers is mounted';
}

/** The group's directories (one per hierarchy; the same one twice on v2, listed once). */
export type CgroupDirs = string[];

/** Creates the group for `name` with the limits; throws with the reason when that is not possible. */
export function createCgroup(hubId: string, name: string, limits: CgroupLimits, layout: Layout | string = cgroupLayout()): CgroupDirs {
  if (typeof layout === 'string') throw new Error(layout);
  const rel = ['labhub', hubId, name];
  const write = (file: string, value: string) => writeFileSync(file, value);
  if (layout.version === 2) {
    // each level must hand the controllers down to the next (the root may already do so)
    let dir = layout.memoryRoot;
    for (const part of rel) {
      const ctl = join(dir, 'cgroup.subtree_control');
      const enabled = readFileSync(ctl, 'utf8').split(/\s+/);
      if (!enabled.includes('memory') || !enabled.includes('cpu')) write(ctl, '+memory +cpu');
      dir = join(dir, part);
      mkdirSync(dir, { recursive: true });
    }
    if (limits.memBytes) {
      write(join(dir, 'memory.max'), String(Math.floor(limits.memBytes)));
      // the limit is a limit: no swapping past it (the file exists when the kernel accounts swap)
      if (existsSync(join(dir, 'memory.swap.max'))) write(join(dir, 'memory.swap.max'), '0');
    }
    if (limits.cpus) write(join(dir, 'cpu.max'), `${Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US))} ${CPU_PERIOD_US}`);
    return [dir];
  }
  const memDir = join(layout.memoryRoot, ...rel);
  const cpuDir = join(layout.cpuRoot, ...rel);
  mkdirSync(memDir, { recursive: true });
  mkdirSync(cpuDir, { recursive: true });
  if (limits.memBytes) {
    // memory + swap capped at the same value: no swapping past the limit (when the kernel accounts swap).
    // The kernel wants memsw >= memory at every step, so lift memsw first (a group left with other limits).
    const memsw = join(memDir, 'memory.memsw.limit_in_bytes');
    const swapAccounted = existsSync(memsw);
    if (swapAccounted) write(memsw, '-1');
    write(join(memDir, 'memory.limit_in_bytes'), String(Math.floor(limits.memBytes)));
    if (swapAccounted) write(memsw, String(Math.floor(limits.memBytes)));
  }
  write(join(cpuDir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
  write(join(cpuDir, 'cpu.cfs_quota_us'), limits.cpus ? String(Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US))) : '-1');
  return memDir === cpuDir ? [memDir] : [memDir, cpuDir];
}

/** argv that joins the group and then execs `argv` (same pid: the server itself is in the group). */
export function joinThenExec(dirs: CgroupDirs, argv: string[]): string[] {
  const joins = dirs.map((_, i) => `echo $$ > "$${i + 1}/cgroup.procs"`).join(' && ');
  return ['/bin/sh', '-c', `${joins} && shift ${dirs.length} && exec "$@"`, 'labhub-cgroup', ...dirs, ...argv];
}

function members(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Ends whatever is still in the group (a terminal's shell, something the server left behind: the
 * server is stopped, so its group is, as systemd stops a unit's cgroup) and removes it. Returns a
 * message when the group could not be removed.
 */
export async function removeCgroup(dirs: CgroupDirs): Promise<string | null> {
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (let i = 0; i < 40 && members(dir).length; i++) {
      for (const pid of members(dir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone already */
        }
      }
      await sleep(50);
    }
    try {
      rmdirSync(dir);
    } catch (err) {
      return `${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
    try {
      rmdirSync(dirname(dir)); // the hub's level, once its last server is gone (fails while others remain)
    } catch {
      /* still in use */
    }
  }
  return null;
}

export function limitsText(l: CgroupLimits): string {
  return [l.cpus ? `${l.cpus} CPU${l.cpus === 1 ? '' : 's'}` : '', l.memBytes ? `${Math.round(l.memBytes / 1024 ** 2)} MiB memory` : ''].filter(Boolean).join(', ');
}
