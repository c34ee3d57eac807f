/**
 * Local-process spawner: the embedded default. Runs the single-user command as a child process in
 * its own process group (so a hub restart, even kill -9, leaves it running), on a free port, with
 * its output appended to a per-server log file. State {pid, pgid, port, startTime} survives restarts.
 *
 * When the hub runs as root the server runs as root too, with `--allow-root` (see README).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LocalSpawnerConfig } from './local-options.js';
import { freePort } from './ports.js';
import { portOwnedBy } from './listening.js';
import { ptySession } from './pty.js';
import { isAlive, processesWithEnv, processStartTime } from './process-info.js';
import { signalGroup, tailLog, terminateGroup } from './process-group.js';
import { randomBytes } from 'node:crypto';
import type { PollResult, Spawner, SpawnerContext, SpawnerFactory, SpawnerState, SpawnRequest, StartResult, TerminalSession } from './spawner.js';
import { SpawnFailure } from './spawn-failure.js';
import { createCgroup, joinThenExec, limitsText, removeCgroup } from './cgroups.js';

interface LocalState {
  /** 0 until the process exists (state saved before the fork, see start()). */
  pid: number;
  /** Marker in the server's environment (LABHUB_SPAWN_ID): finds the process if the hub died mid-start. */
  spawnId?: string;
  port: number;
  startTime: number | null;
  ip: string;
  logFile: string;
  /** The server's cgroup directories when its profile has CPU/memory limits. */
  cgroup?: string[];
}

function parseState(state?: SpawnerState): LocalState | null {
  if (!state || typeof state.pid !== 'number' || typeof state.port !== 'number') return null;
  return {
    pid: state.pid,
    spawnId: typeof state.spawnId === 'string' ? state.spawnId : undefined,
    port: state.port,
    startTime: typeof state.startTime === 'number' ? state.startTime : null,
    ip: typeof state.ip === 'string' ? state.ip : '127.0.0.1',
    logFile: typeof state.logFile === 'string' ? state.logFile : '',
    cgroup: Array.isArray(state.cgroup) && state.cgroup.every((d) => typeof d === 'string' && d.startsWith('/sys/fs/cgroup/')) ? (state.cgroup as string[]) : undefined,
  };
}

export function safePathPart(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, (c) => `_${c.charCodeAt(0).toString(16)}`);
}

export class LocalProcessSpawner implements Spawner {
  readonly kind = 'local';
  private state: LocalState | null;
  /** Shells opened by terminal(): what they start belongs to this server too (shared ports). */
  private readonly terminalPids = new Set<number>();
  /** Exit code of a child this instance started (unknown for re-attached processes). */
  private exitCode: number | null = null;
  private exited: Promise<number | null> | null = null;

  constructor(
    private readonly ctx: SpawnerContext,
    private readonly opts: LocalSpawnerConfig,
    private readonly identity: { user: string; serverName: string },
    state?: SpawnerState,
    private readonly isRoot: boolean = process.getuid?.() === 0,
  ) {
    this.state = parseState(state);
  }

  private homeDir(): string {
    return this.opts.homeTemplate.replaceAll('{dataDir}', this.ctx.dataDir).replaceAll('{username}', safePathPart(this.identity.user));
  }

  private logFile(): string {
    const name = safePathPart(this.identity.user) + (this.identity.serverName ? `--${safePathPart(this.identity.serverName)}` : '');
    return join(this.ctx.dataDir, 'logs', `${name}.log`);
  }

  /** The cgroup for the profile's limits (cgroupLimits), or null when there are none to apply. */
  private limitGroup(req: SpawnRequest): string[] | null {
    const l = req.limits;
    if (this.opts.cgroupLimits === 'off' || !l || (!l.memBytes && !l.cpus)) return null;
    const name = safePathPart(this.identity.user) + (this.identity.serverName ? `--${safePathPart(this.identity.serverName)}` : '');
    try {
      return createCgroup(this.ctx.hubId, name, { memBytes: l.memBytes, cpus: l.cpus });
    } catch (err) {
      const why = (err as Error).message;
      if (this.opts.cgroupLimits === 'require') throw new SpawnFailure(`CPU/memory limits cannot be applied: ${why}`, 'config');
      this.ctx.log.warn({ user: req.user, server: req.serverName, limits: l, err: why }, 'server started without its CPU/memory limits (cgroups unavailable)');
      return null;
    }
  }

  async start(req: SpawnRequest): Promise<StartResult> {
    const home = this.homeDir();
    mkdirSync(home, { recursive: true, mode: 0o700 });
    mkdirSync(join(this.ctx.dataDir, 'logs'), { recursive: true, mode: 0o700 });
    const port = await freePort(this.opts.ip);
    const ip = this.opts.ip;
    const url = `http://${ip}:${port}`;
    const env: Record<string, string> = {};
    for (const k of this.opts.envKeep) if (process.env[k] !== undefined) env[k] = process.env[k]!;
    Object.assign(env, req.env, {
      JUPYTERHUB_SERVICE_URL: `${url}${req.servicePrefix}`,
      USER: req.user,
      HOME: home,
      SHELL: '/bin/bash',
    });
    Object.assign(env, this.opts.environment);
    const args = [...this.opts.cmd.slice(1), ...this.opts.args];
    if (this.isRoot && this.opts.allowRoot && !args.includes('--allow-root')) args.push('--allow-root');
    const logFile = this.logFile();
    // Saved before the fork: a hub killed between fork and the next save still finds the process
    // (by this marker in its environment) on restart and stops it, instead of orphaning it.
    const spawnId = randomBytes(12).toString('hex');
    env.LABHUB_SPAWN_ID = spawnId;
    const cgroup = this.limitGroup(req);
    this.state = { pid: 0, port, ip, startTime: null, logFile, spawnId, ...(cgroup ? { cgroup } : {}) };
    req.onState?.(this.getState());
    const fd = openSync(logFile, 'a', 0o600);
    req.onProgress?.({ progress: 20, message: `Starting ${this.opts.cmd[0]} on port ${port}${cgroup ? ` (limits: ${limitsText(req.limits!)})` : ''}` });
    const argv = cgroup ? joinThenExec(cgroup, [this.opts.cmd[0], ...args]) : [this.opts.cmd[0], ...args];
    const child = spawn(argv[0], argv.slice(1), { cwd: home, env, detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const spawned = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', (err) => reject(new SpawnFailure(`could not start ${this.opts.cmd[0]}: ${err.message}`, 'command')));
    });
    child.unref(); // the server outlives the hub
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve((this.exitCode = code))));
    this.state = { pid: spawned, port, ip, startTime: processStartTime(spawned), logFile, spawnId, ...(cgroup ? { cgroup } : {}) };
    req.onState?.(this.getState());
    this.ctx.log.info({ user: req.user, server: req.serverName, pid: spawned, port }, 'local server started');
    return { url };
  }

  async stop(): Promise<void> {
    const s = this.state;
    if (!s) return;
    if (!s.pid && s.spawnId) {
      // the hub died between saving the state and learning the pid: find the process by its marker
      for (const pid of processesWithEnv('LABHUB_SPAWN_ID', s.spawnId)) {
        signalGroup(pid, 'SIGKILL');
        this.ctx.log.warn({ user: this.identity.user, server: this.identity.serverName, pid }, 'killed a server whose start a hub crash interrupted');
      }
      if (s.cgroup) await removeCgroup(s.cgroup);
      this.state = null;
      return;
    }
    await terminateGroup(s.pid, s.startTime, this.opts.stopGraceSeconds * 1000);
    if (s.cgroup) {
      const left = await removeCgroup(s.cgroup);
      if (left) this.ctx.log.warn({ user: this.identity.user, server: this.identity.serverName, cgroup: left }, 'could not remove the server cgroup');
    }
    this.ctx.log.info({ user: this.identity.user, server: this.identity.serverName, pid: s.pid }, 'local server stopped');
    this.state = null;
  }

  async poll(): Promise<PollResult> {
    const s = this.state;
    if (!s) return { status: 'stopped', exitCode: null, reason: 'not started' };
    if (isAlive(s.pid, s.startTime)) return { status: 'running' };
    // our own child: /proc can drop it a moment before Node delivers its exit code
    if (this.exited && this.exitCode === null) await Promise.race([this.exited, sleep(250)]);
    return { status: 'stopped', exitCode: this.exitCode, reason: `process ${s.pid} exited${this.exitCode !== null ? ` with code ${this.exitCode}` : ''}` };
  }

  getState(): SpawnerState {
    return this.state ? { ...this.state } : {};
  }

  /** A login shell as the server's user, in its home, with the server's identity in the environment. */
  async terminal(opts: { cols: number; rows: number }): Promise<TerminalSession> {
    const home = this.homeDir();
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const env: Record<string, string> = {};
    for (const k of this.opts.envKeep) if (process.env[k] !== undefined) env[k] = process.env[k]!;
    Object.assign(env, this.opts.environment, { HOME: home, USER: this.identity.user, SHELL: '/bin/bash', JUPYTERHUB_USER: this.identity.user, JUPYTERHUB_SERVER_NAME: this.identity.serverName });
    const shell = existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
    // a shell in a limited server's cgroup: what it runs counts against the same limits
    const argv = this.state?.cgroup ? joinThenExec(this.state.cgroup, [shell, '-l']) : [shell, '-l'];
    const { session, pid } = await ptySession(argv[0], argv.slice(1), { cols: opts.cols, rows: opts.rows, cwd: home, env });
    this.terminalPids.add(pid);
    session.onExit(() => this.terminalPids.delete(pid));
    return session;
  }

  /** Another port of this server: only if the server (or its terminals) really listens on it. */
  portTarget(port: number): string | undefined {
    const s = this.state;
    if (!s || !portOwnedBy(port, new Set([s.pid, ...this.terminalPids]))) return undefined;
    return `http://${s.ip === '0.0.0.0' ? '127.0.0.1' : s.ip}:${port}`;
  }

  recentLogs(): string[] {
    return tailLog(this.state?.logFile || this.logFile()) ?? [];
  }

}

export const localSpawnerFactory: SpawnerFactory<LocalSpawnerConfig> = {
  kind: 'local',
  create: (ctx, options, identity, state) => new LocalProcessSpawner(ctx, options, identity, state),
};
