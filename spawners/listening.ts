/**
 * Which process listens on a TCP port, from /proc: used so that a user can share only ports that
 * their own server (or something it started) listens on — on a shared host every server is on
 * 127.0.0.1, and another user's port must never become reachable through a share.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface TcpSocket {
  localPort: number;
  remotePort: number;
  /** Kernel state in hex, e.g. '0A' = LISTEN, '01' = ESTABLISHED. */
  state: string;
  inode: string;
}

/** Every TCP socket of this network namespace (IPv4 and IPv6), from /proc/net/tcp{,6}. */
export function tcpSockets(): TcpSocket[] {
  const out: TcpSocket[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      out.push({ localPort: parseInt(f[1].split(':')[1], 16), remotePort: parseInt(f[2].split(':')[1], 16), state: f[3], inode: f[9] });
    }
  }
  return out;
}

/** Socket inodes listening on `port` (IPv4 and IPv6, any address). */
export function listeningInodes(port: number): Set<string> {
  return new Set(tcpSockets().filter((s) => s.state === '0A' && s.localPort === port).map((s) => s.inode));
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** True when a process descending from one of `roots` holds a listening socket on `port`. */
export function portOwnedBy(port: number, roots: ReadonlySet<number>): boolean {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return false;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    let holds = false;
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (link.startsWith('socket:[') && inodes.has(link.slice(8, -1))) {
          holds = true;
          break;
        }
      }
    } catch {
      continue; // gone, or not ours to read
    }
    if (!holds) continue;
    for (let p: number | null = pid, hops = 0; p && p > 1 && hops < 64; p = parentOf(p), hops++) if (roots.has(p)) return true;
  }
  return false;
}
