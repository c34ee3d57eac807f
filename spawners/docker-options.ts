/** Options of the Docker spawner (config key `spawner` with kind: docker). Works with dockerd and Podman's Docker API. */
import { z } from 'zod';

const size = z
  .union([z.number().int().positive(), z.string().regex(/^\d+(\.\d+)?\s*[kmgtKMGT]?i?[bB]?$/)])
  .describe('Bytes, or a string like 512M, 2G, 1.5GiB (binary units, like docker --memory).');

export const LimitsSchema = z.strictObject({
  memory: size.optional().describe('Memory limit (HostConfig.Memory).'),
  cpus: z.number().positive().optional().describe('CPU limit in CPUs (HostConfig.NanoCpus), e.g. 1.5.'),
  pids: z.number().int().positive().optional().describe('Maximum number of processes (HostConfig.PidsLimit).'),
  gpus: z
    .union([z.number().int().min(0), z.literal('all')])
    .optional()
    .describe("GPUs to request (HostConfig.DeviceRequests with capability 'gpu'); 'all' for every GPU on the host."),
});

export const DockerHostSchema = z.strictObject({
  url: z
    .string()
    .regex(/^(unix:\/\/\/|tcp:\/\/|https?:\/\/|npipe:)/)
    .describe('Engine API endpoint: unix:///var/run/docker.sock, tcp://host:2376 (TLS when `tls` is set) or http(s)://host:port.'),
  name: z.string().optional().describe('Display name in progress messages (default: the url).'),
  capacity: z.number().int().min(0).default(0).describe("Maximum LabHub servers on this host (0 = no limit). Counted from containers labelled with this hub's id."),
  ip: z
    .string()
    .optional()
    .describe('Address the hub and proxy use to reach ports published on this host (default 127.0.0.1 for unix sockets, else the host of url).'),
  bindIp: z.string().optional().describe('Host address ports are published on for the bridge network (default: the spawner-wide hostIp).'),
  tls: z
    .strictObject({
      ca: z.string().optional().describe('CA certificate file.'),
      cert: z.string().optional().describe('Client certificate file.'),
      key: z.string().optional().describe('Client key file.'),
      verify: z.boolean().default(true).describe('Verify the daemon certificate.'),
    })
    .optional()
    .describe('TLS client settings for tcp:// endpoints (docker --tlsverify).'),
});

export const MountSchema = z.strictObject({
  type: z.enum(['volume', 'bind']).default('volume').describe("'volume': a named Docker volume (created when missing); 'bind': a host path."),
  source: z.string().min(1).describe('Volume name or host path; {username} and {servername} are expanded (escaped, DNS/path safe).'),
  target: z.string().startsWith('/').describe('Path inside the container.'),
  readOnly: z.boolean().default(false).describe('Mount read-only.'),
});

export const SharedMountSchema = MountSchema.extend({
  groups: z
    .array(z.string())
    .optional()
    .describe('Only users in one of these groups get this mount (omit: everyone).'),
  readWriteGroups: z
    .array(z.string())
    .optional()
    .describe('Users in these groups get it read-write even when readOnly is true (e.g. teachers on a read-only course folder).'),
});

export const DockerSpawnerSchema = z.strictObject({
  kind: z.literal('docker'),
  hosts: z
    .array(DockerHostSchema)
    .min(1)
    .default([{ url: 'unix:///var/run/docker.sock', capacity: 0 }])
    .describe('Docker hosts; placement picks the least-loaded reachable host that has the image. A host that is down is skipped.'),
  image: z.string().min(1).default('localhost/labhub-jupyterlab:latest').describe('Default image.'),
  allowedImages: z
    .record(z.string(), z.string().min(1))
    .default({})
    .describe("Images users may choose (label → image); userOptions.image may name a label (or one of these images), never an arbitrary image."),
  pullPolicy: z.enum(['ifNotPresent', 'always', 'never']).default('ifNotPresent').describe('When to pull the image; pull progress is shown on the spawn page.'),
  registryAuth: z
    .record(
      z.string().min(1),
      z
        .strictObject({
          username: z.string().min(1).describe('Registry user name.'),
          passwordFile: z.string().optional().describe('File holding the password or token (preferred: keeps the secret out of the config).'),
          password: z.string().optional().describe('Password or token (prefer passwordFile).'),
        })
        .refine((a) => a.password !== undefined || a.passwordFile !== undefined, 'set passwordFile or password'),
    )
    .default({})
    .describe("Credentials for pulling from private registries, by registry host (e.g. 'ghcr.io', 'registry.lab.example:5000'; Docker Hub is 'docker.io')."),
  namePrefix: z.string().regex(/^[a-z0-9][a-z0-9-]*$/).default('labhub').describe('Container names are {namePrefix}-{user}[--{server}] (escaped, DNS-safe).'),
  cmd: z.array(z.string()).optional().describe("Command of the container (default: the image's CMD)."),
  args: z.array(z.string()).default([]).describe('Extra arguments appended to the command.'),
  environment: z.record(z.string(), z.string()).default({}).describe('Extra environment for every server; applied after the JupyterHub environment.'),
  port: z.number().int().min(1).max(65535).default(8888).describe('Port the server listens on inside the container.'),
  network: z.string().default('bridge').describe("'bridge': port published on hostIp; any other (user-defined) network: the hub connects to the container's IP on it."),
  hostIp: z.string().default('127.0.0.1').describe('Host address the port is published on (bridge network).'),
  hubUrl: z
    .string()
    .url()
    .optional()
    .describe("Origin containers use to reach the hub (replaces the origin of JUPYTERHUB_API_URL and JUPYTERHUB_ACTIVITY_URL), e.g. http://172.17.0.1:8081. Default: the hub's own hubConnectUrl."),
  restartPolicy: z.enum(['no', 'on-failure', 'unless-stopped', 'always']).default('no').describe('Docker restart policy of server containers.'),
  remove: z.boolean().default(true).describe('Remove the container on stop (true), or keep it and restart it on the next start (false). Homes are kept either way.'),
  uid: z.number().int().min(0).optional().describe('Run as this uid (and make the home owned by it). Default: the image USER.'),
  gid: z.number().int().min(0).optional().describe('Group id for uid (default 100 when uid is set).'),
  home: z
    .strictObject({
      type: z.enum(['volume', 'bind', 'none']).default('volume').describe("'volume': a named volume per user; 'bind': a host path per user; 'none': no persistent home."),
      source: z.string().default('labhub-home-{username}').describe('Volume name or host path template, e.g. /srv/nfs/home/{username}.'),
      target: z.string().startsWith('/').default('/home/jovyan').describe('Home inside the container (HOME).'),
      fixOwnership: z
        .boolean()
        .default(true)
        .describe('When uid is set: chown a new home to uid:gid with a short-lived helper container (no "volume owned by root").'),
    })
    .prefault({})
    .describe('Persistent home, kept when the container is removed.'),
  sharedMounts: z.array(SharedMountSchema).default([]).describe('Shared folders (e.g. /shared), rw or ro per group.'),
  volumes: z.array(MountSchema).default([]).describe('Extra mounts for every server.'),
  limits: LimitsSchema.prefault({}).describe('Resource limits for every server; shown on the spawn page.'),
  groupLimits: z
    .record(z.string(), LimitsSchema)
    .default({})
    .describe("Limits by group (the largest value among the user's groups wins over `limits`); a profile's limits (request.limits) win over both."),
  git: z
    .strictObject({
      credentials: z.boolean().default(true).describe('Install the git credential helper that fetches a fresh token from the hub (GET /hub/api/users/:name/git-credentials).'),
      userName: z.string().optional().describe('git user.name; {username} expanded, unescaped (default: the user name).'),
      userEmail: z.string().optional().describe('git user.email; {username} expanded, unescaped.'),
      repos: z
        .array(z.strictObject({ url: z.string().min(1), dir: z.string().regex(/^[^/][^\0]*$/).optional(), branch: z.string().optional() }))
        .default([])
        .describe('Repositories cloned (or pulled, fast-forward only) into the home at each start.'),
    })
    .prefault({})
    .describe('Git credentials and repositories.'),
  envDelivery: z
    .enum(['file', 'env'])
    .default('file')
    .describe("'file': the environment (with the server's API token) is written into the container before each start and read by LabHub's entrypoint wrapper, so no token shows in `docker inspect`; 'env': plain container environment (images without /bin/sh)."),
  entrypoint: z
    .enum(['labhub', 'image'])
    .default('labhub')
    .describe("'labhub': /opt/labhub/bin/labhub-start wraps the image's entrypoint (sources /opt/labhub/env, clones repos); 'image': keep the image's entrypoint, which must source $LABHUB_ENV_FILE itself (LabHub images do)."),
  labels: z.record(z.string(), z.string()).default({}).describe('Extra labels on containers and volumes.'),
  stopTimeoutSeconds: z.number().int().min(0).default(10).describe('Seconds between SIGTERM and SIGKILL on stop.'),
  extraCreate: z.record(z.string(), z.unknown()).default({}).describe('Deep-merged into the container create body (escape hatch).'),
  extraHost: z.record(z.string(), z.unknown()).default({}).describe('Deep-merged into HostConfig (escape hatch), e.g. {ShmSize: 1073741824}.'),
  helperImage: z.string().optional().describe('Image of the short-lived helper that fixes home ownership (default: the server image; needs /bin/sh and chown).'),
});

export type DockerSpawnerConfig = z.infer<typeof DockerSpawnerSchema>;
export type DockerLimits = z.infer<typeof LimitsSchema>;
export type DockerHostConfig = z.infer<typeof DockerHostSchema>;
