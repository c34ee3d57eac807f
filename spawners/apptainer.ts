/**
 * Apptainer/Singularity spawner: runs the single-user command inside an image with
 * `apptainer exec` (or `singularity exec`) as a local child process in its own process group, on a
 * free port (the container shares the host network), as the user (runuser) when the hub is root.
 *
 * The JupyterHub contract reaches the container without ever being on a command line that `ps` shows:
 * plain values go as `--env K=V`; secrets (names with TOKEN/SECRET/PASSWORD/KEY) and values that
 * `--env` cannot carry (commas, newlines) go through the runtime's own env-passing variables,
 * APPTAINERENV_K (SINGULARITYENV_K for `singularity`), in the runtime's process environment, which
 * only the same user and root can read (/proc/PID/environ). `--cleanenv` (default) keeps the
 * hub's environment out. State {pid, startTime, port, ip, logFile} survives hub restarts.
 *
 * `apptainerExecArgv()` is also used by the Slurm spawner to run the same command inside a batch job.
 */
import { spawn } from 'node:child_process';
import { chownSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ApptainerRun, ApptainerSpawnerConfig } from './apptainer-options.js';
import { safePathPart } from './local.js';
import { freePort } from './ports.js';
import { isAlive, processStartTime } from './process-info.js';
import { tailLog, terminateGroup } from './process-group.js';
import { ptySession } from './pty.js';
import type { PollResult, ResourceLimits, Spawner, SpawnerContext, SpawnerFactory, SpawnerState, SpawnRequest, StartResult, TerminalSession } from './spawner.js';
import { SpawnFailure } from './spawn-failure.js';
import { lookupSystemUser, resolveRunAs, runAsPrefix } from './system-user.js';

const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|(^|_)KEY($|_)/i;
const IMAGE_RE = /^(docker|docker-archive|oras|library|shub|https?):\/\/\S+$|^\/\S+$|^\.{0,2}[^:\s]*\.(sif|simg|img)$/;

/** APPTAINERENV_ or SINGULARITYENV_, from the binary's name. */
export function envPrefixFor(binary: string): string {
  return basename(binary).toLowerCase().includes('singularity') ? 'SINGULARITYENV_' : 'APPTAINERENV_';
}

export function validImage(image: string): boolean {
  return IMAGE_RE.test(image);
}

export interface ExecArgvInput {
  run: ApptainerRun;
  username: string;
  /** Home directory bound into the container (when run.bindHome). */
  home: string;
  /** Everything the server must see inside the container (contract + extra). */
  env: Record<string, string>;
  /** Appended to cmd+args (e.g. --allow-root). */
  extraCmdArgs?: string[];
  /** CPU/memory limits of the profile (exec mode; instance mode sets them at instance start). */
  limits?: ResourceLimits;
}

export interface ExecArgv {
  /** argv after the binary: ['exec', ...options, image, ...cmd] — contains no secret. */
  args: string[];
  /** Variables for the runtime's own environment: PREFIX+NAME = value (secrets, awkward values). */
  hiddenEnv: Record<string, string>;
}

/** Builds `apptainer exec …`; see the module comment for how the environment is split. */
/** Options that shape the container itself (given to `exec IMAGE` or to `instance start`). */
export function containerFlags(run: ApptainerRun, username: string, home: string, limits?: ResourceLimits): string[] {
  const args: string[] = [];
  // cgroup limits (Apptainer's --memory/--cpus need cgroups: root, or rootless with systemd delegation)
  if (limits?.memBytes) args.push('--memory', String(limits.memBytes));
  if (limits?.cpus) args.push('--cpus', String(limits.cpus));
  if (run.contain) args.push('--contain');
  if (run.nv) args.push('--nv');
  if (run.writableTmpfs) args.push('--writable-tmpfs');
  const binds = [...(run.bindHome ? [home] : []), ...run.bind.map((b) => b.replaceAll('{username}', username))];
  for (const b of binds) args.push('--bind', b);
  return args;
}

/** `apptainer instance start [container flags] IMAGE NAME` (argv after the binary). */
export function apptainerInstanceStartArgv(run: ApptainerRun, username: string, home: string, name: string, limits?: ResourceLimits): string[] {
  return ['instance', 'start', ...containerFlags(run, username, home, limits), ...run.extraArgs, run.image, name];
}

export function apptainerExecArgv(i: ExecArgvInput & { instance?: string }): ExecArgv {
  const { run } = i;
  const prefix = envPrefixFor(run.binary);
  const args = ['exec'];
  if (run.cleanenv) args.push('--cleanenv');
  // exec into a running instance: the container (binds, --contain, --nv) was fixed by `instance start`
  if (!i.instance) args.push(...containerFlags(run, i.username, i.home, i.limits));
  if (run.bindHome) args.push('--pwd', i.home);
  const hiddenEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...i.env, ...run.environment })) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new SpawnFailure(`invalid environment variable name '${k}'`, 'config');
    if (SECRET_NAME.test(k) || /[,\n\r]/.test(v)) hiddenEnv[`${prefix}${k}`] = v;
    else args.push('--env', `${k}=${v}`);
  }
  if (i.instance) args.push(`instance://${i.instance}`);
  else args.push(...run.extraArgs, run.image);
  args.push(...run.cmd, ...run.args, ...(i.extraCmdArgs ?? []));
  return { args, hiddenEnv };
}

interface ApptainerState {
  pid: number;
  port: number;
  startTime: number | null;
  ip: string;
  logFile: string;
  /** instance mode: the instance to stop after the server process. */
  instance?: string;
  /** The account the server (and, in instance mode, its instance) runs as; '' = the hub's. */
  runAs?: string;
}

function parseState(state?: SpawnerState): ApptainerState | null {
  if (!state || typeof state.pid !== 'number' || typeof state.port !== 'number') return null;
  return {
    pid: state.pid,
    port: state.port,
    startTime: typeof state.startTime === 'number' ? state.startTime : null,
    ip: typeof state.ip === 'string' ? state.ip : '127.0.0.1',
    logFile: typeof state.logFile === 'string' ? state.logFile : '',
    instance: typeof state.instance === 'string' ? state.instance : undefined,
    runAs: typeof state.runAs === 'string' ? state.runAs : undefined,
  };
}

export class ApptainerSpawner implements Spawner {
  readonly kind = 'apptainer';
  private state: ApptainerState | null;
  private exitCode: number | null = null;

  constructor(
    private readonly ctx: SpawnerContext,
    private readonly opts: ApptainerSpawnerConfig,
    private readonly identity: { user: string; serverName: string },
    state?: SpawnerState,
    private readonly isRoot: boolean = process.getuid?.() === 0,
  ) {
    this.state = parseState(state);
  }

  private homeDir(): string {
    return this.opts.homeTemplate.replaceAll('{dataDir}', this.ctx.dataDir).replaceAll('{username}', safePathPart(this.identity.user));
  }

  /** Instance names are per account; letters, digits, '.', '_' and '-' only. */
  private instanceName(): string {
    const clean = (x: string) => x.replace(/[^A-Za-z0-9_.-]/g, '_');
    return `labhub-${clean(this.identity.user)}${this.identity.serverName ? `-${clean(this.identity.serverName)}` : ''}`;
  }

  private logFile(): string {
    const name = safePathPart(this.identity.user) + (this.identity.serverName ? `--${safePathPart(this.identity.serverName)}` : '');
    return join(this.ctx.dataDir, 'logs', `${name}.apptainer.log`);
  }

  async start(req: SpawnRequest): Promise<StartResult> {
    if (!validImage(this.opts.image)) throw new SpawnFailure(`invalid image '${this.opts.image}': use a .sif path or a docker://, oras://, library:// reference`, 'image');
    let runAs;
    try {
      runAs = resolveRunAs(this.opts.runAs, req.user, this.isRoot);
    } catch (err) {
      throw new SpawnFailure((err as Error).message, 'config');
    }
    const home = this.homeDir();
    mkdirSync(home, { recursive: true, mode: 0o700 });
    if (runAs) chownSync(home, runAs.uid, runAs.gid);
    mkdirSync(join(this.ctx.dataDir, 'logs'), { recursive: true, mode: 0o700 });
    const ip = this.opts.ip;
    const port = await freePort(ip);
    const url = `http://${ip}:${port}`;
    const asRoot = runAs ? false : this.isRoot;
    const wantsAllowRoot = asRoot && this.opts.allowRoot && this.opts.cmd.some((c) => c.includes('jupyterhub-singleuser')) && !this.opts.args.includes('--allow-root');
    const instance = this.opts.mode === 'instance' ? this.instanceName() : undefined;
    const { args, hiddenEnv } = apptainerExecArgv({
      run: this.opts,
      username: req.user,
      home,
      env: { ...req.env, JUPYTERHUB_SERVICE_URL: `${url}${req.servicePrefix}`, USER: req.user, HOME: home },
      extraCmdArgs: wantsAllowRoot ? ['--allow-root'] : [],
      instance,
      limits: req.limits,
    });
    // The runtime's own environment: minimal, plus the hidden contract variables.
    const baseEnv: Record<string, string> = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: home, USER: runAs?.name ?? req.user, LANG: process.env.LANG ?? 'C.UTF-8' };
    const env: Record<string, string> = { ...baseEnv, ...hiddenEnv };
    const prefix = runAsPrefix(runAs);
    const argv = [...prefix, this.opts.binary, ...args];
    const logFile = this.logFile();
    if (instance) {
      req.onProgress?.({ progress: 10, message: `Starting ${basename(this.opts.binary)} instance ${instance} from ${this.opts.image}` });
      await runQuiet([...prefix, this.opts.binary, 'instance', 'stop', instance], baseEnv, home); // a leftover from a crash
      const r = await runQuiet([...prefix, this.opts.binary, ...apptainerInstanceStartArgv(this.opts, req.user, home, instance, req.limits)], baseEnv, home, this.opts.instanceStartTimeoutSeconds * 1000);
      if (r.code !== 0) throw new SpawnFailure(`${basename(this.opts.binary)} instance start failed: ${r.output.trim().split('\n').slice(-3).join(' | ') || `exit code ${r.code}`}`, 'image');
      if (req.signal.aborted) {
        // cancelled (or timed out) while the image was pulled/started: the hub's stop() found nothing yet
        await runQuiet([...prefix, this.opts.binary, 'instance', 'stop', instance], baseEnv, home);
        throw new SpawnFailure(`Spawn cancelled (instance ${instance} stopped)`, 'cancelled');
      }
    }
    const fd = openSync(logFile, 'a', 0o600);
    req.onProgress?.({ progress: 20, message: `Starting ${basename(this.opts.binary)} exec ${instance ? `instance://${instance}` : this.opts.image} on port ${port}${runAs ? ` as ${runAs.name}` : ''}` });
    const child = spawn(argv[0], argv.slice(1), { cwd: home, env, detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', (err) => reject(new SpawnFailure(`could not start ${this.opts.binary}: ${err.message}`, 'command')));
    }).catch(async (err: unknown) => {
      if (instance) await runQuiet([...prefix, this.opts.binary, 'instance', 'stop', instance], baseEnv, home);
      throw err;
    });
    child.unref();
    child.once('exit', (code) => (this.exitCode = code));
    this.state = { pid, port, ip, startTime: processStartTime(pid), logFile, runAs: runAs?.name ?? '', ...(instance ? { instance } : {}) };
    req.onState?.(this.getState());
    if (req.signal.aborted) {
      await this.stop();
      throw new SpawnFailure('Spawn cancelled', 'cancelled');
    }
    this.ctx.log.info({ user: req.user, server: req.serverName, pid, port, image: this.opts.image, runAs: runAs?.name ?? 'hub' }, 'apptainer server started');
    return { url };
  }

  /** The account the server runs as ('' = the hub's), as saved at start; resolved again for states saved before it was. */
  private accountOf(s: ApptainerState) {
    if (s.runAs !== undefined) return s.runAs ? lookupSystemUser(s.runAs) : null;
    return resolveRunAs(this.opts.runAs, this.identity.user, this.isRoot);
  }

  async stop(_opts?: { now?: boolean }): Promise<void> {
    const s = this.state;
    if (!s) return;
    await terminateGroup(s.pid, s.startTime, this.opts.stopGraceSeconds * 1000);
    if (s.instance) {
      const r = await runQuiet([...runAsPrefix(this.accountOf(s)), this.opts.binary, 'instance', 'stop', s.instance], { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' });
      if (r.code !== 0 && !/no instance found/i.test(r.output)) this.ctx.log.warn({ instance: s.instance, output: r.output.trim() }, 'apptainer instance stop failed');
    }
    this.ctx.log.info({ user: this.identity.user, server: this.identity.serverName, pid: s.pid }, 'apptainer server stopped');
    this.state = null;
  }

  async poll(): Promise<PollResult> {
    const s = this.state;
    if (!s) return { status: 'stopped', exitCode: null, reason: 'not started' };
    if (isAlive(s.pid, s.startTime)) return { status: 'running' };
    return { status: 'stopped', exitCode: this.exitCode, reason: `${basename(this.opts.binary)} (pid ${s.pid}) exited${this.exitCode !== null ? ` with code ${this.exitCode}` : ''}` };
  }

  getState(): SpawnerState {
    return this.state ? { ...this.state } : {};
  }

  recentLogs(): string[] {
    return tailLog(this.state?.logFile || this.logFile()) ?? [];
  }

  /**
   * A login shell in the server's container, as the server's account. Instance mode: `exec
   * instance://NAME` (the very container the server runs in). Otherwise `exec` of the same image
   * with the same binds, home and environment: a second container next to the server's, which on
   * Apptainer's defaults shares the host's process and network namespaces, so it sees the
   * server's files, processes and ports.
   */
  async terminal(opts: { cols: number; rows: number }): Promise<TerminalSession> {
    const s = this.state;
    if (!s || !isAlive(s.pid, s.startTime)) throw new SpawnFailure('the server is not running', 'stopped');
    let runAs;
    try {
      runAs = this.accountOf(s);
    } catch (err) {
      throw new SpawnFailure((err as Error).message, 'config');
    }
    const home = this.homeDir();
    const { args, hiddenEnv } = apptainerExecArgv({
      run: { ...this.opts, cmd: ['/bin/bash'], args: ['-l'] },
      username: this.identity.user,
      home,
      env: { USER: this.identity.user, HOME: home, SHELL: '/bin/bash', TERM: 'xterm-256color', JUPYTERHUB_USER: this.identity.user, JUPYTERHUB_SERVER_NAME: this.identity.serverName },
      instance: s.instance,
    });
    const env = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: home, USER: runAs?.name ?? this.identity.user, LANG: process.env.LANG ?? 'C.UTF-8', ...hiddenEnv };
    const argv = [...runAsPrefix(runAs), this.opts.binary, ...args];
    return (await ptySession(argv[0], argv.slice(1), { cols: opts.cols, rows: opts.rows, cwd: home, env })).session;
  }
}

/** Runs argv to completion (no shell), output merged; never throws. */
function runQuiet(argv: string[], env: Record<string, string>, cwd?: string, timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(argv[0], argv.slice(1), { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, output: output + err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

export const apptainerSpawnerFactory: SpawnerFactory<ApptainerSpawnerConfig> = {
  kind: 'apptainer',
  create: (ctx, options, identity, state) => new ApptainerSpawner(ctx, options, identity, state),
};
