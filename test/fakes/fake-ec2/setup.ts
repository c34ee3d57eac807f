/** Shared setup for EC2 spawner tests: the fake EC2 server, a bootstrap stand-in and spawner options. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildSingleUserEnv, serverPrefix } from '../../../hub/env.js';
import { Ec2SpawnerSchema, type Ec2SpawnerConfig } from '../../../spawners/ec2-options.js';
import { testPort } from '../../helpers/test-ports.js';
import type { SpawnRequest } from '../../../spawners/spawner.js';
import { BootstrapServer } from './bootstrap.js';
import { FakeEc2 } from './server.js';

export const HOME_SERVER = resolve(import.meta.dirname, 'home-server.mjs');

/** Dummy credentials through the standard chain (env), as a deployment would set real ones. */
export function dummyCredentials(): Record<string, string> {
  return { AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKE', AWS_SECRET_ACCESS_KEY: 'fake-secret', AWS_EC2_METADATA_DISABLED: 'true' };
}

/** The fake runs instances in mount/PID namespaces: needs root and unshare. Fails loudly in CI. */
export function fakeEc2Unavailable(): string | null {
  if (process.getuid?.() !== 0) return 'the fake EC2 server needs root (mount namespaces for instances)';
  return null;
}

export async function startFakes(o: { newIpOnStart?: boolean } = {}) {
  Object.assign(process.env, dummyCredentials());
  const dataDir = mkdtempSync(join(tmpdir(), 'labhub-fake-ec2-'));
  const fake = await new FakeEc2({ dataDir, region: 'eu-west-2', newIpOnStart: o.newIpOnStart }).start();
  const boot = await new BootstrapServer().start();
  return { fake, boot, dataDir };
}

export async function ec2Options(fake: FakeEc2, over: Record<string, unknown> = {}): Promise<Ec2SpawnerConfig> {
  return Ec2SpawnerSchema.parse({
    kind: 'ec2',
    region: 'eu-west-2',
    endpoint: fake.endpoint,
    metadataEndpoint: fake.metadataEndpoint,
    maxAttempts: 4,
    port: await testPort(),
    cmd: [process.execPath, HOME_SERVER],
    serverUser: 'root',
    homeDir: '/home/labhub',
    pollSeconds: 0.2,
    readyTimeoutSeconds: 20,
    stopTimeoutSeconds: 20,
    profiles: {
      course: { displayName: 'Course VM', imageId: 'ami-0123456789abcdef0', instanceType: 't3.medium', subnetId: 'subnet-0abc', securityGroupIds: ['sg-0hub'], iamInstanceProfile: { name: 'labhub-course-vm' }, tags: { course: 'bioinf-2026' } },
    },
    ...over,
  });
}

export function request(boot: BootstrapServer, id: { user: string; serverName: string }, userOptions: Record<string, unknown> = {}): Omit<SpawnRequest, 'signal'> {
  const env = buildSingleUserEnv({ user: id.user, serverName: id.serverName, apiToken: `tok-${id.user}-${'x'.repeat(24)}`, hubApiUrl: `${boot.base}/hub/api` });
  return { user: id.user, serverName: id.serverName, servicePrefix: serverPrefix(id.user, id.serverName), env, userOptions, bootstrapUrl: () => boot.url(env) };
}

export const silentLog = { info() {}, warn() {}, error() {}, debug() {} };
