/**
 * Route storage (CHP lib/store.js). Every method returns a Promise, so a custom
 * `--storage-backend` written for CHP works unchanged.
 *
 * Built-in stores also implement SyncRouteStore: the proxy's hot path then looks targets up
 * and records activity without a Promise per request.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { URLTrie, trimPrefix, type TrieMatch } from './trie.js';

/** Route data as POSTed (kept verbatim) plus `last_activity` (a Date, JSON-serialised as ISO). */
export interface RouteData {
  target: string;
  last_activity?: Date;
  [key: string]: unknown;
}

export interface RouteStore {
  get(path: string): Promise<RouteData | undefined>;
  getTarget(path: string): Promise<TrieMatch<RouteData> | undefined>;
  getAll(): Promise<Record<string, RouteData>>;
  add(path: string, data: RouteData): Promise<unknown>;
  update(path: string, data: Partial<RouteData>): Promise<unknown> | unknown;
  remove(path: string): Promise<unknown>;
  cleanPath?(path: string): string;
  close?(): Promise<void> | void;
}

/** The store's own path normalisation, else CHP's trimPrefix (a custom store may bring its own). */
export function cleanPath(store: RouteStore, p: string): string {
  return store.cleanPath ? store.cleanPath(p) : trimPrefix(p);
}

/** Optional synchronous fast path (MemoryStore and SqliteStore). */
export interface SyncRouteStore extends RouteStore {
  getTargetSync(path: string): TrieMatch<RouteData> | undefined;
  /** Record activity on an existing route; `now` in ms since epoch. */
  touch(path: string, now: number): void;
}

export function isSyncStore(store: RouteStore): store is SyncRouteStore {
  return typeof (store as SyncRouteStore).getTargetSync === 'function' && typeof (store as SyncRouteStore).touch === 'function';
}

export class MemoryStore implements SyncRouteStore {
  protected readonly routes = new Map<string, RouteData>();
  protected readonly urls = new URLTrie<RouteData>();

  cleanPath(p: string): string {
    return trimPrefix(p);
  }

  async get(p: string): Promise<RouteData | undefined> {
    return this.routes.get(this.cleanPath(p));
  }

  async getTarget(p: string): Promise<TrieMatch<RouteData> | undefined> {
    return this.urls.get(p);
  }

  getTargetSync(p: string): TrieMatch<RouteData> | undefined {
    return this.urls.get(p);
  }

  async getAll(): Promise<Record<string, RouteData>> {
    return Object.fromEntries(this.routes);
  }

  async add(p: string, data: RouteData): Promise<null> {
    this.addSync(this.cleanPath(p), data);
    return null;
  }

  protected addSync(key: string, data: RouteData): void {
    this.routes.set(key, data);
    this.urls.add(key, data);
  }

  async update(p: string, data: Partial<RouteData>): Promise<void> {
    const route = this.routes.get(this.cleanPath(p));
    if (route) Object.assign(route, data);
  }

  touch(p: string, now: number): void {
    const route = this.routes.get(p);
    if (!route) return;
    const last = route.last_activity;
    if (!(last instanceof Date) || last.getTime() !== now) route.last_activity = new Date(now);
  }

  async remove(p: string): Promise<RouteData | undefined> {
    const key = this.cleanPath(p);
    const route = this.routes.get(key);
    this.routes.delete(key);
    this.urls.remove(key);
    return route;
  }

  get size(): number {
    return this.routes.size;
  }
}

export interface StorageOptions {
  /** CHP's --storage-backend: 'memory', 'sqlite', or a module path/name exporting a store class. */
  storageBackend?: string;
  /** SQLite file for the 'sqlite' backend (LabHub extension, --storage-path). */
  storagePath?: string;
  [key: string]: unknown;
}

type StoreClass = new (options: StorageOptions) => RouteStore;

/**
 * CHP's loadStorage: `new (require(module))(options)`. ESM and CommonJS modules both work;
 * a relative path is resolved against the current directory.
 */
export async function loadStorage(options: StorageOptions): Promise<RouteStore> {
  const backend = options.storageBackend;
  if (!backend || backend === 'memory') {
    if (options.storagePath) return openSqlite(options.storagePath);
    return new MemoryStore();
  }
  if (backend === 'sqlite') {
    if (!options.storagePath) throw new Error("storage backend 'sqlite' needs --storage-path <file>");
    return openSqlite(options.storagePath);
  }
  const req = createRequire(path.join(process.cwd(), 'noop.js'));
  const resolved = req.resolve(backend);
  const mod = (await import(pathToFileURL(resolved).href)) as { default?: unknown };
  const Cls = (typeof mod.default === 'function' ? mod.default : mod) as StoreClass;
  if (typeof Cls !== 'function') throw new Error(`storage backend ${backend} does not export a class`);
  return new Cls(options);
}

async function openSqlite(file: string): Promise<RouteStore> {
  const { SqliteStore } = await import('./store/sqlite-store.js');
  return new SqliteStore({ storagePath: file });
}
