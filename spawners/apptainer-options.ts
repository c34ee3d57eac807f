/** Options of the Apptainer/Singularity spawner (config key `spawner` with kind: apptainer). */
import { z } from 'zod';

/** How a server is run inside an image; shared by the apptainer spawner and Slurm's apptainer workload. */
export const ApptainerRunSchema = z.strictObject({
  binary: z
    .string()
    .min(1)
    .default('apptainer')
    .describe("The container runtime binary: 'apptainer', 'singularity', or an absolute path to either."),
  image: z
    .string()
    .min(1)
    .describe('Image to run: a .sif path, or a docker://, oras://, library:// or shub:// reference.'),
  cmd: z
    .array(z.string().min(1))
    .min(1)
    .default(['jupyterhub-singleuser'])
    .describe('Command run inside the image with `exec` (the JupyterHub contract environment is provided).'),
  args: z.array(z.string()).default([]).describe('Extra arguments appended to cmd.'),
  bindHome: z.boolean().default(true).describe("Bind the user's home directory (homeTemplate) into the container at the same path."),
  bind: z
    .array(z.string().min(1))
    .default([])
    .describe("Extra --bind specs ('src', 'src:dest' or 'src:dest:ro'); {username} is expanded, e.g. '/shared/{username}:/data'."),
  nv: z.boolean().default(false).describe('Pass --nv (NVIDIA GPU support).'),
  contain: z.boolean().default(false).describe('Pass --contain (minimal /dev, no host home or /tmp unless bound).'),
  cleanenv: z.boolean().default(true).describe("Pass --cleanenv: the host environment does not leak into the container; the contract is passed explicitly."),
  writableTmpfs: z.boolean().default(false).describe('Pass --writable-tmpfs.'),
  extraArgs: z.array(z.string()).default([]).describe('More options for `exec`, inserted before the image (e.g. --no-home).'),
  environment: z.record(z.string(), z.string()).default({}).describe('Extra environment inside the container; applied last.'),
});

export type ApptainerRun = z.infer<typeof ApptainerRunSchema>;

export const ApptainerSpawnerSchema = z.strictObject({
  kind: z.literal('apptainer'),
  ...ApptainerRunSchema.shape,
  mode: z
    .enum(['exec', 'instance'])
    .default('exec')
    .describe("'exec': `apptainer exec IMAGE CMD`; 'instance': `apptainer instance start IMAGE NAME` (binds, --contain, --nv apply there), then `apptainer exec instance://NAME CMD`; stop also runs `instance stop NAME`."),
  instanceStartTimeoutSeconds: z.number().positive().default(300).describe("instance mode: time allowed for `instance start` (pulling a docker:// image can take minutes)."),
  runAs: z
    .enum(['auto', 'hub', 'user'])
    .default('auto')
    .describe("Who runs the container: 'user' = the system user named like the hub user (runuser; the hub must be root), 'hub' = the hub's own user, 'auto' = 'user' when the hub is root and such a system user exists, else 'hub'."),
  homeTemplate: z
    .string()
    .default('{dataDir}/homes/{username}')
    .describe('Working directory (home) of each user; {dataDir} and {username} are expanded.'),
  allowRoot: z
    .boolean()
    .default(true)
    .describe('When the server ends up running as root, pass --allow-root so jupyterhub-singleuser agrees to start.'),
  ip: z.string().default('127.0.0.1').describe('Address the server binds to (the container shares the host network).'),
  stopGraceSeconds: z.number().positive().default(5).describe('Seconds between SIGTERM and SIGKILL on stop.'),
});

export type ApptainerSpawnerConfig = z.infer<typeof ApptainerSpawnerSchema>;
