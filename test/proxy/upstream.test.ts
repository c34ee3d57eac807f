/** Upstream pools: one per origin, reused, and swept once idle — targets that come and go leave nothing behind. */
import http from 'node:http';
import type net from 'node:net';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { UpstreamRegistry } from '../../proxy/upstream.js';

describe('UpstreamRegistry', () => {
  it('shares a pool per origin, parses targets once, and rejects unknown schemes', async () => {
    const reg = new UpstreamRegistry();
    const a = reg.get('http://127.0.0.1:1/base/', 1);
    const b = reg.get('http://127.0.0.1:1/other', 2);
    expect(a.pool).toBe(b.pool);
    expect(a.basePath).toBe('/base/');
    expect(reg.get('http://127.0.0.1:1/base/', 3)).toBe(a);
    expect(reg.get('https://example.org:443/x', 4)).toMatchObject({ secure: true, hostHeader: 'example.org' });
    expect(reg.get('http+unix://%2Ftmp%2Fs.sock/p', 5)).toMatchObject({ socketPath: '/tmp/s.sock', basePath: '/p' });
    expect(() => reg.get('ftp://h/', 6)).toThrow(/Unexpected protocol/);
    expect(reg.poolCount).toBe(3);
    await reg.close();
  });

  it('closes pools of targets that went idle, after their sockets closed', async () => {
    const servers: http.Server[] = [];
    for (let i = 0; i < 5; i++) {
      const s = http.createServer({ keepAliveTimeout: 100 }, (_q, r) => r.end('ok'));
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      servers.push(s);
    }
    const reg = new UpstreamRegistry({ idleMs: 150 });
    for (const s of servers) {
      const up = reg.get(`http://127.0.0.1:${(s.address() as net.AddressInfo).port}`, Date.now());
      const res = await request(`http://127.0.0.1:${(s.address() as net.AddressInfo).port}/`, { dispatcher: up.pool });
      await res.body.text();
    }
    expect(reg.poolCount).toBe(5);
    const end = Date.now() + 5000;
    while (reg.poolCount > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(reg.poolCount).toBe(0);
    await reg.close();
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  });
});
