/**
 * The EC2 spawner against the shared spawner contract, talking to the local EC2-compatible fake
 * (test/fakes/fake-ec2) whose instances are real processes started from the user-data.
 */
import { afterAll } from 'vitest';
import { Ec2Spawner } from '../../spawners/ec2.js';
import { ec2Options, fakeEc2Unavailable, request, silentLog, startFakes } from '../fakes/fake-ec2/setup.js';
import { runSpawnerContract } from './spawner.contract.js';

const missing = fakeEc2Unavailable();
if (missing && process.env.CI === 'true') throw new Error(`EC2 contract tests cannot run: ${missing}`);
if (missing) console.warn(`skipping EC2 contract: ${missing}`);

const { fake, boot } = await startFakes();
const options = await ec2Options(fake);
const ctx = { dataDir: '/nonexistent', log: silentLog, hubId: 'contract-hub' };
afterAll(async () => {
  await fake.close();
  await boot.close();
});

// without the fake (it needs root) the suite isn't registered: CI fails above, elsewhere a warning says why
if (!missing) {
  runSpawnerContract({
    name: 'ec2 (fake EC2 API)',
    create: (id, state) => new Ec2Spawner(ctx, options, id, state),
    request: (id) => request(boot, id),
  });
}
