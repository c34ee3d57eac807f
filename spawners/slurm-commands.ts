/**
 * How the Slurm spawner runs sbatch/squeue/scancel and small file operations: locally (optionally as
 * the user through runuser) or on a login node through `ssh`. Always argv arrays, never a local shell;
 * over ssh every word is single-quoted for the remote shell. Secrets only ever travel on stdin.
 */
import { spawn } from 'node:child_process';
import type { SlurmSpawnerConfig } from './slurm-options.js';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CommandRunner {
  /** Where commands run, for messages ("local", "root@login1:22"). */
  readonly where: string;
  run(argv: string[], opts?: { stdin?: string; timeoutMs?: number }): Promise<CommandResult>;
  /** The local argv and environment that run `argv` interactively (on a pty), e.g. a terminal. */
  interactive(argv: string[]): { argv: string[]; env: Record<string, string> };
}

/** Quotes one word for a POSIX shell. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface SshTarget {
  binary: string;
  host: string;
  port: number;
  user: string;
  keyFile: string;
  knownHostsFile?: string;
  extraArgs: string[];
}

/** The local argv that runs `remoteArgv` (with `remoteEnv`) on the login node. */
export function sshArgv(t: SshTarget, remoteArgv: string[], remoteEnv: Record<string, string> = {}): string[] {
  const args = [t.binary, '-p', String(t.port), '-i', t.keyFile, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'ConnectTimeout=15'];
  if (t.knownHostsFile) args.push('-o', `UserKnownHostsFile=${t.knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes');
  args.push(...t.extraArgs, '-l', t.user, t.host, '--');
  const envWords = Object.entries(remoteEnv).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid environment variable name '${k}'`);
    return shellQuote(`${k}=${v}`);
  });
  args.push([...(envWords.length ? ['env', ...envWords] : []), ...remoteArgv.map(shellQuote)].join(' '));
  return args;
}

/** Runs argv without a shell; stdin optional; killed after timeoutMs. */
export function runArgv(argv: string[], env: Record<string, string>, stdin?: string, timeoutMs = 30_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      stderr += `\n${argv[0]} timed out after ${Math.round(timeoutMs / 1000)} s`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: `${stderr}${err.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin ?? '');
  });
}

export class LocalRunner implements CommandRunner {
  readonly where = 'local';
  constructor(
    private readonly prefix: string[],
    private readonly env: Record<string, string>,
  ) {}
  run(argv: string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    return runArgv([...this.prefix, ...argv], this.env, opts.stdin, opts.timeoutMs);
  }
  interactive(argv: string[]): { argv: string[]; env: Record<string, string> } {
    return { argv: [...this.prefix, ...argv], env: this.env };
  }
}

export class SshRunner implements CommandRunner {
  readonly where: string;
  constructor(
    private readonly target: SshTarget,
    private readonly remoteEnv: Record<string, string>,
    private readonly localEnv: Record<string, string>,
  ) {
    this.where = `${target.user}@${target.host}:${target.port}`;
  }
  run(argv: string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    return runArgv(sshArgv(this.target, argv, this.remoteEnv), this.localEnv, opts.stdin, opts.timeoutMs);
  }
  interactive(argv: string[]): { argv: string[]; env: Record<string, string> } {
    // -tt: a terminal on the login node too, so the remote srun --pty gets one
    return { argv: sshArgv({ ...this.target, extraArgs: ['-tt', ...this.target.extraArgs] }, argv, this.remoteEnv), env: this.localEnv };
  }
}

/** The environment the Slurm commands run with: PATH, LANG, the hub's SLURM_CONF, then `commandEnv`. */
export function slurmCommandEnv(options: Pick<SlurmSpawnerConfig, 'commandEnv'>): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: process.env.LANG ?? 'C.UTF-8', ...(process.env.SLURM_CONF ? { SLURM_CONF: process.env.SLURM_CONF } : {}), ...options.commandEnv };
}

/** The ssh runner of ssh mode, for `username` ({username} in ssh.user/keyFile is expanded). */
export function slurmSshRunner(options: Pick<SlurmSpawnerConfig, 'commandEnv'> & { ssh: NonNullable<SlurmSpawnerConfig['ssh']> }, username: string): SshRunner {
  const { ssh } = options;
  const env = slurmCommandEnv(options);
  return new SshRunner(
    { binary: ssh.binary, host: ssh.host, port: ssh.port, user: ssh.user.replaceAll('{username}', username), keyFile: ssh.keyFile.replaceAll('{username}', username), knownHostsFile: ssh.knownHostsFile, extraArgs: ssh.extraArgs },
    { ...options.commandEnv },
    { PATH: env.PATH, LANG: env.LANG, ...(process.env.HOME ? { HOME: process.env.HOME } : {}) },
  );
}
