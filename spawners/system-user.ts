/**
 * Who runs a workload (apptainer, Slurm): the system account named like the hub user, or the hub's own
 * user. Switching user needs root; `runuser -u NAME --` (util-linux) is used, so no sudoers entry is needed.
 */
import { execFileSync } from 'node:child_process';

export interface SystemUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The passwd entry of a system user, or null (getent, so NSS/LDAP accounts count). */
export function lookupSystemUser(name: string): SystemUser | null {
  if (!/^[A-Za-z0-9._][A-Za-z0-9._-]*$/.test(name)) return null;
  try {
    const line = execFileSync('getent', ['passwd', name], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0];
    const f = line.split(':');
    if (f.length < 7) return null;
    return { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
  } catch {
    return null;
  }
}

export type RunAs = 'auto' | 'hub' | 'user';

/**
 * Resolves runAs to a concrete account: a SystemUser to switch to, or null = run as the hub's user.
 * Throws when 'user' was asked for but is impossible (hub not root, or no such account).
 */
export function resolveRunAs(mode: RunAs, username: string, isRoot: boolean): SystemUser | null {
  if (mode === 'hub') return null;
  const su = lookupSystemUser(username);
  if (mode === 'auto') return isRoot && su && su.uid !== 0 ? su : null;
  if (!isRoot) throw new Error(`runAs 'user' needs the hub to run as root (it runs as uid ${process.getuid?.()})`);
  if (!su) throw new Error(`runAs 'user': there is no system account '${username}'`);
  return su;
}

/** Prefix for running argv as another user: ['runuser', '-u', name, '--'] or []. */
export function runAsPrefix(su: SystemUser | null): string[] {
  return su ? ['runuser', '-u', su.name, '--'] : [];
}
