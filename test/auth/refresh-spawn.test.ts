/**
 * Before a spawn the hub refreshes the user's expired OIDC access token (ServerManager preSpawn →
 * AuthService.refreshAuthState), so a server never starts with a dead token; when the provider
 * refuses the refresh, the spawn fails with a clear "log in again" message. Real oidc-provider.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Spawner, SpawnRequest } from '../../spawners/spawner.js';
import { SpawnFailure } from '../../spawners/spawn-failure.js';
import { Browser } from '../helpers/browser.js';
import { startOidcHub, type AuthTestHub } from './helpers.js';
import type { TestOp } from './fixtures/oidc-op.js';

const SECRET = 'refresh-secret-0123456789';

/** Records what it was started with, then fails (the test is about what happens before start). */
function recordingSpawner(seen: SpawnRequest[]): Spawner {
  return {
    kind: 'recording',
    start: async (req) => {
      seen.push(req);
      throw new SpawnFailure('recording spawner: not really starting', 'test');
    },
    stop: async () => undefined,
    poll: async () => ({ status: 'stopped', exitCode: null }),
    getState: () => ({}),
  };
}

describe('token refresh before a spawn', () => {
  let op: TestOp;
  let h: AuthTestHub;
  const seen: SpawnRequest[] = [];

  beforeAll(async () => {
    ({ op, h } = await startOidcHub(
      (issuer) => ({ allowAll: true, methods: [{ kind: 'oidc', issuer, clientId: 'labhub', allowInsecureHttp: true, refreshMarginSeconds: 0 }] }),
      { secret: SECRET, accessTokenTtl: 2, buildSpawner: () => recordingSpawner(seen) },
    ));
    op.accounts.set('alice', { name: 'alice', email: 'alice@lab.example', groups: [] });
  });
  afterAll(async () => {
    await h?.close();
    await op?.close();
  });

  async function spawnAndWait(): Promise<string> {
    const d = h.hub.deps;
    const user = d.users.byName('alice')!;
    await d.serverManager.spawn(user, '', {});
    await d.serverManager.pendingOf('alice', '')?.done;
    return d.serverManager.failureOf('alice', '')?.message ?? '';
  }

  it('refreshes an expired access token before the spawner starts', async () => {
    op.nextLogin = 'alice';
    expect((await new Browser(h.url).get('/hub/oauth/oidc/login?next=%2Fhub%2Fapi%2Fuser')).status).toBe(200);
    const id = h.hub.deps.users.byName('alice')!.id;
    const before = h.hub.deps.authState.get(id)!;
    for (let i = 0; i < 40 && Date.now() / 1000 <= (before.expires_at as number); i++) await new Promise((r) => setTimeout(r, 100));
    const failure = await spawnAndWait();
    expect(failure).toContain('recording spawner'); // the spawner was reached
    expect(seen).toHaveLength(1);
    const after = h.hub.deps.authState.get(id)!;
    expect(after.access_token).not.toBe(before.access_token);
    expect(after.expires_at as number).toBeGreaterThan(Date.now() / 1000);
  });

  it('fails the spawn with "log in again" when the provider refuses the refresh', async () => {
    const id = h.hub.deps.users.byName('alice')!.id;
    const state = h.hub.deps.authState.get(id)!;
    h.hub.deps.authState.set(id, { ...state, refresh_token: 'revoked-or-unknown', expires_at: 0 });
    const failure = await spawnAndWait();
    expect(failure).toContain('log in again');
    expect(seen).toHaveLength(1); // the spawner was never started
  });
});
