/** The containers this hub created on its Docker hosts (label labhub.hub), for orphan checks. */
import type { DockerSpawnerConfig } from './docker-options.js';
import { dockerClient } from './docker-client.js';
import type { Workload, WorkloadInventory } from './spawner.js';

export const dockerInventory: WorkloadInventory<DockerSpawnerConfig> = {
  async list(ctx, options) {
    const out: Workload[] = [];
    for (const host of options.hosts) {
      const containers = await dockerClient(host).listContainers({ all: true, filters: { label: [`labhub.hub=${ctx.hubId}`] } });
      for (const c of containers) {
        const labels = c.Labels ?? {};
        if (labels['labhub.helper']) continue; // short-lived home-init helpers remove themselves
        out.push({
          kind: 'docker',
          id: c.Id,
          user: labels['labhub.user'] ?? '',
          server: labels['labhub.server'] ?? '',
          state: c.State,
          running: c.State === 'running' || c.State === 'restarting' || c.State === 'paused',
          where: host.url,
          created: c.Created ? new Date(c.Created * 1000).toISOString() : null,
        });
      }
    }
    return out;
  },
  async remove(_ctx, options, w) {
    const host = options.hosts.find((h) => h.url === w.where) ?? { url: w.where };
    await dockerClient(host).getContainer(w.id).remove({ force: true, v: true });
  },
  placeKey: (options) => `docker ${options.hosts.map((h) => h.url).sort().join(' ')}`,
  idInState: (state) => (typeof state.containerId === 'string' ? state.containerId : undefined),
};
