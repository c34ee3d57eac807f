/** The local-process spawner against the shared spawner contract, with a real child process. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalSpawnerSchema } from '../../spawners/local-options.js';
import { LocalProcessSpawner } from '../../spawners/local.js';
import { SpawnFailure } from '../../spawners/spawn-failure.js';
import { buildSingleUserEnv, serverPrefix } from '../../hub/env.js';
import { runSpawnerContract } from './spawner.contract.js';

const FAKE = resolve(import.meta.dirname, '..', 'fakes', 'fake-singleuser.mjs');
const dataDir = mkdtempSync(join(tmpdir(), 'labhub-local-contract-'));
const log = { info() {}, warn() {}, error() {}, debug() {} };
const ctx = { dataDir, log, hubId: 'test' };
const options = LocalSpawnerSchema.parse({ kind: 'local', cmd: [process.execPath, FAKE], stopGraceSeconds: 2 });

const request = (id: { user: string; serverName: string }) => ({
  user: id.user,
  serverName: id.serverName,
  servicePrefix: serverPrefix(id.user, id.serverName),
  env: buildSingleUserEnv({ user: id.user, serverName: id.serverName, apiToken: 'x'.repeat(32), hubApiUrl: 'http://127.0.0.1:1/hub/api' }),
  userOptions: {},
});

runSpawnerContract({ name: 'local', create: (id, state) => new LocalProcessSpawner(ctx, options, id, state), request });

describe('local spawner specifics', () => {
  it('runs the server in its home with the JupyterHub environment and no hub secrets', async () => {
    const id = { user: 'envcheck', serverName: '' };
    const s = new LocalProcessSpawner(ctx, options, id);
    process.env.LABHUB_SHOULD_NOT_LEAK = 'secret';
    const { url } = await s.start({ ...request(id), signal: AbortSignal.timeout(10_000) });
    delete process.env.LABHUB_SHOULD_NOT_LEAK;
    try {
      let body: Record<string, string> | undefined;
      for (let i = 0; i < 50 && !body; i++) {
        body = await fetch(`${url}/user/envcheck/whoami`).then((r) => r.json() as Promise<Record<string, string>>).catch(() => undefined);
        if (!body) await new Promise((r) => setTimeout(r, 100));
      }
      expect(body).toMatchObject({ user: 'envcheck', home: join(dataDir, 'homes', 'envcheck'), cwd: join(dataDir, 'homes', 'envcheck') });
    } finally {
      await s.stop();
    }
  });

  it('a command that exits at once: poll reports its exit code and its output is kept', async () => {
    const failing = LocalSpawnerSchema.parse({ kind: 'local', cmd: [process.execPath, FAKE], environment: { FAKE_SINGLEUSER_EXIT: '1' } });
    const s = new LocalProcessSpawner(ctx, failing, { user: 'failing', serverName: '' });
    await s.start({ ...request({ user: 'failing', serverName: '' }), signal: AbortSignal.timeout(10_000) });
    let poll = await s.poll();
    for (let i = 0; i < 100 && poll.status === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      poll = await s.poll();
    }
    expect(poll).toMatchObject({ status: 'stopped', exitCode: 3 });
    expect(s.recentLogs().join('\n')).toContain('asked to fail at startup');
    await s.stop();
    expect(s.getState()).toEqual({});
  });

  it('reports a missing command clearly', async () => {
    const missing = LocalSpawnerSchema.parse({ kind: 'local', cmd: ['/nonexistent/jupyterhub-singleuser'] });
    const s = new LocalProcessSpawner(ctx, missing, { user: 'missing', serverName: '' });
    const err = await s.start({ ...request({ user: 'missing', serverName: '' }), signal: AbortSignal.timeout(10_000) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpawnFailure);
    expect((err as Error).message).toMatch(/could not start .*ENOENT/);
  });
});
