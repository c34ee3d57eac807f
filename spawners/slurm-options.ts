/** Options of the Slurm spawner (config key `spawner` with kind: slurm). */
import { z } from 'zod';
import { ApptainerRunSchema } from './apptainer-options.js';

/** Slurm time: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS. Returns seconds, or null. */
export function parseSlurmTime(s: string): number | null {
  const t = s.trim();
  let m = /^(\d+)-(\d+)(?::(\d+))?(?::(\d+))?$/.exec(t);
  if (m) return Number(m[1]) * 86400 + Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
  m = /^(\d+):(\d+):(\d+)$/.exec(t);
  if (m) return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  m = /^(\d+):(\d+)$/.exec(t);
  if (m) return Number(m[1]) * 60 + Number(m[2]);
  m = /^(\d+)$/.exec(t);
  if (m) return Number(m[1]) * 60;
  return null;
}

/** Seconds → D-HH:MM:SS or HH:MM:SS (Slurm's own format). */
export function formatSlurmTime(sec: number): string {
  const d = Math.floor(sec / 86400);
  const h = Math.floor((sec % 86400) / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = Math.floor(sec % 60);
  const hms = [h, m, s].map((n) => String(n).padStart(2, '0')).join(':');
  return d ? `${d}-${hms}` : hms;
}

const slurmTime = z.string().refine((s) => parseSlurmTime(s) !== null, { message: 'not a Slurm time (minutes, HH:MM:SS, D-HH:MM:SS …)' });
/** Names and values that go into #SBATCH lines: no whitespace or shell/newline surprises. */
const word = z.string().regex(/^[A-Za-z0-9_.:=,+@%-]+$/, 'letters, digits and _.:=,+@%- only');
const memory = z.string().regex(/^\d+[KMGT]?$/i, "a Slurm memory size such as '4G' or '512M'");

export const SlurmPartitionSchema = z.strictObject({
  maxTime: slurmTime.optional().describe('Longest time limit users may ask for in this partition (checked before sbatch).'),
  description: z.string().optional().describe('Shown in error messages and docs.'),
});

/** What runs inside the job: a plain command, or a command inside an Apptainer image. */
export const SlurmWorkloadSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('local'),
    cmd: z.array(z.string().min(1)).min(1).default(['jupyterhub-singleuser']).describe('Command that starts the single-user server on the compute node.'),
    args: z.array(z.string()).default([]).describe('Extra arguments appended to cmd.'),
  }),
  z.strictObject({ kind: z.literal('apptainer'), ...ApptainerRunSchema.shape }),
]);

export const SlurmSshSchema = z.strictObject({
  host: z.string().min(1).describe('Login node that runs sbatch/squeue/scancel.'),
  port: z.number().int().min(1).max(65535).default(22).describe('SSH port.'),
  user: z.string().min(1).default('{username}').describe("Remote account; {username} is the hub user (one cluster account per user) or a fixed service account."),
  keyFile: z.string().min(1).describe('Private key file (identity) for the login; {username} is expanded.'),
  knownHostsFile: z.string().optional().describe('known_hosts file with the login node key (StrictHostKeyChecking=yes); default: ssh defaults.'),
  binary: z.string().min(1).default('ssh').describe('ssh client binary.'),
  extraArgs: z.array(z.string()).default([]).describe('More ssh options, e.g. ["-o", "ConnectTimeout=10"].'),
});

export const USER_OPTION_KEYS = ['partition', 'time', 'memory', 'cpus', 'gpus', 'gres', 'account', 'qos', 'reservation'] as const;
export type SlurmUserOptionKey = (typeof USER_OPTION_KEYS)[number];

export const SlurmSpawnerSchema = z.strictObject({
  kind: z.literal('slurm'),
  workload: SlurmWorkloadSchema.prefault({ kind: 'local' }).describe('What the job runs: {kind: local, cmd} or {kind: apptainer, image, …} (see the apptainer spawner).'),
  partition: word.optional().describe('Default partition (else the cluster default).'),
  partitions: z
    .record(z.string().regex(/^[A-Za-z0-9_.-]+$/), SlurmPartitionSchema)
    .default({})
    .describe('Partitions users may choose, with their maximum time; empty = any partition, checked only by sbatch.'),
  time: slurmTime.default('8:00:00').describe('Default time limit of the job (wall time of the server).'),
  maxTime: slurmTime.optional().describe('Longest time limit users may ask for (any partition).'),
  memory: memory.optional().describe("Default memory per node (--mem), e.g. '4G'."),
  cpus: z.number().int().positive().optional().describe('Default CPUs (--cpus-per-task).'),
  gpus: z.number().int().min(0).optional().describe('Default number of GPUs (--gres=gpu:N).'),
  gres: word.optional().describe("Default generic resources (--gres), e.g. 'gpu:a100:1'; overrides gpus."),
  account: word.optional().describe('Default account (--account).'),
  qos: word.optional().describe('Default QOS (--qos).'),
  reservation: word.optional().describe('Default reservation (--reservation).'),
  userOptionKeys: z
    .array(z.enum(USER_OPTION_KEYS))
    .default(['partition', 'time', 'memory', 'cpus', 'gpus', 'reservation'])
    .describe('Which of these user options (spawn form / POST body) users may set: partition, time, memory, cpus, gpus, gres, account, qos, reservation.'),
  extraDirectives: z.array(z.string().regex(/^--[a-z-]+(=[^\n]*)?$/)).default([]).describe("Extra '#SBATCH' options, e.g. ['--constraint=ib'] (BatchSpawner req_options)."),
  prologue: z.string().default('').describe('Shell lines run in the job before the server (module load …).'),
  epilogue: z.string().default('').describe('Shell lines run in the job after the server exits.'),
  batchScript: z
    .string()
    .optional()
    .describe('Batch script template replacing the built-in one; placeholders {{directives}} {{envFile}} {{prologue}} {{command}} {{epilogue}} (see docs/hpc.md).'),
  homeTemplate: z.string().default('{dataDir}/homes/{username}').describe("Job working directory; {dataDir} and {username} are expanded; must be visible on the compute nodes (e.g. '/home/{username}')."),
  runAs: z
    .enum(['auto', 'hub', 'user'])
    .default('auto')
    .describe("Local mode: who runs sbatch/scancel: 'user' = runuser -u {username} (hub is root), 'hub' = the hub's user, 'auto' = user if the hub is root and the account exists. SSH mode: the ssh user."),
  ssh: SlurmSshSchema.optional().describe('Run the Slurm commands on a login node over ssh (when the hub is not on the cluster).'),
  slurmBinDir: z.string().default('').describe('Directory of sbatch/squeue/scancel (default: PATH).'),
  commandEnv: z.record(z.string(), z.string()).default({}).describe('Environment for the Slurm commands (e.g. SLURM_CONF); SLURM_CONF is also inherited from the hub.'),
  python: z.string().default('python3').describe('Python 3 on the compute node, runs the address-report wrapper.'),
  wrapperPath: z.string().optional().describe('Path of labhub-batch-singleuser as seen on the compute node (default: the copy shipped with LabHub).'),
  bindIp: z.string().default('0.0.0.0').describe('Address the server binds to on the compute node.'),
  reportHost: z
    .enum(['caller', 'hostname', 'fqdn'])
    .default('caller')
    .describe("Host the hub routes to: 'caller' = the address the node's report came from, 'hostname'/'fqdn' = the node's name as it reports it."),
  queuePollSeconds: z.number().positive().default(2).describe('How often squeue is asked while the job waits to start.'),
  warnBeforeEndMinutes: z.number().min(0).default(10).describe('Log a warning this long before the job hits its time limit.'),
  commandTimeoutSeconds: z.number().positive().default(30).describe('Timeout of each sbatch/squeue/scancel call.'),
  stopTimeoutSeconds: z.number().positive().default(40).describe('How long stop waits for the job to leave the running states after scancel.'),
});

export type SlurmSpawnerConfig = z.infer<typeof SlurmSpawnerSchema>;
export type SlurmWorkload = z.infer<typeof SlurmWorkloadSchema>;
