/**
 * The one-node Slurm cluster (and test sshd) that test/setup/slurm.sh starts: reads
 * /tmp/labhub-ci/slurm.env and checks the controller answers. In CI (CI=true) a missing cluster is an
 * error; elsewhere tests skip with the printed reason.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const SLURM_ENV_FILE = '/tmp/labhub-ci/slurm.env';

export interface SlurmTestEnv {
  SLURM_CONF: string;
  sshHost: string;
  sshPort: number;
  sshUser: string;
  sshKey: string;
  sshKnownHosts: string;
  /** A system account (not root) and a world-traversable homes directory, for runAs 'user'. */
  systemUser: string;
  homes: string;
}

export function loadSlurmEnv(): { env: SlurmTestEnv | null; reason: string } {
  if (!existsSync(SLURM_ENV_FILE)) return { env: null, reason: `${SLURM_ENV_FILE} missing: run test/setup/slurm.sh (as root) first` };
  const kv = Object.fromEntries(
    readFileSync(SLURM_ENV_FILE, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const env: SlurmTestEnv = {
    SLURM_CONF: kv.SLURM_CONF,
    sshHost: kv.LABHUB_TEST_SSH_HOST,
    sshPort: Number(kv.LABHUB_TEST_SSH_PORT),
    sshUser: kv.LABHUB_TEST_SSH_USER,
    sshKey: kv.LABHUB_TEST_SSH_KEY,
    sshKnownHosts: kv.LABHUB_TEST_SSH_KNOWN_HOSTS,
    systemUser: kv.LABHUB_TEST_SYSTEM_USER,
    homes: kv.LABHUB_TEST_HOMES,
  };
  try {
    const state = execFileSync('sinfo', ['-h', '-o', '%t'], { env: { ...process.env, SLURM_CONF: env.SLURM_CONF }, encoding: 'utf8', timeout: 10_000 }).trim();
    if (!/idle|mix|alloc/.test(state)) return { env: null, reason: `slurm node state is '${state}', not idle/mix/alloc (re-run test/setup/slurm.sh)` };
  } catch (err) {
    return { env: null, reason: `slurm controller does not answer (${(err as Error).message.split('\n')[0]}); run test/setup/slurm.sh` };
  }
  return { env, reason: '' };
}

/** Runs a Slurm command against the test cluster. */
export function slurmCmd(env: SlurmTestEnv, argv: string[]): string {
  return execFileSync(argv[0], argv.slice(1), { env: { ...process.env, SLURM_CONF: env.SLURM_CONF }, encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

const RESERVATION_LOCK = join(tmpdir(), 'labhub-slurm-reservation.lock');

/**
 * Holds every job PENDING: a reservation of all nodes a day from now. Slurm refuses two overlapping
 * reservations, and test files run in parallel, so one test at a time holds it (a directory lock
 * with the holder's pid; a lock left by a dead process is taken over). Returns the release.
 */
export async function holdQueue(env: SlurmTestEnv, name: string, timeoutMs = 120_000): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(RESERVATION_LOCK);
      writeFileSync(join(RESERVATION_LOCK, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = 0;
      try {
        owner = Number(readFileSync(join(RESERVATION_LOCK, 'pid'), 'utf8'));
      } catch {
        /* being written */
      }
      if (owner && !pidAlive(owner)) {
        rmSync(RESERVATION_LOCK, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for the Slurm reservation lock (${RESERVATION_LOCK}, held by pid ${owner})`);
      await sleep(200);
    }
  }
  try {
    slurmCmd(env, ['scontrol', 'create', 'reservation', `ReservationName=${name}`, 'StartTime=now+1day', 'Duration=60', 'Nodes=ALL', 'Users=root']);
  } catch (err) {
    rmSync(RESERVATION_LOCK, { recursive: true, force: true });
    throw err;
  }
  return () => {
    try {
      slurmCmd(env, ['scontrol', 'delete', `ReservationName=${name}`]);
    } catch {
      /* already gone */
    } finally {
      rmSync(RESERVATION_LOCK, { recursive: true, force: true });
    }
  };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** squeue state of a job ('' when Slurm forgot it). */
export function jobState(env: SlurmTestEnv, jobId: string): string {
  try {
    return slurmCmd(env, ['squeue', '-h', '-t', 'all', '-j', jobId, '-o', '%T']).trim();
  } catch {
    return '';
  }
}

export const ACTIVE_STATES = ['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED'];
