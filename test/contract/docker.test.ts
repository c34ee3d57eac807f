/**
 * The Docker spawner against the shared spawner contract, on a real dockerd AND on Podman's
 * Docker-compatible API (both started by test/setup/docker.sh), with a busybox image serving HTTP.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { buildSingleUserEnv, serverPrefix } from '../../hub/env.js';
import { DockerSpawnerSchema } from '../../spawners/docker-options.js';
import { DockerSpawner } from '../../spawners/docker.js';
import { cleanupTestObjects, engineClient, engineProblem, leftovers, readDockerEnv, requireEngine } from '../helpers/docker-env.js';
import { runSpawnerContract } from './spawner.contract.js';

const env = readDockerEnv();
const log = { info() {}, warn() {}, error() {}, debug() {} };

for (const engine of ['dockerd', 'podman', 'podman over tcp'] as const) {
  const sock = engine === 'dockerd' ? env?.DOCKER_SOCK : engine === 'podman' ? env?.PODMAN_SOCK : env?.PODMAN_TCP;
  const url = sock?.startsWith('tcp://') ? sock : `unix://${sock}`;
  const problem = await engineProblem(sock);
  if (!requireEngine(`docker spawner contract on ${engine}`, problem)) {
    describe.skip(`spawner contract: docker (${engine}) — skipped: ${problem}`, () => it('needs an engine', () => undefined));
    continue;
  }
  const runId = `contract-${engine.replaceAll(' ', '-')}-${process.pid}`;
  const ctx = { dataDir: '/nonexistent', log, hubId: runId };
  const options = DockerSpawnerSchema.parse({
    kind: 'docker',
    hosts: [{ url }],
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
      const docker = engineClient(sock!);
      await cleanupTestObjects(docker, runId);
      expect(await leftovers(docker, runId)).toEqual([]);
    });
    it('labels every container it creates with the hub id and the user', async () => {
      const docker = engineClient(sock!);
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
