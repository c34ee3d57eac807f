/** Options of the EC2 spawner (config key `spawner` with kind: ec2): one VM per user server. */
import { z } from 'zod';

export const Ec2ProfileSchema = z.strictObject({
  displayName: z.string().optional().describe('Name shown to users when they choose a profile.'),
  launchTemplate: z
    .strictObject({
      id: z.string().optional().describe('Launch template id (lt-…).'),
      name: z.string().optional().describe('Launch template name (instead of id).'),
      version: z.string().default('$Default').describe("Template version: a number, '$Latest' or '$Default'."),
    })
    .optional()
    .describe('Launch template to start from; the keys below override what it sets.'),
  imageId: z.string().optional().describe('AMI id (ami-…); required unless the launch template sets it.'),
  instanceType: z.string().optional().describe('Instance type, e.g. t3.medium; required unless the launch template sets it.'),
  subnetId: z.string().optional().describe('Subnet the instance starts in (pins the availability zone).'),
  securityGroupIds: z.array(z.string()).default([]).describe('Security groups; must allow the hub to reach `port`.'),
  iamInstanceProfile: z
    .strictObject({ arn: z.string().optional(), name: z.string().optional() })
    .optional()
    .describe('IAM instance profile (arn or name) given to the VM.'),
  keyName: z.string().optional().describe('EC2 key pair name for SSH access by organisers.'),
  rootVolumeGiB: z.number().int().positive().optional().describe('Size of the root EBS volume (GiB); default from the AMI.'),
  maxRunning: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe('Cost guard: at most this many instances of this profile may be pending/running at once (counted by tags in EC2). Unset = no limit.'),
  tags: z.record(z.string(), z.string()).default({}).describe('Extra tags on instances and volumes of this profile (e.g. course, cost centre).'),
});

export const Ec2SpawnerSchema = z.strictObject({
  kind: z.literal('ec2'),
  region: z.string().optional().describe('AWS region; default from the standard chain (AWS_REGION, ~/.aws/config).'),
  endpoint: z.string().url().optional().describe('EC2 API endpoint override (VPC endpoint, LocalStack, test server). Credentials always come from the standard AWS chain.'),
  maxAttempts: z.number().int().min(1).max(20).default(6).describe('Attempts per EC2 API call, with the SDK standard retry strategy (exponential backoff; throttling such as RequestLimitExceeded is retried).'),
  profiles: z
    .record(z.string().min(1), Ec2ProfileSchema)
    .refine((p) => Object.keys(p).length > 0, 'at least one profile is needed')
    .describe('Instance profiles by name; users choose one with the user option `profile`.'),
  defaultProfile: z.string().optional().describe('Profile used when the user chose none (default: the first).'),
  persistence: z
    .enum(['stop', 'terminate'])
    .default('stop')
    .describe("'stop': stopping a server stops the instance (its EBS root survives) and the next start restarts the same instance; 'terminate': the instance is terminated and a per-user home volume (created once) is attached at each start."),
  homeVolume: z
    .strictObject({
      sizeGiB: z.number().int().positive().default(10).describe('Size of the per-user home volume.'),
      volumeType: z.string().default('gp3').describe('EBS volume type.'),
      availabilityZone: z.string().optional().describe("Zone of new home volumes when the profile has no subnetId (instances are then placed in the volume's zone)."),
      device: z.string().default('/dev/sdf').describe('Device name used for AttachVolume.'),
      mountScript: z
        .string()
        .optional()
        .describe('Shell run by the user-data to mount the volume at the home directory; {device}, {volumeId} and {home} are expanded. Default: wait for the NVMe/xvd device, mkfs.ext4 if blank, mount.'),
    })
    .prefault({})
    .describe("Per-user home volume for persistence 'terminate'."),
  port: z.number().int().min(1).max(65535).default(8888).describe('Port the single-user server listens on inside the VM.'),
  usePublicIp: z.boolean().default(false).describe('Route to the public IP instead of the private one (hub outside the VPC).'),
  cmd: z.array(z.string().min(1)).min(1).default(['jupyterhub-singleuser']).describe('Command the VM runs (from the user-data) with the JupyterHub environment.'),
  args: z.array(z.string()).default([]).describe('Extra arguments for cmd.'),
  serverUser: z.string().default('ubuntu').describe("OS user the server runs as inside the VM ('root' needs --allow-root in args)."),
  homeDir: z.string().default('/home/{serverUser}').describe('Home (working) directory of the server inside the VM; {serverUser} and {username} are expanded.'),
  environment: z.record(z.string(), z.string()).default({}).describe('Extra environment for the server (not secret: written into user-data).'),
  metadataEndpoint: z
    .string()
    .url()
    .default('http://169.254.169.254')
    .describe('Instance metadata service (IMDSv2) the VM asks for its own private IP; use http://[fd00:ec2::254] on IPv6-only subnets.'),
  userDataPrelude: z.string().default('').describe('Shell lines run by the user-data before the server starts (runs as root on every boot).'),
  readyTimeoutSeconds: z.number().positive().default(300).describe('Time for the instance to run and its server to answer; then the instance is stopped (or terminated) and the spawn fails.'),
  pollSeconds: z.number().positive().default(2).describe('Interval of DescribeInstances / readiness checks while starting and stopping.'),
  stopTimeoutSeconds: z.number().positive().default(300).describe('Time allowed for StopInstances/TerminateInstances to finish.'),
});

export type Ec2SpawnerConfig = z.infer<typeof Ec2SpawnerSchema>;
export type Ec2ProfileConfig = z.infer<typeof Ec2ProfileSchema>;
