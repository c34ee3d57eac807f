/**
 * The hub's background housekeeping (expired sessions, tokens, audit rows, in the route loop) must not
 * end the hub when it fails — for example the database busy past its timeout while an admin runs
 * `labhub db backup`. A purge that throws is logged and retried on the next round; the hub keeps serving.
 * (An exception escaping the timer would be an uncaught exception: vitest fails the run on it.)
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { loadConfig } from '../../config/load.js';
import { startHub } from '../../hub/app.js';
import { testPort, testPortPair } from '../helpers/test-ports.js';

it('a failing purge in the route loop is retried each round and the hub keeps serving', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'labhub-housekeeping-'));
  const file = join(dataDir, 'labhub.yaml');
  writeFileSync(file, 'logLevel: silent\nproxy:\n  routeCheckIntervalSeconds: 0.1\n');
  const loaded = loadConfig({ env: {}, file, cli: { port: await testPortPair(), hubPort: await testPort(), dataDir } });
  const running = await startHub(loaded, { announce: () => undefined });
  try {
    let calls = 0;
    running.hub.sessionStore.purgeExpired = () => {
      calls++;
      throw new Error('SqliteError: database is locked');
    };
    await expect.poll(() => calls, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    expect((await fetch(`${running.hubUrl}/hub/api`)).status).toBe(200);
  } finally {
    await running.close();
  }
});
