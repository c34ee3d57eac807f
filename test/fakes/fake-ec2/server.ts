/**
 * A local EC2-API-compatible server for tests (AWS Query protocol over HTTP: form-encoded POST with
 * Action=…, XML answers in the EC2 namespace, errors as <Response><Errors><Error><Code>…).
 *
 * Its "instances" are real local processes: on boot the shell part of the user-data is run with
 * bash, as root, in its own mount and PID namespace where /home and /var/log are the instance's
 * own directories (its "root volume", kept across stop/start, deleted on terminate). Every instance
 * gets its own private IP on loopback (127.0.0.x). An IMDSv2 endpoint answers local-ipv4 etc. for
 * the instance whose process is asking (found through /proc, as real IMDS knows the caller's ENI).
 * EBS volumes are directories; an attached volume appears inside the instance at /mnt/fake-ebs/<dev>.
 *
 * Faults: failNext(action, code, times) makes the next calls fail with the real EC2 error shape.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tcpSockets } from '../../../spawners/listening.js';
import { errorXml, list, obj, parseQuery, responseXml, str, type Params } from './query.js';

const STATE_CODES: Record<string, number> = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48, stopping: 64, stopped: 80 };

/** HTTP status EC2 uses for an error code. */
function statusFor(code: string): number {
  if (code === 'RequestLimitExceeded') return 503;
  if (code === 'InsufficientInstanceCapacity' || code === 'InternalError') return 500;
  if (code === 'UnauthorizedOperation' || code === 'AuthFailure') return 403;
  return 400;
}

class Ec2Error extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface FakeInstance {
  id: string;
  state: string;
  imageId: string;
  instanceType: string;
  az: string;
  subnetId: string;
  privateIp: string;
  publicIp: string | null;
  tags: Record<string, string>;
  userData: string;
  launchTime: Date;
  clientToken?: string;
  securityGroups: string[];
  iamInstanceProfile?: string;
  launchTemplate?: string;
  keyName?: string;
  metadataHttpTokens?: string;
  root: string;
  proc: ChildProcess | null;
  stateReason?: { code: string; message: string };
  boots: number;
}

export interface FakeVolume {
  id: string;
  az: string;
  size: number;
  type: string;
  state: string;
  tags: Record<string, string>;
  dir: string;
  attachment?: { instanceId: string; device: string; state: string };
  createTime: Date;
}

export interface FakeEc2Options {
  dataDir: string;
  region?: string;
  /** Delay of pending → running and stopping → stopped. */
  transitionMs?: number;
  /** Give an instance a new private IP on every start (real VPCs keep it; shows re-routing). */
  newIpOnStart?: boolean;
}

export class FakeEc2 {
  readonly instances = new Map<string, FakeInstance>();
  readonly volumes = new Map<string, FakeVolume>();
  readonly calls: Array<{ action: string; params: Params }> = [];
  private readonly faults: Array<{ action: string; code: string; message: string; times: number }> = [];
  private api!: Server;
  private imds!: Server;
  private imdsTokens = new Set<string>();
  private readonly region: string;
  private readonly transitionMs: number;
  endpoint = '';
  metadataEndpoint = '';

  constructor(private readonly o: FakeEc2Options) {
    this.region = o.region ?? 'eu-west-2';
    this.transitionMs = o.transitionMs ?? 150;
    mkdirSync(join(o.dataDir, 'instances'), { recursive: true });
    mkdirSync(join(o.dataDir, 'volumes'), { recursive: true });
  }

  async start(): Promise<this> {
    this.api = createServer((req, res) => void this.handleApi(req, res));
    this.imds = createServer((req, res) => this.handleImds(req, res));
    await Promise.all([listen(this.api), listen(this.imds)]);
    this.endpoint = `http://127.0.0.1:${(this.api.address() as AddressInfo).port}`;
    this.metadataEndpoint = `http://127.0.0.1:${(this.imds.address() as AddressInfo).port}`;
    return this;
  }

  /** The next `times` calls of `action` fail with EC2 error `code`. */
  failNext(action: string, code: string, times = 1, message = `fake: ${code}`): void {
    this.faults.push({ action, code, message, times });
  }

  /** Injected failures not yet returned. */
  pendingFaults(): number {
    return this.faults.reduce((n, f) => n + f.times, 0);
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  callsOf(action: string): Params[] {
    return this.calls.filter((c) => c.action === action).map((c) => c.params);
  }

  async close(): Promise<void> {
    await Promise.all([...this.instances.values()].map((i) => this.kill(i)));
    await Promise.all([new Promise((r) => this.api?.close(r)), new Promise((r) => this.imds?.close(r))]);
    this.api?.closeAllConnections();
    this.imds?.closeAllConnections();
    rmSync(this.o.dataDir, { recursive: true, force: true }); // instance roots and volumes (their mounts died with the namespaces)
  }

  // --------------------------------------------------------------------------------------------
  // API

  private async handleApi(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString();
    const params = parseQuery(req.method === 'POST' ? body : (req.url ?? '').split('?')[1] ?? '');
    const action = str(params.Action) ?? '';
    this.calls.push({ action, params });
    const send = (status: number, xml: string) => res.writeHead(status, { 'Content-Type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId }).end(xml);
    try {
      if (!/^AWS4-HMAC-SHA256 Credential=/.test(req.headers.authorization ?? '')) throw new Ec2Error('AuthFailure', 'AWS was not able to validate the provided access credentials');
      const fault = this.faults.find((f) => f.action === action && f.times > 0);
      if (fault) {
        fault.times--;
        throw new Ec2Error(fault.code, fault.message);
      }
      const handler = this.actions[action];
      if (!handler) throw new Ec2Error('InvalidAction', `The action ${action} is not valid for this web service.`);
      send(200, responseXml(action, requestId, await handler(params)));
    } catch (err) {
      const e = err instanceof Ec2Error ? err : new Ec2Error('InternalError', String((err as Error)?.stack ?? err));
      send(statusFor(e.code), errorXml(e.code, e.message, requestId));
    }
  }

  private readonly actions: Record<string, (p: Params) => Promise<Record<string, unknown>> | Record<string, unknown>> = {
    RunInstances: (p) => this.runInstances(p),
    DescribeInstances: (p) => {
      const ids = list<string>(p.InstanceId);
      for (const id of ids) if (!this.instances.has(id)) throw new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
      const filters = list<Params>(p.Filter).map((f) => ({ name: str(f.Name) ?? '', values: list<string>(f.Value) }));
      const found = [...this.instances.values()].filter((i) => (!ids.length || ids.includes(i.id)) && filters.every((f) => matchInstance(i, f.name, f.values)));
      return { reservationSet: found.map((i) => ({ reservationId: `r-${i.id.slice(2)}`, ownerId: '123456789012', groupSet: [], instancesSet: [this.instanceXml(i)] })) };
    },
    StartInstances: (p) => this.transition(p, (i) => this.startInstance(i)),
    StopInstances: (p) => this.transition(p, (i) => this.stopInstance(i)),
    TerminateInstances: (p) => this.transition(p, (i) => this.terminateInstance(i)),
    ModifyInstanceAttribute: (p) => {
      const i = this.get(str(p.InstanceId));
      const ud = str(obj(p.UserData).Value);
      if (ud !== undefined) {
        if (i.state !== 'stopped') throw new Ec2Error('IncorrectInstanceState', `The instance '${i.id}' is not in the 'stopped' state.`);
        i.userData = Buffer.from(ud, 'base64').toString();
      }
      return { return: true };
    },
    DescribeSubnets: (p) => ({
      subnetSet: list<string>(p.SubnetId).map((id) => ({ subnetId: id, availabilityZone: `${this.region}a`, vpcId: 'vpc-fake', cidrBlock: '127.0.0.0/24', state: 'available' })),
    }),
    CreateVolume: (p) => {
      const id = `vol-${randomBytes(8).toString('hex').slice(0, 17)}`;
      const dir = join(this.o.dataDir, 'volumes', id);
      mkdirSync(dir, { recursive: true });
      const v: FakeVolume = {
        id,
        az: str(p.AvailabilityZone) ?? `${this.region}a`,
        size: Number(str(p.Size) ?? 8),
        type: str(p.VolumeType) ?? 'gp2',
        state: 'creating',
        tags: tagsFrom(p, 'volume'),
        dir,
        createTime: new Date(),
      };
      this.volumes.set(id, v);
      setTimeout(() => v.state === 'creating' && (v.state = 'available'), this.transitionMs).unref();
      return { volumeId: id, size: v.size, availabilityZone: v.az, status: v.state, createTime: v.createTime, volumeType: v.type, tagSet: tagSet(v.tags) };
    },
    DescribeVolumes: (p) => {
      const ids = list<string>(p.VolumeId);
      for (const id of ids) if (!this.volumes.has(id)) throw new Ec2Error('InvalidVolume.NotFound', `The volume '${id}' does not exist.`);
      const filters = list<Params>(p.Filter).map((f) => ({ name: str(f.Name) ?? '', values: list<string>(f.Value) }));
      const found = [...this.volumes.values()].filter((v) => (!ids.length || ids.includes(v.id)) && filters.every((f) => matchTags(v.tags, f.name, f.values) ?? (f.name === 'status' ? f.values.includes(v.state) : true)));
      return { volumeSet: found.map((v) => this.volumeXml(v)) };
    },
    AttachVolume: (p) => {
      const v = this.volumes.get(str(p.VolumeId) ?? '');
      if (!v) throw new Ec2Error('InvalidVolume.NotFound', `The volume '${str(p.VolumeId)}' does not exist.`);
      const i = this.get(str(p.InstanceId));
      if (v.state !== 'available') throw new Ec2Error('VolumeInUse', `${v.id} is already attached to an instance`);
      if (v.az !== i.az) throw new Ec2Error('InvalidVolume.ZoneMismatch', `The volume '${v.id}' is not in the same availability zone as instance '${i.id}'`);
      const device = str(p.Device) ?? '/dev/sdf';
      v.state = 'in-use';
      v.attachment = { instanceId: i.id, device, state: 'attaching' };
      setTimeout(() => {
        if (v.attachment?.instanceId !== i.id) return;
        const link = join(i.root, 'dev-ebs', device.split('/').pop()!);
        mkdirSync(join(i.root, 'dev-ebs'), { recursive: true });
        if (!existsSync(link)) symlinkSync(v.dir, link);
        v.attachment.state = 'attached';
      }, this.transitionMs).unref();
      return { volumeId: v.id, instanceId: i.id, device, status: 'attaching', attachTime: new Date() };
    },
  };

  private get(id: string | undefined): FakeInstance {
    const i = this.instances.get(id ?? '');
    if (!i) throw new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
    return i;
  }

  private runInstances(p: Params): Record<string, unknown> {
    const token = str(p.ClientToken);
    if (token) {
      const same = [...this.instances.values()].find((i) => i.clientToken === token);
      if (same) return this.reservation([same]);
    }
    const lt = obj(p.LaunchTemplate);
    const template = str(lt.LaunchTemplateId) ?? str(lt.LaunchTemplateName);
    const imageId = str(p.ImageId) ?? (template ? 'ami-from-template' : undefined);
    if (!imageId) throw new Ec2Error('MissingParameter', 'The request must contain the parameter ImageId');
    if (!/^ami-/.test(imageId)) throw new Ec2Error('InvalidAMIID.Malformed', `Invalid id: "${imageId}" (expecting "ami-...")`);
    const count = Number(str(p.MinCount) ?? 1);
    const out: FakeInstance[] = [];
    for (let n = 0; n < count; n++) {
      const id = `i-${randomBytes(9).toString('hex').slice(0, 17)}`;
      const root = join(this.o.dataDir, 'instances', id);
      mkdirSync(join(root, 'home'), { recursive: true });
      mkdirSync(join(root, 'log'), { recursive: true });
      mkdirSync(join(root, 'dev-ebs'), { recursive: true });
      const i: FakeInstance = {
        id,
        state: 'pending',
        imageId,
        instanceType: str(p.InstanceType) ?? 't3.micro',
        az: str(obj(p.Placement).AvailabilityZone) ?? `${this.region}a`,
        subnetId: str(p.SubnetId) ?? 'subnet-default',
        privateIp: this.allocIp(),
        publicIp: null,
        tags: tagsFrom(p, 'instance'),
        userData: Buffer.from(str(p.UserData) ?? '', 'base64').toString(),
        launchTime: new Date(),
        clientToken: token,
        securityGroups: list<string>(p.SecurityGroupId),
        iamInstanceProfile: str(obj(p.IamInstanceProfile).Name) ?? str(obj(p.IamInstanceProfile).Arn),
        launchTemplate: template,
        keyName: str(p.KeyName),
        metadataHttpTokens: str(obj(p.MetadataOptions).HttpTokens),
        root,
        proc: null,
        boots: 0,
      };
      this.instances.set(id, i);
      out.push(i);
      this.later(i, 'pending', () => this.boot(i));
    }
    return this.reservation(out);
  }

  private reservation(list: FakeInstance[]): Record<string, unknown> {
    return { reservationId: `r-${randomBytes(8).toString('hex')}`, ownerId: '123456789012', groupSet: [], instancesSet: list.map((i) => this.instanceXml(i)) };
  }

  /** A free 127.0.0.x (random, so fakes in parallel test files rarely pick the same address). */
  private allocIp(): string {
    const used = new Set([...this.instances.values()].filter((i) => i.state !== 'terminated').map((i) => i.privateIp));
    for (let n = 0; n < 1000; n++) {
      const ip = `127.0.0.${10 + Math.floor(Math.random() * 240)}`;
      if (!used.has(ip)) return ip;
    }
    throw new Ec2Error('InsufficientFreeAddressesInSubnet', 'no free addresses in the fake subnet');
  }

  private transition(p: Params, fn: (i: FakeInstance) => void): Record<string, unknown> {
    const items = list<string>(p.InstanceId).map((id) => this.get(id));
    const out = items.map((i) => {
      const prev = i.state;
      fn(i);
      return { instanceId: i.id, currentState: { code: STATE_CODES[i.state], name: i.state }, previousState: { code: STATE_CODES[prev], name: prev } };
    });
    return { instancesSet: out };
  }

  private startInstance(i: FakeInstance): void {
    if (i.state === 'running' || i.state === 'pending') return;
    if (i.state !== 'stopped') throw new Ec2Error('IncorrectInstanceState', `The instance '${i.id}' is not in a state from which it can be started.`);
    i.state = 'pending';
    i.stateReason = undefined;
    if (this.o.newIpOnStart) i.privateIp = this.allocIp();
    this.later(i, 'pending', () => this.boot(i));
  }

  private stopInstance(i: FakeInstance): void {
    if (i.state === 'stopped' || i.state === 'stopping') return;
    if (i.state === 'terminated' || i.state === 'shutting-down') throw new Ec2Error('IncorrectInstanceState', `The instance '${i.id}' is not in a state from which it can be stopped.`);
    i.state = 'stopping';
    i.stateReason = { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' };
    void this.kill(i).then(() => this.later(i, 'stopping', () => (i.state = 'stopped')));
  }

  private terminateInstance(i: FakeInstance): void {
    if (i.state === 'terminated' || i.state === 'shutting-down') return;
    i.state = 'shutting-down';
    i.stateReason = { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' };
    void this.kill(i).then(() =>
      this.later(i, 'shutting-down', () => {
        for (const v of this.volumes.values()) {
          if (v.attachment?.instanceId === i.id) {
            v.attachment = undefined;
            v.state = 'available';
          }
        }
        rmSync(i.root, { recursive: true, force: true });
        i.state = 'terminated';
      }),
    );
  }

  /** Runs `fn` after the transition delay if the instance is still in `state`. */
  private later(i: FakeInstance, state: string, fn: () => void): void {
    setTimeout(() => {
      if (i.state === state) fn();
    }, this.transitionMs).unref();
  }

  /** "Boots" the instance: runs the user-data's shell part like cloud-init (every boot). */
  private boot(i: FakeInstance): void {
    i.state = 'running';
    i.boots++;
    const script = shellPart(i.userData);
    const dir = join(i.root, 'cloud');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'user-data.txt'), i.userData, { mode: 0o600 });
    writeFileSync(join(dir, 'part-001.sh'), script ?? '#!/bin/bash\necho "fake-ec2: no shell script in user-data"\n', { mode: 0o700 });
    const init = [
      'set -e',
      'root="$1"',
      'mkdir -p "$root/home" "$root/log" "$root/dev-ebs" /mnt/fake-ebs',
      'mount --bind "$root/home" /home',
      'mount --bind "$root/log" /var/log',
      'mount --bind "$root/dev-ebs" /mnt/fake-ebs',
      'set +e',
      'bash "$root/cloud/part-001.sh"',
      'echo "fake-ec2: user-data exited with $?"',
      'exec sleep infinity',
    ].join('\n');
    const fd = openSync(join(i.root, 'console.log'), 'a');
    const child = spawn('unshare', ['--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', 'bash', '-c', init, 'fake-init', i.root], {
      detached: true,
      stdio: ['ignore', fd, fd],
      cwd: '/',
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: '/root' },
    });
    closeSync(fd);
    child.on('error', () => undefined);
    i.proc = child;
  }

  private async kill(i: FakeInstance): Promise<void> {
    const p = i.proc;
    i.proc = null;
    if (!p || p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    try {
      process.kill(-p.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    const t = await Promise.race([exited.then(() => 'exited'), sleep(1500).then(() => 'timeout')]);
    if (t === 'timeout') {
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await Promise.race([exited, sleep(2000)]);
    }
  }

  instanceXml(i: FakeInstance): Record<string, unknown> {
    return {
      instanceId: i.id,
      imageId: i.imageId,
      instanceState: { code: STATE_CODES[i.state], name: i.state },
      privateDnsName: `ip-${i.privateIp.replace(/\./g, '-')}.${this.region}.compute.internal`,
      dnsName: '',
      keyName: i.keyName,
      amiLaunchIndex: 0,
      instanceType: i.instanceType,
      launchTime: i.launchTime,
      placement: { availabilityZone: i.az, tenancy: 'default' },
      subnetId: i.subnetId,
      vpcId: 'vpc-fake',
      privateIpAddress: i.state === 'terminated' ? undefined : i.privateIp,
      ipAddress: i.publicIp ?? undefined,
      stateReason: i.stateReason,
      clientToken: i.clientToken,
      groupSet: i.securityGroups.map((g) => ({ groupId: g, groupName: g })),
      iamInstanceProfile: i.iamInstanceProfile ? { arn: i.iamInstanceProfile, id: 'AIPAFAKE' } : undefined,
      tagSet: tagSet(i.tags),
    };
  }

  private volumeXml(v: FakeVolume): Record<string, unknown> {
    return {
      volumeId: v.id,
      size: v.size,
      availabilityZone: v.az,
      status: v.state,
      createTime: v.createTime,
      volumeType: v.type,
      attachmentSet: v.attachment ? [{ volumeId: v.id, instanceId: v.attachment.instanceId, device: v.attachment.device, status: v.attachment.state }] : [],
      tagSet: tagSet(v.tags),
    };
  }

  // --------------------------------------------------------------------------------------------
  // IMDSv2

  private handleImds(req: IncomingMessage, res: ServerResponse): void {
    const inst = this.instanceOfPeer(req.socket.remotePort ?? 0, (req.socket.localPort ?? 0) as number);
    if (!inst) return void res.writeHead(404).end('not called from an instance');
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      const t = randomBytes(16).toString('base64url');
      this.imdsTokens.add(t);
      return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end(t);
    }
    if (!this.imdsTokens.has(String(req.headers['x-aws-ec2-metadata-token'] ?? ''))) return void res.writeHead(401).end();
    const md: Record<string, string | null> = {
      '/latest/meta-data/local-ipv4': inst.privateIp,
      '/latest/meta-data/public-ipv4': inst.publicIp,
      '/latest/meta-data/instance-id': inst.id,
      '/latest/meta-data/placement/availability-zone': inst.az,
      '/latest/user-data': inst.userData,
    };
    const v = md[req.url ?? ''];
    if (v === undefined || v === null) return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end(v);
  }

  /** Which instance owns the client end of this loopback connection (socket inode → pid → ancestors). */
  private instanceOfPeer(peerPort: number, ourPort: number): FakeInstance | undefined {
    const inode = socketInode(peerPort, ourPort);
    if (!inode) return undefined;
    const roots = new Map<number, FakeInstance>();
    for (const i of this.instances.values()) if (i.proc?.pid) roots.set(i.proc.pid, i);
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${pid}/fd`);
      } catch {
        continue;
      }
      for (const fd of fds) {
        let target = '';
        try {
          target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          continue;
        }
        if (target !== `socket:[${inode}]`) continue;
        for (let p = Number(pid), n = 0; p > 1 && n < 64; n++) {
          const hit = roots.get(p);
          if (hit) return hit;
          p = ppid(p);
        }
        return undefined;
      }
    }
    return undefined;
  }
}

function socketInode(localPort: number, remPort: number): string | undefined {
  return tcpSockets().find((s) => s.localPort === localPort && s.remotePort === remPort)?.inode;
}

function ppid(pid: number): number {
  try {
    const m = /PPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function listen(s: Server): Promise<void> {
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r()));
}

function tagsFrom(p: Params, resourceType: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of list<Params>(p.TagSpecification)) {
    if (str(spec.ResourceType) !== resourceType) continue;
    for (const t of list<Params>(spec.Tag)) out[str(t.Key) ?? ''] = str(t.Value) ?? '';
  }
  return out;
}

const tagSet = (tags: Record<string, string>) => Object.entries(tags).map(([key, value]) => ({ key, value }));

/** Tag filters: tag:K / tag-key; undefined when the filter is not about tags. */
function matchTags(tags: Record<string, string>, name: string, values: string[]): boolean | undefined {
  if (name.startsWith('tag:')) return values.includes(tags[name.slice(4)] ?? '\u0000');
  if (name === 'tag-key') return values.some((v) => v in tags);
  return undefined;
}

function matchInstance(i: FakeInstance, name: string, values: string[]): boolean {
  const t = matchTags(i.tags, name, values);
  if (t !== undefined) return t;
  if (name === 'instance-state-name') return values.includes(i.state);
  if (name === 'instance-id') return values.includes(i.id);
  if (name === 'private-ip-address') return values.includes(i.privateIp);
  throw new Ec2Error('InvalidParameterValue', `The filter '${name}' is invalid`);
}

/** The text/x-shellscript part of a MIME multi-part user-data, or the whole thing if it is a script. */
export function shellPart(userData: string): string | undefined {
  if (userData.startsWith('#!')) return userData;
  const m = /boundary="?([^"\r\n;]+)"?/.exec(userData);
  if (!m) return undefined;
  for (const part of userData.split(`--${m[1]}`)) {
    const [head, ...rest] = part.split(/\r?\n\r?\n/);
    if (/Content-Type:\s*text\/x-shellscript/i.test(head)) return rest.join('\n\n').replace(/\r?\n$/, '');
  }
  return undefined;
}

