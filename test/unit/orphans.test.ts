/** hub/orphans.ts: places from base spawner, profiles and choices, listed once; an engine that cannot be reached is reported, not fatal. */
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../config/schema.js';
import { openDb } from '../../hub/db/db.js';
import { ServerRepo } from '../../hub/db/servers.js';
import { UserRepo } from '../../hub/db/users.js';
import { findOrphans, workloadPlaces } from '../../hub/orphans.js';
import { loadSpawnerKinds } from '../../spawners/registry.js';

const log = { info() {}, warn() {}, error() {}, debug() {}, child() { return log; } } as never;

describe('orphans', () => {
  it('lists each Docker host set / EC2 region once, across profiles and choices; local has none', async () => {
    await loadSpawnerKinds(['docker', 'ec2']);
    const config = ConfigSchema.parse({
      spawner: { kind: 'docker', hosts: [{ url: 'unix:///nonexistent/a.sock' }] },
      profiles: [
        { slug: 'same', displayName: 'Same hosts', spawner: { image: 'other:1' } },
        { slug: 'gpu', displayName: 'GPU host', spawner: { hosts: [{ url: 'unix:///nonexistent/gpu.sock' }] }, options: { size: { displayName: 'Size', choices: { vm: { displayName: 'VM', spawner: { kind: 'ec2', region: 'eu-west-2', profiles: { small: { imageId: 'ami-1', instanceType: 't3.small' } } } } } } } },
        { slug: 'plain', displayName: 'Plain', spawner: { kind: 'local' } },
      ],
    });
    expect(workloadPlaces(config).map((p) => p.key)).toEqual(['docker unix:///nonexistent/a.sock', 'docker unix:///nonexistent/gpu.sock', 'ec2 eu-west-2 ']);
  });

  it('an unreachable engine is an error entry, the report still comes back', async () => {
    await loadSpawnerKinds(['docker']);
    const db = openDb(':memory:');
    const config = ConfigSchema.parse({ spawner: { kind: 'docker', hosts: [{ url: 'unix:///nonexistent/engine.sock' }] } });
    const report = await findOrphans({ config, users: new UserRepo(db), servers: new ServerRepo(db), hubId: 'abc', log });
    expect(report.orphans).toEqual([]);
    expect(report.errors).toEqual([{ place: 'docker unix:///nonexistent/engine.sock', message: expect.stringMatching(/ENOENT|connect/) }]);
  });
});
