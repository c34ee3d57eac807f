/**
 * The batch jobs this hub submitted (orphan checks): every job carries `--comment=labhub:<hub id>:<user>:<server>`
 * (user and server URI-encoded), so `squeue` finds them whatever their name or owner. Listing needs an
 * account that sees all jobs: the hub's own when it runs on the cluster, or a fixed ssh account; with
 * per-user ssh accounts ({username} in ssh.user) there is none, and the listing says so.
 */
import { join } from 'node:path';
import { LocalRunner, slurmCommandEnv, slurmSshRunner, type CommandRunner } from './slurm-commands.js';
import type { SlurmSpawnerConfig } from './slurm-options.js';
import type { Workload, WorkloadInventory } from './spawner.js';

const LIVE = 'PENDING,CONFIGURING,RUNNING,SUSPENDED,COMPLETING';

export function jobComment(hubId: string, who: { user: string; serverName: string }): string {
  return `labhub:${hubId}:${encodeURIComponent(who.user)}:${encodeURIComponent(who.serverName)}`;
}

function parseComment(comment: string, hubId: string): { user: string; server: string } | null {
  const m = /^labhub:([^:]+):([^:]*):([^:]*)$/.exec(comment.trim());
  if (!m || m[1] !== hubId) return null;
  try {
    return { user: decodeURIComponent(m[2]), server: decodeURIComponent(m[3]) };
  } catch {
    return null;
  }
}

function runnerFor(options: SlurmSpawnerConfig): CommandRunner {
  const ssh = options.ssh;
  if (!ssh) return new LocalRunner([], slurmCommandEnv(options));
  if (ssh.user.includes('{username}') || ssh.keyFile.includes('{username}')) {
    throw new Error('listing the jobs of every user needs one account that sees them all; ssh.user/keyFile are per user ({username})');
  }
  return slurmSshRunner({ ...options, ssh }, '');
}

const bin = (options: SlurmSpawnerConfig, name: string) => (options.slurmBinDir ? join(options.slurmBinDir, name) : name);

export const slurmInventory: WorkloadInventory<SlurmSpawnerConfig> = {
  async list(ctx, options) {
    const runner = runnerFor(options);
    const r = await runner.run([bin(options, 'squeue'), '-h', '-a', '-t', LIVE, '-o', '%i|%T|%V|%k'], { timeoutMs: options.commandTimeoutSeconds * 1000 });
    if (r.code !== 0) throw new Error(`squeue failed: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
    const out: Workload[] = [];
    for (const line of r.stdout.split('\n')) {
      const [id, state, submitted, ...rest] = line.split('|');
      const who = id && rest.length ? parseComment(rest.join('|'), ctx.hubId) : null;
      if (!who) continue;
      const created = submitted && !Number.isNaN(Date.parse(submitted)) ? new Date(submitted).toISOString() : null;
      // a queued job will start and take its node: as much a cost as a running one
      out.push({ kind: 'slurm', id: id.trim(), user: who.user, server: who.server, state: state.trim(), running: true, where: runner.where, created });
    }
    return out;
  },
  async remove(_ctx, options, w) {
    const r = await runnerFor(options).run([bin(options, 'scancel'), w.id], { timeoutMs: options.commandTimeoutSeconds * 1000 });
    if (r.code !== 0) throw new Error(`scancel ${w.id} failed: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
  },
  placeKey: (options) => `slurm ${options.ssh ? `${options.ssh.user}@${options.ssh.host}:${options.ssh.port}` : 'local'} ${options.commandEnv.SLURM_CONF ?? ''}`,
  idInState: (state) => (typeof state.jobId === 'string' ? state.jobId : undefined),
};
