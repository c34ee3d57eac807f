/**
 * EC2 spawner: one VM per user server (training courses: every attendee gets their own machine).
 *
 * start(): finds the user's instance by tags (labhub:hub/user/server); a stopped one is given fresh
 * user-data and restarted (StartInstances), otherwise RunInstances from the profile's launch template
 * or AMI. The user-data holds no secret: it fetches the JupyterHub environment once from the hub's
 * single-use bootstrap URL, asks IMDSv2 for the VM's private IP and starts the single-user server
 * on it. We wait for `running` and for the server to answer, with progress events, and return
 * http://<private or public IP>:<port>.
 *
 * Persistence 'stop' (default): stop() stops the instance, its EBS root volume survives, the next
 * start restarts it. Persistence 'terminate': stop() terminates; a per-user home volume (created
 * once, tagged) is attached at each start. State: {instanceId, volumeId?, region, profile, seat}.
 *
 * The SDK's standard retry strategy retries throttling (RequestLimitExceeded, Throttling, …) with
 * exponential backoff; RunInstances carries a ClientToken so a retried call never starts two VMs.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DescribeInstancesCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  EC2Client,
  ModifyInstanceAttributeCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Filter,
  type Instance,
  type RunInstancesCommandInput,
  type Tag,
  type Volume,
} from '@aws-sdk/client-ec2';
import type { Ec2ProfileConfig, Ec2SpawnerConfig } from './ec2-options.js';
import type { PollResult, Spawner, SpawnerContext, SpawnerFactory, SpawnerState, SpawnRequest, StartResult, WorkloadInventory } from './spawner.js';
import { SpawnFailure } from './spawn-failure.js';

export const TAG = {
  hub: 'labhub:hub',
  user: 'labhub:user',
  server: 'labhub:server',
  seat: 'labhub:seat',
  profile: 'labhub:profile',
  role: 'labhub:role',
} as const;

interface Ec2State {
  instanceId: string;
  volumeId?: string;
  region: string;
  profile: string;
  seat?: number;
}

const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

// ---------------------------------------------------------------------------------------------
// Clients and small helpers

const clients = new Map<string, EC2Client>();

/** One SDK client per (region, endpoint, attempts): shared retry quota and connection pool. */
export function ec2Client(opts: Pick<Ec2SpawnerConfig, 'region' | 'endpoint' | 'maxAttempts'>, region?: string): EC2Client {
  const r = region ?? opts.region;
  const key = `${r ?? ''}|${opts.endpoint ?? ''}|${opts.maxAttempts}`;
  let c = clients.get(key);
  if (!c) {
    c = new EC2Client({ region: r, endpoint: opts.endpoint, maxAttempts: opts.maxAttempts, retryMode: 'standard' });
    clients.set(key, c);
  }
  return c;
}

const tagsOf = (tags: Tag[] | undefined): Record<string, string> => Object.fromEntries((tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
const toTags = (o: Record<string, string>): Tag[] => Object.entries(o).map(([Key, Value]) => ({ Key, Value }));

function errCode(err: unknown): string {
  const e = err as { name?: string; Code?: string; code?: string };
  return e?.Code ?? e?.name ?? e?.code ?? 'Error';
}

function isNotFound(err: unknown): boolean {
  return /NotFound|InvalidInstanceID/.test(errCode(err));
}

/** Turns an EC2 API error into a SpawnFailure whose message an attendee or organiser can act on. */
export function ec2Failure(err: unknown, what: string): SpawnFailure {
  if (err instanceof SpawnFailure) return err;
  const code = errCode(err);
  const msg = String((err as Error)?.message ?? err).slice(0, 300);
  if (/InsufficientInstanceCapacity|InsufficientCapacity|InstanceLimitExceeded|VcpuLimitExceeded|MaxSpotInstanceCountExceeded/.test(code)) {
    return new SpawnFailure(`AWS has no capacity for this VM right now (${code}: ${msg}). Try again in a few minutes or choose another profile.`, 'capacity');
  }
  if (/UnauthorizedOperation|AuthFailure|AccessDenied|InvalidClientTokenId|SignatureDoesNotMatch|UnrecognizedClient|OptInRequired/.test(code)) {
    return new SpawnFailure(`The hub is not allowed to ${what} (${code}). Ask the administrator to check the hub's AWS credentials and IAM policy. ${msg}`, 'permission');
  }
  if (/RequestLimitExceeded|Throttl/.test(code)) {
    return new SpawnFailure(`The EC2 API is throttling the hub (${code}) even after retries; try again shortly.`, 'throttled');
  }
  if (/^Invalid|MissingParameter|Unsupported/.test(code)) {
    return new SpawnFailure(`EC2 rejected the request to ${what} (${code}: ${msg}); the profile configuration needs fixing.`, 'config');
  }
  if ((err as Error)?.name === 'AbortError') return new SpawnFailure(`Cancelled while trying to ${what}`, 'cancelled');
  return new SpawnFailure(`Could not ${what}: ${code}: ${msg}`, 'ec2');
}

/** Per-hub async mutex: capacity check, seat choice and launch must not interleave within one hub (launches are serialised; each is one or two API calls). */
const locks = new Map<string, Promise<unknown>>();
async function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(key) ?? Promise.resolve();
  const run = prev.catch(() => undefined).then(fn);
  locks.set(key, run);
  try {
    return await run;
  } finally {
    if (locks.get(key) === run) locks.delete(key);
  }
}

async function describeAll(client: EC2Client, filters: Filter[], signal?: AbortSignal): Promise<Instance[]> {
  const out: Instance[] = [];
  let token: string | undefined;
  for (let page = 0; page < 100; page++) {
    const r = await client.send(new DescribeInstancesCommand({ Filters: filters, NextToken: token }), { abortSignal: signal });
    for (const res of r.Reservations ?? []) out.push(...(res.Instances ?? []));
    token = r.NextToken;
    if (!token) break;
  }
  return out;
}

async function describeOne(client: EC2Client, instanceId: string, signal?: AbortSignal): Promise<Instance | undefined> {
  try {
    const r = await client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: signal });
    return r.Reservations?.[0]?.Instances?.[0];
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// User-data

export interface UserDataInput {
  bootstrapUrl: string;
  opts: Ec2SpawnerConfig;
  user: string;
  volume?: { volumeId: string };
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function homeDirFor(opts: Ec2SpawnerConfig, user: string): string {
  return opts.homeDir.replaceAll('{serverUser}', opts.serverUser).replaceAll('{username}', user);
}

const DEFAULT_MOUNT = `# wait for the EBS volume ({volumeId}); Nitro instances name it by volume id
id={volumeId}; dev=""
for i in $(seq 1 120); do
  for d in /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_\${id//-/} {device} /dev/xvd\${DEV_LETTER}; do [ -b "$d" ] && dev="$d" && break; done
  [ -n "$dev" ] && break; sleep 1
done
[ -n "$dev" ] || { echo "labhub: volume {volumeId} never appeared"; exit 1; }
blkid "$dev" >/dev/null 2>&1 || mkfs -t ext4 -q "$dev"
mountpoint -q {home} || mount "$dev" {home}`;

/**
 * Multi-part user-data: a cloud-config part so the script runs on every boot (restarts of stopped
 * instances get fresh user-data with a new bootstrap code), and the shell script itself.
 */
export function buildUserData(i: UserDataInput): string {
  const { opts } = i;
  const home = homeDirFor(opts, i.user);
  const py = `import json, os, pwd, sys, time, urllib.error, urllib.request
BOOT = ${JSON.stringify(i.bootstrapUrl)}
MD = ${JSON.stringify(opts.metadataEndpoint.replace(/\/$/, ''))}
PORT = ${opts.port}
CMD = ${JSON.stringify([...opts.cmd, ...opts.args])}
RUN_AS = ${JSON.stringify(opts.serverUser)}
HOME = ${JSON.stringify(home)}
EXTRA = ${JSON.stringify(opts.environment)}
def imds(path):
    tok = urllib.request.urlopen(urllib.request.Request(MD + '/latest/api/token', method='PUT', headers={'X-aws-ec2-metadata-token-ttl-seconds': '60'}), timeout=5).read().decode()
    return urllib.request.urlopen(urllib.request.Request(MD + '/latest/meta-data/' + path, headers={'X-aws-ec2-metadata-token': tok}), timeout=5).read().decode().strip()
ip = None
for _ in range(30):
    try:
        ip = imds('local-ipv4')
        break
    except Exception as e:
        print('labhub: metadata not ready:', e, flush=True)
        time.sleep(1)
env = None
for _ in range(60):
    try:
        env = json.load(urllib.request.urlopen(BOOT, timeout=10))['env']
        break
    except urllib.error.HTTPError as e:
        if e.code == 404:
            sys.exit('labhub: bootstrap code unknown or already used; not starting')
        time.sleep(2)
    except Exception as e:
        print('labhub: hub not reachable yet:', e, flush=True)
        time.sleep(2)
if env is None:
    sys.exit('labhub: could not fetch the server environment from the hub')
full = dict(os.environ)
full.update(EXTRA)
full.update(env)
full['JUPYTERHUB_SERVICE_URL'] = 'http://%s:%d%s' % (ip or '0.0.0.0', PORT, env.get('JUPYTERHUB_SERVICE_PREFIX', '/'))
pw = pwd.getpwnam(RUN_AS)
full.update(HOME=HOME, USER=RUN_AS, SHELL=pw.pw_shell or '/bin/bash')
os.chdir(HOME)
if pw.pw_uid != os.getuid():
    os.initgroups(RUN_AS, pw.pw_gid)
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)
print('labhub: starting', CMD[0], 'on', full['JUPYTERHUB_SERVICE_URL'], flush=True)
os.execvpe(CMD[0], CMD, full)
`;
  const mount = i.volume
    ? (opts.homeVolume.mountScript ?? DEFAULT_MOUNT)
        .replaceAll('{volumeId}', shQuote(i.volume.volumeId))
        .replaceAll('{device}', shQuote(opts.homeVolume.device))
        .replaceAll('{home}', shQuote(home))
        .replace('${DEV_LETTER}', opts.homeVolume.device.slice(-1))
    : '';
  const script = `#!/bin/bash
# LabHub EC2 spawner user-data (contains no secret; the environment is fetched once from the hub)
set -u
LOG=/var/log/labhub-singleuser.log
HOME_DIR=${shQuote(home)}
${opts.userDataPrelude}
mkdir -p "$HOME_DIR"
${mount}
[ ${shQuote(opts.serverUser)} = root ] || chown ${shQuote(opts.serverUser)}: "$HOME_DIR"
nohup python3 - >>"$LOG" 2>&1 <<'LABHUB_PY' &
${py}LABHUB_PY
echo "labhub: single-user server launched (log: $LOG)"
`;
  const b = '//LABHUB-BOUNDARY';
  return [
    `Content-Type: multipart/mixed; boundary="${b}"`,
    'MIME-Version: 1.0',
    '',
    `--${b}`,
    'Content-Type: text/cloud-config; charset="us-ascii"',
    'MIME-Version: 1.0',
    'Content-Disposition: attachment; filename="cloud-config.txt"',
    '',
    '#cloud-config',
    'cloud_final_modules:',
    '- [scripts-user, always]',
    '',
    `--${b}`,
    'Content-Type: text/x-shellscript; charset="us-ascii"',
    'MIME-Version: 1.0',
    'Content-Disposition: attachment; filename="labhub-userdata.sh"',
    '',
    script,
    `--${b}--`,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Orphans

export interface HubInstance {
  instanceId: string;
  state: string;
  user: string;
  server: string;
  seat: number | null;
  profile: string;
  privateIp: string | null;
  launchTime: string | null;
}

function describeHubInstance(i: Instance): HubInstance {
  const t = tagsOf(i.Tags);
  return {
    instanceId: i.InstanceId ?? '',
    state: i.State?.Name ?? 'unknown',
    user: t[TAG.user] ?? '',
    server: t[TAG.server] ?? '',
    seat: t[TAG.seat] ? Number(t[TAG.seat]) : null,
    profile: t[TAG.profile] ?? '',
    privateIp: i.PrivateIpAddress ?? null,
    launchTime: i.LaunchTime ? new Date(i.LaunchTime).toISOString() : null,
  };
}

/** Every non-terminated instance tagged with this hub's id. */
export async function listHubInstances(opts: Ec2SpawnerConfig, hubId: string, client: EC2Client = ec2Client(opts)): Promise<HubInstance[]> {
  const found = await describeAll(client, [
    { Name: `tag:${TAG.hub}`, Values: [hubId] },
    { Name: 'instance-state-name', Values: LIVE_STATES },
  ]);
  return found.map(describeHubInstance);
}

/**
 * Instances tagged with this hub's id that the hub does not know: `isKnown` answers from the
 * database (e.g. a server row exists for user/server and its state names this instance or is empty).
 * For an admin API; nothing is deleted here.
 */
export async function findOrphanInstances(
  opts: Ec2SpawnerConfig,
  hubId: string,
  isKnown: (i: HubInstance) => boolean,
  client?: EC2Client,
): Promise<HubInstance[]> {
  return (await listHubInstances(opts, hubId, client)).filter((i) => !isKnown(i));
}

/**
 * Terminates a user's VM(s) for good (admin "reset VM" / user deletion): the instances tagged for
 * this hub and user (and server, when given) are terminated and awaited. Home volumes are kept.
 */
export async function terminateUserInstances(
  opts: Ec2SpawnerConfig,
  hubId: string,
  who: { user: string; server?: string },
  client: EC2Client = ec2Client(opts),
): Promise<string[]> {
  const filters: Filter[] = [
    { Name: `tag:${TAG.hub}`, Values: [hubId] },
    { Name: `tag:${TAG.user}`, Values: [who.user] },
    { Name: 'instance-state-name', Values: LIVE_STATES },
  ];
  if (who.server !== undefined) filters.push({ Name: `tag:${TAG.server}`, Values: [who.server || '-'] });
  const ids = (await describeAll(client, filters)).map((i) => i.InstanceId!).filter(Boolean);
  if (!ids.length) return [];
  await client.send(new TerminateInstancesCommand({ InstanceIds: ids }));
  const deadline = Date.now() + opts.stopTimeoutSeconds * 1000;
  for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
    const states = await Promise.all(ids.map(async (id) => (await describeOne(client, id))?.State?.Name ?? 'terminated'));
    if (states.every((st) => st === 'terminated')) return ids;
    await sleep(opts.pollSeconds * 1000);
  }
  throw new Error(`instances ${ids.join(', ')} did not terminate within ${opts.stopTimeoutSeconds} s`);
}

// ---------------------------------------------------------------------------------------------
// The spawner

function parseState(state?: SpawnerState): Ec2State | null {
  if (!state || typeof state.instanceId !== 'string' || !state.instanceId) return null;
  return {
    instanceId: state.instanceId,
    volumeId: typeof state.volumeId === 'string' ? state.volumeId : undefined,
    region: typeof state.region === 'string' ? state.region : '',
    profile: typeof state.profile === 'string' ? state.profile : '',
    seat: typeof state.seat === 'number' ? state.seat : undefined,
  };
}

export class Ec2Spawner implements Spawner {
  readonly kind = 'ec2';
  private state: Ec2State | null;
  private lastReason = '';

  constructor(
    private readonly ctx: SpawnerContext,
    private readonly opts: Ec2SpawnerConfig,
    private readonly identity: { user: string; serverName: string },
    state?: SpawnerState,
  ) {
    this.state = parseState(state);
  }

  private client(): EC2Client {
    return ec2Client(this.opts, this.state?.region || undefined);
  }

  private profileName(userOptions: Record<string, unknown>): string {
    const names = Object.keys(this.opts.profiles);
    const chosen = typeof userOptions.profile === 'string' && userOptions.profile ? userOptions.profile : (this.opts.defaultProfile ?? names[0]);
    if (!this.opts.profiles[chosen]) throw new SpawnFailure(`Unknown profile '${chosen}'; choose one of: ${names.join(', ')}`, 'options');
    return chosen;
  }

  private ownFilters(): Filter[] {
    return [
      { Name: `tag:${TAG.hub}`, Values: [this.ctx.hubId] },
      { Name: `tag:${TAG.user}`, Values: [this.identity.user] },
      { Name: `tag:${TAG.server}`, Values: [this.identity.serverName || '-'] },
    ];
  }

  async start(req: SpawnRequest): Promise<StartResult> {
    try {
      return await this.launch(req);
    } catch (err) {
      throw ec2Failure(err, 'start the VM');
    }
  }

  private async launch(req: SpawnRequest): Promise<StartResult> {
    const { signal } = req;
    const progress = (p: number, message: string) => req.onProgress?.({ progress: p, message });
    const deadline = Date.now() + this.opts.readyTimeoutSeconds * 1000;
    let profileName = this.profileName(req.userOptions);
    if (!req.bootstrapUrl) throw new SpawnFailure('The EC2 spawner needs the hub bootstrap URL (the token is never written into user-data)', 'config');
    const client = this.client();
    const region = (await client.config.region().catch(() => '')) || this.opts.region || '';

    progress(5, 'Looking for your VM');
    const existing = await describeAll(client, [...this.ownFilters(), { Name: 'instance-state-name', Values: LIVE_STATES }], signal).catch((e) => {
      throw ec2Failure(e, 'list instances (ec2:DescribeInstances)');
    });
    let instance = existing.sort((a, b) => new Date(b.LaunchTime ?? 0).getTime() - new Date(a.LaunchTime ?? 0).getTime())[0];
    let volumeId: string | undefined;

    if (instance && (instance.State?.Name === 'running' || instance.State?.Name === 'pending')) {
      // the hub lost track of a running VM (crash mid-spawn): restart it so it gets a fresh token
      progress(8, `Restarting your VM ${instance.InstanceId} (it was still running)`);
      await this.sendStop(client, instance.InstanceId!, signal);
      instance = (await this.waitForState(client, instance.InstanceId!, ['stopped'], Date.now() + this.opts.stopTimeoutSeconds * 1000, signal)) ?? instance;
    }
    if (instance?.State?.Name === 'stopping') {
      progress(8, `Waiting for your VM ${instance.InstanceId} to finish stopping`);
      instance = (await this.waitForState(client, instance.InstanceId!, ['stopped'], Date.now() + this.opts.stopTimeoutSeconds * 1000, signal)) ?? instance;
    }
    if (instance && instance.State?.Name !== 'stopped') {
      throw new SpawnFailure(`Your VM ${instance.InstanceId} is still ${instance.State?.Name ?? 'busy'}; try again in a minute`, 'timeout');
    }
    // an existing VM keeps its profile (its disk was made from that profile's image)
    const ownProfile = instance ? tagsOf(instance.Tags)[TAG.profile] : undefined;
    if (ownProfile && ownProfile !== profileName && this.opts.profiles[ownProfile]) {
      progress(9, `Using your existing VM (profile '${this.opts.profiles[ownProfile].displayName ?? ownProfile}'); ask an admin to reset it to change profile`);
      profileName = ownProfile;
    }
    const profile = this.opts.profiles[profileName];

    let volumeAz: string | undefined;
    if (this.opts.persistence === 'terminate') {
      const vol = (await this.findHomeVolume(client, signal)) ?? (await this.createHomeVolume(client, profile, progress, signal));
      volumeId = vol.VolumeId;
      volumeAz = vol.AvailabilityZone;
    }
    const userData = (volId?: string) => buildUserData({ bootstrapUrl: req.bootstrapUrl!(), opts: this.opts, user: req.user, volume: volId ? { volumeId: volId } : undefined });

    let instanceId: string;
    let seat: number | undefined;
    if (instance && instance.State?.Name === 'stopped') {
      instanceId = instance.InstanceId!;
      seat = Number(tagsOf(instance.Tags)[TAG.seat]) || undefined;
      await withLock(this.ctx.hubId, async () => {
        await this.checkCapacity(client, profileName, profile, signal);
        progress(15, `Starting your VM ${instanceId} again`);
        try {
          await client.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, UserData: { Value: new TextEncoder().encode(userData(volumeId)) } }), { abortSignal: signal });
          await client.send(new StartInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: signal });
        } catch (err) {
          throw ec2Failure(err, 'start the VM (ec2:ModifyInstanceAttribute, ec2:StartInstances)');
        }
      });
    } else {
      const launched = await withLock(this.ctx.hubId, async () => {
        await this.checkCapacity(client, profileName, profile, signal);
        const seatNo = await this.freeSeat(client, signal);
        progress(10, `Requesting a ${profile.instanceType ?? 'new'} VM`);
        try {
          const r = await client.send(new RunInstancesCommand(this.runInput(profileName, profile, seatNo, userData(volumeId), volumeAz)), { abortSignal: signal });
          return { id: r.Instances?.[0]?.InstanceId, seat: seatNo };
        } catch (err) {
          throw ec2Failure(err, 'start a VM (ec2:RunInstances)');
        }
      });
      if (!launched.id) throw new SpawnFailure('RunInstances returned no instance', 'ec2');
      instanceId = launched.id;
      seat = launched.seat;
    }
    this.state = { instanceId, volumeId, region, profile: profileName, seat };
    // saved now, not when start() returns: a hub killed while the VM boots stops (or terminates) it on restart
    req.onState?.(this.getState());
    this.ctx.log.info({ user: req.user, server: req.serverName, instanceId, seat, profile: profileName }, 'ec2 instance starting');

    progress(20, `VM ${instanceId}${seat ? ` (seat ${seat})` : ''} is booting`);
    const running = await this.waitForState(client, instanceId, ['running'], deadline, signal, (s) => progress(25, `VM ${instanceId} is ${s}`));
    if (!running) throw new SpawnFailure(`VM ${instanceId} did not reach 'running' within ${this.opts.readyTimeoutSeconds} s (${this.lastReason})`, 'timeout');
    if (volumeId) await this.attachHomeVolume(client, running, volumeId, progress, signal);
    const ip = this.opts.usePublicIp ? running.PublicIpAddress : running.PrivateIpAddress;
    if (!ip) throw new SpawnFailure(`VM ${instanceId} has no ${this.opts.usePublicIp ? 'public' : 'private'} IP address`, 'ec2');
    const url = `http://${ip}:${this.opts.port}`;
    progress(50, `VM ${instanceId} is running at ${ip}; waiting for the Jupyter server`);
    const ready = await this.waitReady(client, instanceId, `${url}${req.servicePrefix}api`, deadline, signal);
    if (!ready) {
      const verb = this.opts.persistence === 'stop' ? 'stopping' : 'terminating';
      progress(60, `The server on VM ${instanceId} did not answer within ${this.opts.readyTimeoutSeconds} s (${this.lastReason}); ${verb} the VM`);
      await this.stop({ now: true }).catch((e) => this.ctx.log.warn({ err: String(e), instanceId }, 'cleanup after timeout failed'));
      throw new SpawnFailure(`The server on VM ${instanceId} did not answer within ${this.opts.readyTimeoutSeconds} s; the VM was ${verb === 'stopping' ? 'stopped' : 'terminated'}`, 'timeout');
    }
    progress(65, `Jupyter server on ${ip} answered`);
    return { url };
  }

  private runInput(profileName: string, p: Ec2ProfileConfig, seat: number, userData: string, volumeAz?: string): RunInstancesCommandInput {
    const tags: Record<string, string> = {
      ...p.tags,
      Name: `labhub-${this.identity.user}${this.identity.serverName ? `-${this.identity.serverName}` : ''}-seat${seat}`,
      [TAG.hub]: this.ctx.hubId,
      [TAG.user]: this.identity.user,
      [TAG.server]: this.identity.serverName || '-',
      [TAG.seat]: String(seat),
      [TAG.profile]: profileName,
    };
    const input: RunInstancesCommandInput = {
      MinCount: 1,
      MaxCount: 1,
      ClientToken: randomUUID(),
      ImageId: p.imageId,
      InstanceType: p.instanceType as RunInstancesCommandInput['InstanceType'],
      SubnetId: p.subnetId,
      SecurityGroupIds: p.securityGroupIds.length ? p.securityGroupIds : undefined,
      KeyName: p.keyName,
      UserData: Buffer.from(userData).toString('base64'),
      InstanceInitiatedShutdownBehavior: this.opts.persistence === 'stop' ? 'stop' : 'terminate',
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
      TagSpecifications: [
        { ResourceType: 'instance', Tags: toTags(tags) },
        { ResourceType: 'volume', Tags: toTags({ ...tags, [TAG.role]: 'root' }) },
      ],
    };
    if (volumeAz && !p.subnetId) input.Placement = { AvailabilityZone: volumeAz };
    if (p.launchTemplate) input.LaunchTemplate = { LaunchTemplateId: p.launchTemplate.id, LaunchTemplateName: p.launchTemplate.name, Version: p.launchTemplate.version };
    if (p.iamInstanceProfile) input.IamInstanceProfile = { Arn: p.iamInstanceProfile.arn, Name: p.iamInstanceProfile.name };
    if (p.rootVolumeGiB) input.BlockDeviceMappings = [{ DeviceName: '/dev/sda1', Ebs: { VolumeSize: p.rootVolumeGiB, DeleteOnTermination: true } }];
    return input;
  }

  /** Cost guard: counts pending/running instances of the profile (by tags, so every hub replica agrees). */
  private async checkCapacity(client: EC2Client, profileName: string, p: Ec2ProfileConfig, signal: AbortSignal): Promise<void> {
    if (p.maxRunning === undefined) return;
    const active = await describeAll(
      client,
      [
        { Name: `tag:${TAG.hub}`, Values: [this.ctx.hubId] },
        { Name: `tag:${TAG.profile}`, Values: [profileName] },
        { Name: 'instance-state-name', Values: ['pending', 'running'] },
      ],
      signal,
    ).catch((e) => {
      throw ec2Failure(e, 'count running instances (ec2:DescribeInstances)');
    });
    if (active.length >= p.maxRunning) {
      const name = p.displayName ?? profileName;
      throw new SpawnFailure(
        p.maxRunning === 0
          ? `Profile '${name}' is not available right now (its limit is 0 running VMs). Choose another profile or ask the course organisers.`
          : `All ${p.maxRunning} VM${p.maxRunning === 1 ? '' : 's'} of profile '${name}' are in use (limit ${p.maxRunning} running). Try again later or ask the course organisers to raise the limit.`,
        'capacity',
      );
    }
  }

  /** The lowest seat number not used by a live instance of this hub (a friendly number for the course). */
  private async freeSeat(client: EC2Client, signal: AbortSignal): Promise<number> {
    const all = await describeAll(client, [{ Name: `tag:${TAG.hub}`, Values: [this.ctx.hubId] }, { Name: 'instance-state-name', Values: LIVE_STATES }], signal).catch((e) => {
      throw ec2Failure(e, 'list instances (ec2:DescribeInstances)');
    });
    const used = new Set(all.map((i) => Number(tagsOf(i.Tags)[TAG.seat])).filter((n) => Number.isInteger(n)));
    let seat = 1;
    while (used.has(seat)) seat++;
    return seat;
  }

  private async findHomeVolume(client: EC2Client, signal: AbortSignal): Promise<Volume | undefined> {
    try {
      const r = await client.send(new DescribeVolumesCommand({ Filters: [...this.ownFilters(), { Name: `tag:${TAG.role}`, Values: ['home'] }] }), { abortSignal: signal });
      return (r.Volumes ?? []).find((v) => v.State !== 'deleting' && v.State !== 'deleted');
    } catch (err) {
      throw ec2Failure(err, 'find the home volume (ec2:DescribeVolumes)');
    }
  }

  /** Creates the user's home volume (once: later starts find it by tags) in the profile's zone. */
  private async createHomeVolume(client: EC2Client, p: Ec2ProfileConfig, progress: (p: number, m: string) => void, signal: AbortSignal): Promise<Volume> {
    try {
      let az = this.opts.homeVolume.availabilityZone;
      if (p.subnetId) az = (await client.send(new DescribeSubnetsCommand({ SubnetIds: [p.subnetId] }), { abortSignal: signal })).Subnets?.[0]?.AvailabilityZone;
      if (!az) throw new SpawnFailure("persistence 'terminate' needs the profile's subnetId or homeVolume.availabilityZone (where the home volume lives)", 'config');
      progress(8, `Creating your ${this.opts.homeVolume.sizeGiB} GiB home volume`);
      const v = await client.send(
        new CreateVolumeCommand({
          AvailabilityZone: az,
          Size: this.opts.homeVolume.sizeGiB,
          VolumeType: this.opts.homeVolume.volumeType as 'gp3',
          TagSpecifications: [{ ResourceType: 'volume', Tags: toTags({ Name: `labhub-home-${this.identity.user}`, [TAG.hub]: this.ctx.hubId, [TAG.user]: this.identity.user, [TAG.server]: this.identity.serverName || '-', [TAG.role]: 'home' }) }],
        }),
        { abortSignal: signal },
      );
      if (!v.VolumeId) throw new SpawnFailure('CreateVolume returned no volume id', 'ec2');
      return { VolumeId: v.VolumeId, AvailabilityZone: v.AvailabilityZone ?? az };
    } catch (err) {
      throw ec2Failure(err, 'create the home volume (ec2:CreateVolume)');
    }
  }

  /** Attaches the home volume to the (running) VM and waits until it is attached. */
  private async attachHomeVolume(client: EC2Client, instance: Instance, volumeId: string, progress: (p: number, m: string) => void, signal: AbortSignal): Promise<void> {
    const az = instance.Placement?.AvailabilityZone;
    const deadline = Date.now() + this.opts.stopTimeoutSeconds * 1000;
    try {
      let vol: Volume | undefined;
      for (let i = 0; Date.now() < deadline && i < 10_000; i++) {
        vol = (await client.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }), { abortSignal: signal })).Volumes?.[0];
        if (vol?.State === 'available') break;
        if (vol?.State === 'in-use' && vol.Attachments?.some((a) => a.InstanceId === instance.InstanceId)) return;
        await sleep(this.opts.pollSeconds * 1000, undefined, { signal });
      }
      if (vol?.State !== 'available') throw new SpawnFailure(`Home volume ${volumeId} is not available (state ${vol?.State ?? 'unknown'})`, 'volume');
      if (vol.AvailabilityZone && az && vol.AvailabilityZone !== az) {
        throw new SpawnFailure(`Home volume ${volumeId} is in ${vol.AvailabilityZone} but the VM started in ${az}; pin the profile's subnetId to that zone`, 'volume');
      }
      progress(35, `Attaching your home volume ${volumeId}`);
      await client.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instance.InstanceId!, Device: this.opts.homeVolume.device }), { abortSignal: signal });
      for (let i = 0; Date.now() < deadline && i < 10_000; i++) {
        vol = (await client.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }), { abortSignal: signal })).Volumes?.[0];
        if (vol?.Attachments?.some((a) => a.InstanceId === instance.InstanceId && a.State === 'attached')) return;
        await sleep(this.opts.pollSeconds * 1000, undefined, { signal });
      }
      throw new SpawnFailure(`Home volume ${volumeId} did not attach in time`, 'volume');
    } catch (err) {
      throw ec2Failure(err, 'attach the home volume (ec2:CreateVolume, ec2:AttachVolume)');
    }
  }

  /** Polls until the instance is in one of `states`; undefined on deadline. Fails fast on terminal states. */
  private async waitForState(
    client: EC2Client,
    instanceId: string,
    states: string[],
    deadline: number,
    signal?: AbortSignal,
    onChange?: (state: string) => void,
  ): Promise<Instance | undefined> {
    let last = '';
    for (let i = 0; i < 100_000; i++) {
      const inst = await describeOne(client, instanceId, signal);
      const s = inst?.State?.Name ?? 'terminated';
      if (s !== last) {
        last = s;
        onChange?.(s);
      }
      this.lastReason = `state ${s}`;
      if (states.includes(s)) return inst;
      if (!states.includes('terminated') && (s === 'terminated' || s === 'shutting-down')) {
        throw new SpawnFailure(`VM ${instanceId} is ${s}${inst?.StateReason?.Message ? `: ${inst.StateReason.Message}` : ''}`, 'exited');
      }
      if (Date.now() >= deadline) return undefined;
      await sleep(Math.min(this.opts.pollSeconds * 1000, Math.max(0, deadline - Date.now())), undefined, signal ? { signal } : undefined);
    }
    return undefined;
  }

  /** Readiness: GET {url}{prefix}api below 500 (JupyterHub wait_for_http_server), checking the VM now and then. */
  private async waitReady(client: EC2Client, instanceId: string, url: string, deadline: number, signal: AbortSignal): Promise<boolean> {
    let delay = 200;
    let lastCheck = Date.now();
    for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
      signal.throwIfAborted();
      try {
        const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.any([signal, AbortSignal.timeout(5000)]) });
        await res.arrayBuffer().catch(() => undefined);
        if (res.status < 500) return true;
        this.lastReason = `HTTP ${res.status}`;
      } catch (err) {
        signal.throwIfAborted();
        const cause = (err as Error).cause as Error | undefined;
        this.lastReason = cause?.message ?? (err as Error).message;
      }
      if (Date.now() - lastCheck > this.opts.pollSeconds * 5000) {
        lastCheck = Date.now();
        const s = (await describeOne(client, instanceId, signal))?.State?.Name ?? 'terminated';
        if (s !== 'running') throw new SpawnFailure(`VM ${instanceId} went ${s} before its server answered`, 'exited');
      }
      await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), undefined, { signal });
      delay = Math.min(delay * 2, this.opts.pollSeconds * 1000);
    }
    return false;
  }

  private async sendStop(client: EC2Client, instanceId: string, signal?: AbortSignal): Promise<void> {
    await client.send(new StopInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal: signal });
  }

  async stop(_opts?: { now?: boolean }): Promise<void> {
    const s = this.state;
    if (!s) return;
    const client = this.client();
    const terminate = this.opts.persistence === 'terminate';
    const deadline = Date.now() + this.opts.stopTimeoutSeconds * 1000;
    try {
      if (terminate) await client.send(new TerminateInstancesCommand({ InstanceIds: [s.instanceId] }));
      else await this.sendStop(client, s.instanceId);
      const done = await this.waitForState(client, s.instanceId, terminate ? ['terminated'] : ['stopped', 'terminated'], deadline);
      if (!done) throw new Error(`VM ${s.instanceId} did not ${terminate ? 'terminate' : 'stop'} within ${this.opts.stopTimeoutSeconds} s`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.ctx.log.info({ user: this.identity.user, server: this.identity.serverName, instanceId: s.instanceId, terminate }, 'ec2 instance stopped');
    this.state = null;
  }

  async poll(): Promise<PollResult> {
    const s = this.state;
    if (!s) return { status: 'stopped', exitCode: null, reason: 'not started' };
    const inst = await describeOne(this.client(), s.instanceId);
    const name = inst?.State?.Name ?? 'terminated';
    if (name === 'pending' || name === 'running') return { status: 'running' };
    return { status: 'stopped', exitCode: null, reason: `VM ${s.instanceId} is ${name}${inst?.StateReason?.Message ? ` (${inst.StateReason.Message})` : ''}` };
  }

  getState(): SpawnerState {
    if (!this.state) return {};
    const { volumeId, seat, ...rest } = this.state;
    return { ...rest, ...(volumeId ? { volumeId } : {}), ...(seat ? { seat } : {}) };
  }
}

/** The VMs this hub launched in a region (tag labhub:hub), for orphan checks; removal terminates (home volumes stay). */
export const ec2Inventory: WorkloadInventory<Ec2SpawnerConfig> = {
  async list(ctx, options) {
    return (await listHubInstances(options, ctx.hubId)).map((i) => ({
      kind: 'ec2',
      id: i.instanceId,
      user: i.user,
      server: i.server === '-' ? '' : i.server,
      state: i.state,
      running: i.state === 'pending' || i.state === 'running',
      where: options.region ?? 'default region',
      created: i.launchTime,
    }));
  },
  async remove(_ctx, options, w) {
    await ec2Client(options).send(new TerminateInstancesCommand({ InstanceIds: [w.id] }));
  },
  placeKey: (options) => `ec2 ${options.region ?? ''} ${options.endpoint ?? ''}`,
  idInState: (state) => (typeof state.instanceId === 'string' ? state.instanceId : undefined),
};

export const ec2SpawnerFactory: SpawnerFactory<Ec2SpawnerConfig> = {
  kind: 'ec2',
  create: (ctx, options, identity, state) => new Ec2Spawner(ctx, options, identity, state),
  inventory: ec2Inventory,
};
