/**
 * One keep-alive undici Pool per upstream origin, created on first use and closed again once it
 * has been idle (no sockets, nothing queued) for a sweep interval, so targets that come and go
 * (one per spawned server) leave neither sockets nor Pool objects behind.
 */
import { createRequire } from 'node:module';
import type { Pool as PoolClass } from 'undici';

type Pool = PoolClass;
const require = createRequire(import.meta.url);
/**
 * undici's package root also loads fetch, WebSocket, caches and mocks (~20 MB RSS at import);
 * the Pool module alone costs about half of that. Fall back to the root if the layout changes.
 */
const Pool: typeof PoolClass = (() => {
  try {
    return require('undici/lib/dispatcher/pool.js') as typeof PoolClass;
  } catch {
    return (require('undici') as typeof import('undici')).Pool;
  }
})();

export interface ClientTls {
  key?: Buffer | string;
  cert?: Buffer | string;
  ca?: Buffer | string | (Buffer | string)[];
}

export interface Upstream {
  /** target string as stored in the route */
  readonly target: string;
  readonly url: URL;
  readonly secure: boolean;
  readonly socketPath?: string;
  /** target pathname + search, for prependPath */
  readonly basePath: string;
  /** host[:port] for --change-origin */
  readonly hostHeader: string;
  readonly pool: Pool;
  lastUsed: number;
}

export interface UpstreamOptions {
  insecure?: boolean;
  clientSsl?: ClientTls;
  /** close idle pools after this long unused (ms) */
  idleMs?: number;
}

export class UpstreamRegistry {
  private readonly byTarget = new Map<string, Upstream>();
  private readonly pools = new Map<string, Pool>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly opts: UpstreamOptions = {}) {
    const idle = opts.idleMs ?? 30_000;
    this.sweeper = setInterval(() => this.sweep(Date.now() - idle), idle);
    this.sweeper.unref();
  }

  /** Throws on an unsupported scheme (CHP: "Unexpected protocol" → 500). */
  get(target: string, now: number): Upstream {
    let up = this.byTarget.get(target);
    if (up === undefined) {
      up = this.create(target);
      this.byTarget.set(target, up);
    }
    up.lastUsed = now;
    return up;
  }

  private create(target: string): Upstream {
    const url = new URL(target);
    const proto = url.protocol;
    let socketPath: string | undefined;
    let secure = false;
    let origin: string;
    if (proto.startsWith('http+unix') || proto.startsWith('unix+http')) {
      socketPath = decodeURIComponent(url.host);
      origin = 'http://localhost';
    } else if (proto === 'https:') {
      secure = true;
      origin = url.origin;
    } else if (proto === 'http:') {
      origin = url.origin;
    } else {
      throw new Error(`Unexpected protocol ${proto}`);
    }
    const key = socketPath ? `unix:${socketPath}` : origin;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(origin, {
        connections: null,
        pipelining: 1,
        keepAliveTimeout: 4_000,
        connect: {
          ...(socketPath ? { socketPath } : {}),
          ...(secure ? { rejectUnauthorized: !this.opts.insecure, ...this.opts.clientSsl } : {}),
          keepAlive: true,
          noDelay: true,
        },
      });
      this.pools.set(key, pool);
    }
    const defaultPort = secure ? '443' : '80';
    const hostHeader = url.port && url.port !== defaultPort ? `${url.hostname}:${url.port}` : url.hostname;
    return { target, url, secure, socketPath, basePath: `${url.pathname}${url.search}`, hostHeader, pool, lastUsed: 0 };
  }

  private sweep(before: number): void {
    const inUse = new Set<Pool>();
    for (const [target, up] of this.byTarget) {
      if (up.lastUsed < before) this.byTarget.delete(target);
      else inUse.add(up.pool);
    }
    for (const [key, pool] of this.pools) {
      const s = pool.stats;
      if (!inUse.has(pool) && s.connected === 0 && s.pending === 0 && s.running === 0) {
        this.pools.delete(key);
        pool.close().catch(() => {});
      }
    }
  }

  get poolCount(): number {
    return this.pools.size;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const pools = [...this.pools.values()];
    this.pools.clear();
    this.byTarget.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
  }
}
