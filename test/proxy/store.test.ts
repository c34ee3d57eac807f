/**
 * Route stores: MemoryStore behaves like CHP's (store_spec.js), SqliteStore too — and survives a
 * restart, in-process and as a real `labhub-proxy --storage-path` process. --storage-backend loads a
 * CHP-style custom store module.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStorage, MemoryStore, type RouteStore } from '../../proxy/store.js';
import { SqliteStore } from '../../proxy/store/sqlite-store.js';
import { createProxy } from '../../proxy/proxy.js';
import { silentLogger } from '../../proxy/log.js';
import { api, ensureBuilt, rawGet, startBackend, startProxyProcess, type Backend } from './helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'labhub-store-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
const stores: [string, () => RouteStore][] = [
  ['MemoryStore', () => new MemoryStore()],
  ['SqliteStore', () => new SqliteStore({ storagePath: path.join(tmp, `s${n++}.sqlite`) })],
];

describe.each(stores)('%s', (_name, make) => {
  it('get/getAll/add/update/remove like CHP', async () => {
    const s = make();
    expect(await s.get('/nope')).toBeUndefined();
    expect(await s.getAll()).toEqual({});
    await s.add('/myRoute/', { target: 'http://localhost:8213', extra: [1] });
    expect(await s.get('myRoute')).toEqual({ target: 'http://localhost:8213', extra: [1] });
    await s.add('/myRoute', { target: 'http://localhost:9999' }); // overwrite
    expect(await s.get('/myRoute')).toEqual({ target: 'http://localhost:9999' });
    await s.update('/myRoute', { user: 'x' }); // merge
    expect(await s.get('/myRoute')).toEqual({ target: 'http://localhost:9999', user: 'x' });
    await s.add('/other', { target: 'http://o' });
    expect(Object.keys(await s.getAll())).toEqual(['/myRoute', '/other']);
    expect(await s.getTarget('/myRoute/and/more')).toMatchObject({ prefix: '/myRoute', data: { target: 'http://localhost:9999' } });
    expect(await s.getTarget('/nothing')).toBeUndefined();
    await s.remove('/myRoute');
    expect(await s.get('/myRoute')).toBeUndefined();
    await s.remove('/never-existed'); // no error
    await s.close?.();
  });
});

describe('SqliteStore persistence', () => {
  it('a reopened store has the same routes, data and last_activity', async () => {
    const file = path.join(tmp, 'restart.sqlite');
    const a = new SqliteStore({ storagePath: file });
    await a.add('/user/alice', { target: 'http://127.0.0.1:1', user: 'alice', server_name: '', jupyterhub: true });
    await a.add('/user/bob', { target: 'http://127.0.0.1:2' });
    await a.add('/gone', { target: 'http://127.0.0.1:3' });
    await a.remove('/gone');
    a.touch('/user/alice', Date.parse('2030-01-02T03:04:05.678Z'));
    a.close();

    const b = new SqliteStore({ storagePath: file });
    const all = await b.getAll();
    expect(Object.keys(all)).toEqual(['/user/alice', '/user/bob']);
    expect(all['/user/alice']).toEqual({
      target: 'http://127.0.0.1:1',
      user: 'alice',
      server_name: '',
      jupyterhub: true,
      last_activity: new Date('2030-01-02T03:04:05.678Z'),
    });
    expect(b.getTargetSync('/user/bob/lab')?.prefix).toBe('/user/bob');
    b.close();
  });

  it('activity is flushed periodically, not only on close', async () => {
    const file = path.join(tmp, 'flush.sqlite');
    const a = new SqliteStore({ storagePath: file, flushIntervalMs: 20 });
    await a.add('/r', { target: 'http://x' });
    a.touch('/r', Date.parse('2031-01-01T00:00:00.000Z'));
    await new Promise((r) => setTimeout(r, 80));
    const b = new SqliteStore({ storagePath: file }); // a is still open (WAL allows a reader)
    expect((await b.get('/r'))?.last_activity).toEqual(new Date('2031-01-01T00:00:00.000Z'));
    b.close();
    a.close();
  });
});

describe('storage backends', () => {
  it('loadStorage: memory by default, sqlite with a path, or a CHP-style module', async () => {
    expect(await loadStorage({})).toBeInstanceOf(MemoryStore);
    const s = await loadStorage({ storageBackend: 'sqlite', storagePath: path.join(tmp, 'ls.sqlite') });
    expect(s).toBeInstanceOf(SqliteStore);
    await s.close?.();
    await expect(loadStorage({ storageBackend: 'sqlite' })).rejects.toThrow(/storage-path/);
    await expect(loadStorage({ storageBackend: './does-not-exist.cjs' })).rejects.toThrow();

    const mod = path.join(tmp, 'dummy-store.cjs');
    fs.writeFileSync(
      mod,
      `class DummyStore { constructor(o) { this.options = o; this.r = {}; }
        get(p) { return Promise.resolve(this.r[p]); }
        getTarget(p) { return Promise.resolve(this.r['/'] ? { prefix: '/', data: this.r['/'] } : undefined); }
        getAll() { return Promise.resolve(this.r); }
        add(p, d) { this.r[p] = d; return Promise.resolve(); }
        update(p, d) { Object.assign(this.r[p], d); return Promise.resolve(); }
        remove(p) { delete this.r[p]; return Promise.resolve(); } }
      module.exports = DummyStore;`,
    );
    const custom = await loadStorage({ storageBackend: mod, marker: 1 });
    expect(custom.constructor.name).toBe('DummyStore');
    expect((custom as unknown as { options: { marker: number } }).options.marker).toBe(1);
  });

  it('a proxy on an async (non-sync) custom store still routes and records activity', async () => {
    const backend = await startBackend('async');
    const inner = new MemoryStore();
    const asyncOnly: RouteStore = {
      get: (p) => inner.get(p),
      getTarget: (p) => inner.getTarget(p),
      getAll: () => inner.getAll(),
      add: (p, d) => inner.add(p, d),
      update: (p, d) => inner.update(p, d),
      remove: (p) => inner.remove(p),
    };
    const proxy = createProxy({ ip: '127.0.0.1', port: 0, apiPort: 0, apiIp: '127.0.0.1', log: silentLogger }, { store: asyncOnly });
    await proxy.listen();
    await proxy.addRoute('/a', { target: backend.url });
    const before = (await inner.get('/a'))!.last_activity!.getTime();
    await new Promise((r) => setTimeout(r, 10));
    const r = await rawGet(`http://127.0.0.1:${proxy.proxyPort}/a/x`);
    expect(JSON.parse(r.body).url).toBe('/a/x');
    await new Promise((r2) => setTimeout(r2, 10));
    expect((await inner.get('/a'))!.last_activity!.getTime()).toBeGreaterThan(before);
    expect(await proxy.targetForReq({ url: '/a/b' })).toEqual({ prefix: '/a', target: backend.url });
    await proxy.close();
    await backend.close();
  });
});

describe('labhub-proxy --storage-path across a restart', () => {
  let backend: Backend;
  beforeAll(async () => {
    ensureBuilt();
    backend = await startBackend('persist');
  }, 120_000);
  afterAll(() => backend.close());

  it('comes back with its routes after SIGTERM and restart', async () => {
    const file = path.join(tmp, 'proc.sqlite');
    const first = await startProxyProcess('labhub', ['--storage-path', file]);
    await api(first.apiUrl).add('/user/alice', { target: backend.url, user: 'alice', jupyterhub: true });
    await rawGet(`${first.url}/user/alice/api`);
    const before = (await api(first.apiUrl).routes())['/user/alice'];
    expect(await first.stop()).toBe(2);

    const second = await startProxyProcess('labhub', ['--storage-path', file]);
    try {
      const after = (await api(second.apiUrl).routes())['/user/alice'];
      expect(after).toEqual(before); // same data and the last_activity of the last request
      const r = await rawGet(`${second.url}/user/alice/api`);
      expect(JSON.parse(r.body)).toMatchObject({ target: 'persist', url: '/user/alice/api' });
    } finally {
      await second.stop();
    }
  });
});
