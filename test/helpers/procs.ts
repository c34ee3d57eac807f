/** Finding processes in /proc (leak and duplicate checks of the ops tests). */
import { readdirSync, readFileSync } from 'node:fs';

/** Processes of the fake server for `user` under this data dir, from /proc (pid → env). */
export function fakeServerProcs(user: string, dataDir: string): Array<{ pid: number; env: Record<string, string> }> {
  const out: Array<{ pid: number; env: Record<string, string> }> = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (!cmd.includes('fake-singleuser')) continue;
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue; // zombie: already dead
      const env = Object.fromEntries(
        readFileSync(`/proc/${d}/environ`, 'utf8')
          .split('\0')
          .filter(Boolean)
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      if (env.JUPYTERHUB_USER === user && (env.HOME ?? '').startsWith(dataDir)) out.push({ pid: Number(d), env });
    } catch {
      /* process gone */
    }
  }
  return out;
}

