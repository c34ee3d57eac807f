/**
 * The Docker spawner against the shared spawner contract, on a real dockerd AND on Podman's
 * Docker-compatible API (both started by test/setup/docker.sh), over unix sockets, Podman over plain TCP
 * and dockerd over TCP with TLS client certificates, with a busybox image serving HTTP.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { buildSingleUserEnv, serverPrefix } from '../../hub/env.js';
import { DockerSpawnerSchema } from '../../spawners/docker-options.js';
import { DockerSpawner } from '../../spawners/docker.js';
import { cleanupTestObjects, engineClient, engineProblem, leftovers, readDockerEnv, requireEngine, tlsFiles } from '../helpers/docker-env.js';
import { runSpawnerContract } from './spawner.contract.js';

const env = readDockerEnv();
const log = { info() {}, warn() {}, error() {}, debug() {} };

const engines = [
  { engine: 'dockerd', sock: env?.DOCKER_SOCK },
  { engine: 'podman', sock: env?.PODMAN_SOCK },
  { engine: 'podman over tcp', sock: env?.PODMAN_TCP },
  { engine: 'dockerd over tcp+tls', sock: env?.DOCKER_TLS_URL, tlsDir: env?.DOCKER_TLS_DIR },
];
for (const { engine, sock, tlsDir } of engines) {
  const url = sock?.startsWith('tcp://') ? sock : `unix://${sock}`;
  const problem = tlsDir || !engine.includes('tls') ? await engineProblem(sock, tlsDir) : 'no TLS material';
  if (!requireEngine(`docker spawner contract on ${engine}`, problem)) {
    describe.skip(`spawner contract: docker (${engine}) — skipped: ${problem}`, () => it('needs an engine', () => undefined));
    continue;
  }
  const runId = `contract-${engine.replace(/[^a-z]+/g, '-')}-${process.pid}`;
  const ctx = { dataDir: '/nonexistent', log, hubId: runId };
  const options = DockerSpawnerSchema.parse({
    kind: 'docker',
    hosts: [{ url, ...(tlsDir ? { tls: tlsFiles(tlsDir) } : {}) }],
    image: env!.LABHUB_TEST_IMAGE_BB,
    pullPolicy: 'never',
    cmd: ['httpd', '-f', '-p', '8888', '-h', '/www'],
    labels: { 'labhub.test': runId },
    stopTimeoutSeconds: 2,
  });
  const request = (id: { user: string; serverName: string }) => ({
    user: id.user,
    serverName: id.serverName,
    servicePrefix: serverPrefix(id.user, id.serverName),
    env: buildSingleUserEnv({ user: id.user, serverName: id.serverName, apiToken: 'x'.repeat(32), hubApiUrl: 'http://127.0.0.1:1/hub/api' }),
    userOptions: {},
  });
  runSpawnerContract({ name: `docker (${engine})`, create: (id, state) => new DockerSpawner(ctx, options, id, state), request });

  describe(`docker (${engine}) contract cleanup`, () => {
    afterAll(async () => {
      const docker = engineClient(sock!, tlsDir);
      await cleanupTestObjects(docker, runId);
      expect(await leftovers(docker, runId)).toEqual([]);
    });
    it('labels every container it creates with the hub id and the user', async () => {
      const docker = engineClient(sock!, tlsDir);
      const id = { user: `Label.${process.pid}`, serverName: 'nb' };
      const s = new DockerSpawner(ctx, options, id);
      await s.start({ ...request(id), signal: AbortSignal.timeout(30_000) });
      try {
        const info = await docker.getContainer(String(s.getState().containerId)).inspect();
        expect(info.Name).toBe(`/labhub--4cabel-2e${process.pid}--nb`);
        expect(info.Config.Labels).toMatchObject({ 'labhub.user': id.user, 'labhub.server': 'nb', 'labhub.hub': runId });
        expect(info.HostConfig.Init).toBe(true);
      } finally {
        await s.stop();
      }
    });
  });
}

describe('docker over tcp+tls: the client certificate is required', () => {
  it('without the client certificate the host is unreachable, with a clear message', async () => {
    if (!env?.DOCKER_TLS_URL || (await engineProblem(env.DOCKER_TLS_URL, env.DOCKER_TLS_DIR))) {
      if (!requireEngine('dockerd over tcp+tls', 'not available')) return;
    }
    const opts = DockerSpawnerSchema.parse({
      kind: 'docker',
      hosts: [{ url: env!.DOCKER_TLS_URL, tls: { ca: tlsFiles(env!.DOCKER_TLS_DIR).ca } }],
      image: env!.LABHUB_TEST_IMAGE_BB,
    });
    const s = new DockerSpawner({ dataDir: '/nonexistent', log, hubId: `tls-${process.pid}` }, opts, { user: 'tls', serverName: '' });
    const err = await s
      .start({ user: 'tls', serverName: '', servicePrefix: '/user/tls/', env: {}, userOptions: {}, signal: AbortSignal.timeout(10_000) })
      .catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(new RegExp(`^No Docker host is reachable: tcp://127\\.0\\.0\\.1:\\d+ \\(.*(certificate|handshake|bad|alert|socket hang up|ECONNRESET)`, 'i'));
  });
});
