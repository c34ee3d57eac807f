/** Options of the local-process spawner (config key `spawner` with kind: local). */
import { z } from 'zod';

export const LocalSpawnerSchema = z.strictObject({
  kind: z.literal('local'),
  cmd: z
    .array(z.string().min(1))
    .min(1)
    .default(['jupyterhub-singleuser'])
    .describe('Command that starts the single-user server (JupyterHub contract environment is provided).'),
  args: z.array(z.string()).default([]).describe('Extra arguments appended to cmd.'),
  environment: z.record(z.string(), z.string()).default({}).describe('Extra environment for every server; applied last.'),
  envKeep: z
    .array(z.string())
    .default(['PATH', 'PYTHONPATH', 'CONDA_ROOT', 'CONDA_DEFAULT_ENV', 'VIRTUAL_ENV', 'LANG', 'LC_ALL', 'LD_LIBRARY_PATH', 'JUPYTERHUB_SINGLEUSER_APP'])
    .describe('Variables inherited from the hub environment (JupyterHub env_keep).'),
  homeTemplate: z
    .string()
    .default('{dataDir}/homes/{username}')
    .describe('Working directory (home) of each user; {dataDir} and {username} are expanded.'),
  allowRoot: z
    .boolean()
    .default(true)
    .describe('When the hub runs as root, pass --allow-root so jupyterhub-singleuser agrees to run as root (see README: local spawner and root).'),
  stopGraceSeconds: z.number().positive().default(5).describe('Seconds between SIGTERM and SIGKILL on stop.'),
  ip: z.string().default('127.0.0.1').describe('Address servers bind to.'),
  cgroupLimits: z
    .enum(['auto', 'require', 'off'])
    .default('auto')
    .describe("A profile's cpu/memory limits as Linux cgroups (needs root): 'auto' applies them when possible and otherwise starts the server without them and logs a warning; 'require' fails such a spawn; 'off' ignores limits."),
});

export type LocalSpawnerConfig = z.infer<typeof LocalSpawnerSchema>;
