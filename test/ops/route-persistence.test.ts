/**
 * proxy.persistRoutes with the in-process proxy (the default mode): the route table outlives the hub
 * process, so after a hub restart — or a crash — users reach running servers through the proxy at
 * once, before the hub has re-polled every spawner. The proxy is started the way the hub starts it
 * (startProxyFor); routes are added through its CHP REST API, as the hub adds them. The subprocess
 * mode's counterpart (labhub-proxy killed and restarted) is in proxy-restart.test.ts.
 */
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../config/schema.js';
import { createLogger } from '../../hub/log.js';
import { startProxyFor } from '../../hub/proxy-launcher.js';
import { ProxyClient } from '../../proxy/client.js';
import { testPortPair } from '../helpers/test-ports.js';
import { Agent, fetch as undiciFetch } from 'undici';

/** fetch without pooled connections: both proxies listen on the same ports, one after the other */
const freshFetch = ((url: string, init: Record<string, unknown> = {}) => undiciFetch(url, { ...init, dispatcher: new Agent({ pipelining: 0 }), headers: { ...(init.headers as object), connection: 'close' } } as never)) as unknown as typeof fetch;

describe('in-process proxy route persistence', () => {
  let backend: http.Server;
  let target: string;
  beforeAll(async () => {
    backend = http.createServer((req, res) => res.end(`server ${req.url}`));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    target = `http://127.0.0.1:${(backend.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => backend.close(() => r())));

  const run = async (persistRoutes: boolean) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'labhub-routes-'));
    const config = ConfigSchema.parse({ dataDir, port: await testPortPair(), proxy: { persistRoutes } });
    const log = createLogger('silent');
    const first = await startProxyFor(config, 'proxy-token', 'http://127.0.0.1:9', log);
    await new ProxyClient({ apiUrl: first.apiUrl, authToken: 'proxy-token', fetch: freshFetch }).addRoute('/user/alice', { target, user: 'alice', server_name: '', jupyterhub: true });
    expect(await (await freshFetch(`${first.publicUrl}/user/alice/lab`)).text()).toBe('server /user/alice/lab');
    await first.close(); // the hub process ends
    const second = await startProxyFor(config, 'proxy-token', 'http://127.0.0.1:9', log);
    try {
      // nothing has been re-added: what the restarted proxy serves comes from its file, or nothing
      const r = await freshFetch(`${second.publicUrl}/user/alice/lab`);
      return { status: r.status, body: await r.text(), routes: await new ProxyClient({ apiUrl: second.apiUrl, authToken: 'proxy-token', fetch: freshFetch }).getAllRoutes() };
    } finally {
      await second.close();
    }
  };

  it('a restarted hub’s proxy routes a running server at once, with its route data', async () => {
    const r = await run(true);
    expect(r.status).toBe(200);
    expect(r.body).toBe('server /user/alice/lab');
    expect(r.routes['/user/alice']).toMatchObject({ target, user: 'alice', jupyterhub: true });
  });

  it('with persistRoutes: false it starts empty (the hub must re-add every route)', async () => {
    const r = await run(false);
    expect(r.status).toBe(404);
    expect(r.routes['/user/alice']).toBeUndefined();
  });
});
