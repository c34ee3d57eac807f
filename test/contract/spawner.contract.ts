/**
 * The shared contract every spawner must pass (after hono's common.case.test.ts and JupyterHub's
 * Spawner.poll docstring). Each spawner's test file calls runSpawnerContract() with a factory and a
 * request that starts something serving HTTP under the JupyterHub prefix.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Spawner, SpawnerState, SpawnRequest } from '../../spawners/spawner.js';

export interface SpawnerContractOptions {
  name: string;
  /** Builds a spawner for an identity, optionally from saved state (load_state). */
  create: (identity: { user: string; serverName: string }, state?: SpawnerState) => Spawner;
  /** The request minus the signal; must start a server answering GET {url}{servicePrefix}api with < 500. */
  request: (identity: { user: string; serverName: string }) => Omit<SpawnRequest, 'signal'>;
  startTimeoutMs?: number;
}

async function waitUp(url: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { redirect: 'manual' });
      await res.arrayBuffer();
      if (res.status < 500) return res.status;
      last = res.status;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not reachable: ${url} (last status ${last})`);
}

export function runSpawnerContract(o: SpawnerContractOptions): void {
  const test = (name: string, fn: () => Promise<void>) => it(name, fn);
  const started: Spawner[] = [];
  const timeout = o.startTimeoutMs ?? 30_000;
  let n = 0;
  const identity = () => ({ user: `contract${process.pid}x${n++}`, serverName: '' });
  const start = async (s: Spawner, id: { user: string; serverName: string }) => {
    started.push(s);
    const req = o.request(id);
    const { url } = await s.start({ ...req, signal: AbortSignal.timeout(timeout) });
    return { url, prefix: req.servicePrefix };
  };

  describe(`spawner contract: ${o.name}`, () => {
    afterAll(async () => {
      await Promise.allSettled(started.map((s) => s.stop({ now: true })));
    });

    test('poll before start reports stopped', async () => {
      const s = o.create(identity());
      expect((await s.poll()).status).toBe('stopped');
      expect(s.getState()).toEqual({});
    });

    test('start then poll reports running, and the server answers HTTP', async () => {
      const id = identity();
      const s = o.create(id);
      const { url, prefix } = await start(s, id);
      expect(url).toMatch(/^https?:\/\/[^/]+$/);
      expect((await s.poll()).status).toBe('running');
      expect(await waitUp(`${url}${prefix}api`, timeout)).toBeLessThan(500);
      await s.stop();
    });

    test('state survives a JSON round trip: a fresh instance polls and stops it', async () => {
      const id = identity();
      const s = o.create(id);
      const { url, prefix } = await start(s, id);
      await waitUp(`${url}${prefix}api`, timeout);
      const saved = JSON.parse(JSON.stringify(s.getState())) as SpawnerState;
      expect(Object.keys(saved).length).toBeGreaterThan(0);
      const revived = o.create(id, saved);
      started.push(revived);
      expect((await revived.poll()).status).toBe('running');
      await revived.stop();
      expect((await revived.poll()).status).toBe('stopped');
      expect((await s.poll()).status).toBe('stopped');
    });

    test('stop makes poll report stopped and clears state', async () => {
      const id = identity();
      const s = o.create(id);
      const { url, prefix } = await start(s, id);
      await waitUp(`${url}${prefix}api`, timeout);
      await s.stop();
      expect((await s.poll()).status).toBe('stopped');
      expect(s.getState()).toEqual({});
      await expect(fetch(`${url}${prefix}api`).then((r) => r.status)).rejects.toThrow();
    });

    test('stop is idempotent, also on a never-started spawner', async () => {
      const fresh = o.create(identity());
      await fresh.stop();
      await fresh.stop();
      const id = identity();
      const s = o.create(id);
      await start(s, id);
      await s.stop();
      await s.stop();
      expect((await s.poll()).status).toBe('stopped');
    });
  });
}
