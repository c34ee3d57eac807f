/**
 * Docker spawner: one container per server on one of several Docker hosts (dockerd or Podman's
 * Docker-compatible API), over a unix socket or TCP(+TLS), with dockerode.
 *
 * - image: the admin's default or a label from allowedImages (never an image named by the user);
 *   pulled per pullPolicy with layer progress streamed to the spawn page.
 * - placement: the least-loaded reachable host (containers labelled with this hub's id) that has
 *   the image, within its capacity; a host that is down is skipped with a progress message.
 * - home: a named volume (or bind path) per user, kept when the container goes; a new home is
 *   chowned to uid:gid by a short-lived helper container, so it is never "owned by root".
 * - environment: written into the container (/opt/labhub/env) before each start and sourced by the
 *   entrypoint wrapper, so the API token never shows in `docker inspect`; a git credential helper
 *   asks the hub for a fresh token on every git operation (see docker-files.ts).
 * State: {containerId, containerName, host}. After a hub restart poll() re-attaches by id.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import type { DockerHostConfig, DockerLimits, DockerSpawnerConfig } from './docker-options.js';
import {
  CREDENTIAL_HELPER,
  ENV_FILE,
  GIT_CREDENTIAL_HELPER,
  LABHUB_START,
  REPOS_FILE,
  START_SCRIPT,
  shellEnvFile,
  tarArchive,
  type TarEntry,
} from './docker-files.js';
import type { PollResult, ProgressEvent, Spawner, SpawnerContext, SpawnerFactory, SpawnerState, SpawnRequest, StartResult, TerminalSession } from './spawner.js';
import { SpawnFailure } from './spawn-failure.js';
import { dockerClient } from './docker-client.js';
import { dockerInventory } from './docker-inventory.js';

interface DockerState {
  containerId: string;
  containerName: string;
  host: string;
  /** The container's address on its network (shared ports on hosts the hub can route to). */
  ip?: string;
}

type DockerError = Error & { statusCode?: number; json?: { message?: string }; code?: string };

const PING_TIMEOUT_MS = 3000;
/** Tries of `container.stop` before giving up (or removing by force): transitional states clear in ~1 s. */
const STOP_ATTEMPTS = 4;

/**
 * Poll batching: one `GET /containers/json?filters=label=labhub.hub=<id>` per host answers every
 * server's poll for SNAPSHOT_TTL_MS (JupyterHub's DockerSpawner inspects each container on every
 * poll). Only "running" is trusted from the list; anything else is confirmed with an inspect.
 */
const SNAPSHOT_TTL_MS = 2000;
const snapshots = new Map<string, { at: number; states: Promise<Map<string, string> | null> }>();

/** Containers this process is placing right now, per host: concurrent spawns see each other before their containers exist. */
const inflight = new Map<string, Set<string>>();

function snapshotKey(host: string, hubId: string): string {
  return `${host}\0${hubId}`;
}

function parseState(state?: SpawnerState): DockerState | null {
  if (!state || typeof state.containerId !== 'string' || typeof state.host !== 'string') return null;
  return {
    containerId: state.containerId,
    containerName: typeof state.containerName === 'string' ? state.containerName : '',
    host: state.host,
    ...(typeof state.ip === 'string' && state.ip ? { ip: state.ip } : {}),
  };
}

/** DNS-safe escaping (lowercase letters and digits kept, everything else as -hh), after escapism/DockerSpawner. */
export function escapeName(s: string): string {
  let out = '';
  for (const ch of s) {
    if (/^[a-z0-9]$/.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `-${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export function containerName(prefix: string, user: string, serverName: string): string {
  return `${prefix}-${escapeName(user)}${serverName ? `--${escapeName(serverName)}` : ''}`;
}

export function expandTemplate(t: string, user: string, serverName: string): string {
  return t.replaceAll('{username}', escapeName(user)).replaceAll('{servername}', escapeName(serverName)).replaceAll('{raw_username}', user);
}

/** '512M' → bytes (binary units like docker --memory). */
export function parseSize(v: number | string): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtKMGT]?)i?[bB]?$/.exec(v.trim());
  if (!m) throw new Error(`invalid size '${v}'`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * mult);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge for the escape hatches: objects merge, everything else (arrays too) replaces; null deletes. */
export function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    if (v === null) delete out[k];
    else if (isObject(v) && isObject(out[k])) out[k] = deepMerge(out[k] as Record<string, unknown>, v);
    else out[k] = v;
  }
  return out;
}

export interface EffectiveLimits {
  memBytes?: number;
  cpus?: number;
  pids?: number;
  gpus?: number | 'all';
}

/** Spawner-wide limits < the largest per-group value among the user's groups < the request's (profile) limits. */
export function effectiveLimits(opts: DockerSpawnerConfig, groups: string[], req?: SpawnRequest['limits']): EffectiveLimits {
  const conv = (l: DockerLimits): EffectiveLimits => ({
    memBytes: l.memory !== undefined ? parseSize(l.memory) : undefined,
    cpus: l.cpus,
    pids: l.pids,
    gpus: l.gpus,
  });
  const out = conv(opts.limits);
  const grp: EffectiveLimits = {};
  for (const g of groups) {
    const l = opts.groupLimits[g];
    if (!l) continue;
    const c = conv(l);
    for (const k of ['memBytes', 'cpus', 'pids'] as const) if (c[k] !== undefined && (grp[k] === undefined || c[k]! > grp[k]!)) grp[k] = c[k];
    if (c.gpus !== undefined && (grp.gpus === undefined || c.gpus === 'all' || (grp.gpus !== 'all' && c.gpus > grp.gpus))) grp.gpus = c.gpus;
  }
  Object.assign(out, Object.fromEntries(Object.entries(grp).filter(([, v]) => v !== undefined)));
  if (req?.memBytes !== undefined) out.memBytes = req.memBytes;
  if (req?.cpus !== undefined) out.cpus = req.cpus;
  if (req?.gpus !== undefined) out.gpus = req.gpus;
  return out;
}

export function describeLimits(l: EffectiveLimits): string {
  const parts: string[] = [];
  if (l.memBytes !== undefined) parts.push(`memory ${formatBytes(l.memBytes)}`);
  if (l.cpus !== undefined) parts.push(`${l.cpus} CPU${l.cpus === 1 ? '' : 's'}`);
  if (l.pids !== undefined) parts.push(`${l.pids} processes`);
  if (l.gpus !== undefined && l.gpus !== 0) parts.push(`${l.gpus === 'all' ? 'all' : l.gpus} GPU${l.gpus === 1 ? '' : 's'}`);
  return parts.length ? `Limits: ${parts.join(', ')}` : 'Limits: none';
}

function formatBytes(n: number): string {
  for (const [u, f] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) if (n >= f) return `${Number((n / f).toFixed(2))} ${u}`;
  return `${n} B`;
}

export function hostConfigLimits(l: EffectiveLimits): Record<string, unknown> {
  const h: Record<string, unknown> = {};
  if (l.memBytes !== undefined) {
    h.Memory = l.memBytes;
    h.MemorySwap = l.memBytes; // no extra swap beyond the limit
  }
  if (l.cpus !== undefined) h.NanoCpus = Math.round(l.cpus * 1e9);
  if (l.pids !== undefined) h.PidsLimit = l.pids;
  if (l.gpus !== undefined && l.gpus !== 0) h.DeviceRequests = [{ Driver: '', Count: l.gpus === 'all' ? -1 : l.gpus, Capabilities: [['gpu']] }];
  return h;
}

/** Chooses the image: the default, or an allowed label (or allowed image) from userOptions.image. */
export function chooseImage(opts: DockerSpawnerConfig, userOptions: Record<string, unknown>): string {
  const asked = userOptions.image;
  if (asked === undefined || asked === null || asked === '') return opts.image;
  if (typeof asked !== 'string') throw new SpawnFailure('userOptions.image must be a string', 'image');
  if (Object.hasOwn(opts.allowedImages, asked)) return opts.allowedImages[asked];
  if (asked === opts.image || Object.values(opts.allowedImages).includes(asked)) return asked;
  const labels = Object.keys(opts.allowedImages);
  throw new SpawnFailure(`Image '${asked}' is not allowed${labels.length ? `; choose one of: ${labels.join(', ')}` : ''}`, 'image');
}

function errMessage(err: unknown): string {
  const e = err as DockerError;
  return (e?.json?.message ?? e?.message ?? String(err)).toString().trim();
}

function statusOf(err: unknown): number | undefined {
  return (err as DockerError)?.statusCode;
}

/** Demultiplexes a non-TTY docker logs buffer (8-byte frame headers) into text. */
export function demuxLogs(buf: Buffer): string {
  if (buf.length >= 8 && (buf[0] === 1 || buf[0] === 2 || buf[0] === 0) && buf[1] === 0 && buf[2] === 0 && buf[3] === 0) {
    let out = '';
    let i = 0;
    while (i + 8 <= buf.length) {
      const size = buf.readUInt32BE(i + 4);
      out += buf.subarray(i + 8, i + 8 + size).toString('utf8');
      i += 8 + size;
    }
    return out;
  }
  return buf.toString('utf8');
}

function hostLabel(h: DockerHostConfig): string {
  return h.name ?? h.url;
}

function connectIp(h: DockerHostConfig): string {
  if (h.ip) return h.ip;
  if (h.url.startsWith('unix://') || h.url.startsWith('npipe:')) return '127.0.0.1';
  return new URL(h.url.replace(/^tcp:/, 'http:')).hostname;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

interface Candidate {
  host: DockerHostConfig;
  docker: Docker;
  /** Names of this hub's running/created containers there (at probe time). */
  live: string[];
  load: number;
  hasImage: boolean;
  /** This server's (kept) container already exists there. */
  hasMine: boolean;
}

export class DockerSpawner implements Spawner {
  readonly kind = 'docker';
  private state: DockerState | null;
  private logs: string[] = [];
  private readonly clients = new Map<string, Docker>();

  constructor(
    private readonly ctx: SpawnerContext,
    private readonly opts: DockerSpawnerConfig,
    private readonly identity: { user: string; serverName: string },
    state?: SpawnerState,
  ) {
    this.state = parseState(state);
  }

  private client(url: string): Docker {
    let c = this.clients.get(url);
    if (!c) {
      c = dockerClient(this.opts.hosts.find((h) => h.url === url) ?? { url });
      this.clients.set(url, c);
    }
    return c;
  }

  private labels(extra: Record<string, string> = {}): Record<string, string> {
    return { ...this.opts.labels, 'labhub.hub': this.ctx.hubId, 'labhub.user': this.identity.user, ...extra };
  }

  get name(): string {
    return containerName(this.opts.namePrefix, this.identity.user, this.identity.serverName);
  }

  async start(req: SpawnRequest): Promise<StartResult> {
    const progress = (p: number, message: string) => req.onProgress?.({ progress: p, message });
    const image = chooseImage(this.opts, req.userOptions);
    const groups = requestGroups(req);
    const limits = effectiveLimits(this.opts, groups, req.limits);

    // ---- placement ----
    const chosen = await this.place(image, req.signal, progress); // reserves a slot on the chosen host
    const { host } = chosen;
    const slot = snapshotKey(host.url, this.ctx.hubId);
    const placing = inflight.get(slot)!;
    try {
      progress(8, `Placed on Docker host ${hostLabel(host)}${host.capacity ? ` (${chosen.load}/${host.capacity} servers)` : ''}`);
      return await this.startOn(chosen, image, groups, limits, req, progress);
    } finally {
      placing.delete(this.name);
      if (!placing.size && inflight.get(slot) === placing) inflight.delete(slot);
    }
  }

  private async startOn(
    chosen: Candidate,
    image: string,
    groups: string[],
    limits: EffectiveLimits,
    req: SpawnRequest,
    progress: (p: number, message: string) => void,
  ): Promise<StartResult> {
    const { host, docker } = chosen;

    // ---- image ----
    if (this.opts.pullPolicy === 'always' || (!chosen.hasImage && this.opts.pullPolicy === 'ifNotPresent')) {
      await this.pull(docker, image, host, req);
    } else if (!chosen.hasImage) {
      throw new SpawnFailure(`Image ${image} is not present on Docker host ${hostLabel(host)} and pullPolicy is 'never'`, 'image');
    }
    let imageInfo: Docker.ImageInspectInfo;
    try {
      imageInfo = await docker.getImage(image).inspect();
    } catch (err) {
      throw new SpawnFailure(`Image ${image} is not available on Docker host ${hostLabel(host)}: ${errMessage(err)}`, 'image');
    }
    req.signal.throwIfAborted();

    // ---- storage ----
    progress(52, 'Preparing home and shared folders');
    const { mounts, binds } = await this.storage(docker, image, groups, req.signal);
    req.signal.throwIfAborted();

    // ---- container ----
    const name = this.name;
    progress(58, describeLimits(limits));
    const existing = await this.existing(docker, name);
    let container: Docker.Container | null = null;
    if (existing && !this.opts.remove && this.opts.envDelivery === 'file' && existing.Image === imageInfo.Id && !existing.State.Running && existing.Config.Labels?.['labhub.hub'] === this.ctx.hubId) {
      progress(60, `Restarting kept container ${name}`);
      container = docker.getContainer(existing.Id);
    } else if (existing) {
      const owner = existing.Config.Labels?.['labhub.hub'];
      if (owner !== this.ctx.hubId) {
        throw new SpawnFailure(
          `A container named ${name} that this hub did not create exists on ${hostLabel(host)}${owner ? ` (it belongs to LabHub ${owner}; give each hub its own namePrefix)` : ''}`,
          'conflict',
        );
      }
      progress(59, `Removing old container ${name}`);
      await docker.getContainer(existing.Id).remove({ force: true, v: true }).catch((err) => {
        if (statusOf(err) !== 404) throw new SpawnFailure(`Could not remove old container ${name}: ${errMessage(err)}`, 'conflict');
      });
    }
    if (!container) {
      progress(60, `Creating container ${name} from ${image}`);
      const body = this.createBody(req, name, image, imageInfo, mounts, binds, limits, host);
      try {
        container = await docker.createContainer(body as Docker.ContainerCreateOptions);
      } catch (err) {
        throw new SpawnFailure(`Could not create container ${name} on ${hostLabel(host)}: ${errMessage(err)}`, statusOf(err) === 404 ? 'image' : 'create');
      }
    }
    // From here on stop() can clean up whatever exists; the hub persists it at once (crash safety).
    this.state = { containerId: container.id, containerName: name, host: host.url };
    req.onState?.(this.getState());
    if (limits.gpus !== undefined && limits.gpus !== 0) {
      // Podman's Docker API (4.x) accepts DeviceRequests and silently drops them: never start "GPU" servers without GPUs
      const created = await container.inspect();
      if (!created.HostConfig.DeviceRequests?.length) {
        throw new SpawnFailure(
          `Docker host ${hostLabel(host)} ignored the GPU request (DeviceRequests); its engine does not support GPUs through the Docker API (with Podman, pass CDI devices with extraHost.Devices)`,
          'gpu',
        );
      }
    }

    // A cancel/timeout makes the hub call stop() at once, maybe before the container existed: clean up here too.
    const cleanupIfAborted = async () => {
      if (!req.signal.aborted) return;
      if (this.opts.remove) await container.remove({ force: true, v: true }).catch(() => undefined);
      else await container.stop({ t: 1 }).catch(() => undefined);
      this.state = null;
      req.signal.throwIfAborted();
    };
    // A step that fails because the hub's stop() removed the container meanwhile is a cancellation,
    // not a failure of the step: the abort is the answer.
    const abortWins = async (err: unknown): Promise<never> => {
      await cleanupIfAborted();
      throw err;
    };
    await cleanupIfAborted();

    // ---- contract files (env, git helper, repos), then start ----
    await this.putFiles(container, req, imageInfo, host).catch(abortWins);
    await cleanupIfAborted();
    progress(65, `Starting container ${name}`);
    await container.start().catch((err: unknown) => abortWins(new SpawnFailure(`Could not start container ${name}: ${errMessage(err)}`, 'start')));
    await cleanupIfAborted();
    this.invalidate(host.url);
    const info = await container.inspect().catch(abortWins);
    const url = this.urlOf(info, host);
    if (!url) {
      const why = info.State.Running ? 'no address found for it' : `it exited with code ${info.State.ExitCode}`;
      await this.fetchLogs(container);
      throw new SpawnFailure(`Container ${name} started but ${why}${this.logs.length ? `. Last output: ${this.logs.slice(-3).join(' | ')}` : ''}`, 'exited');
    }
    const ip = info.NetworkSettings.Networks?.[this.opts.network]?.IPAddress || info.NetworkSettings.IPAddress || Object.values(info.NetworkSettings.Networks ?? {})[0]?.IPAddress;
    if (ip && this.state) this.state = { ...this.state, ip };
    this.ctx.log.info({ user: this.identity.user, server: this.identity.serverName, container: name, host: hostLabel(host), url }, 'docker server started');
    return { url };
  }

  /** The reachable host with the image and the fewest servers (load/capacity), skipping full and unreachable ones. */
  private async place(image: string, signal: AbortSignal, progress: (p: number, m: string) => void): Promise<Candidate> {
    const down: string[] = [];
    const full: string[] = [];
    const probes = await Promise.all(
      this.opts.hosts.map(async (host): Promise<Candidate | { host: DockerHostConfig; error: string }> => {
        const docker = this.client(host.url);
        try {
          await withTimeout((docker.ping as (o: object) => Promise<unknown>).call(docker, { abortSignal: signal }), PING_TIMEOUT_MS, 'ping');
          const [list, hasImage] = await Promise.all([
            docker.listContainers({ all: true, filters: JSON.stringify({ label: [`labhub.hub=${this.ctx.hubId}`] }) } as object),
            docker
              .getImage(image)
              .inspect()
              .then(() => true)
              .catch(() => false),
          ]);
          const mine = list.some((c) => c.Names.includes(`/${this.name}`));
          const live = list.filter((c) => c.State === 'running' || c.State === 'created').map((c) => (c.Names[0] ?? '').replace(/^\//, ''));
          return { host, docker, live, load: 0, hasImage, hasMine: mine };
        } catch (err) {
          return { host, error: errMessage(err) };
        }
      }),
    );
    // From here to the reservation below nothing awaits: concurrent spawns of this process see each other.
    for (const p of probes) {
      if ('error' in p) continue;
      const placing = inflight.get(snapshotKey(p.host.url, this.ctx.hubId)) ?? new Set<string>();
      p.load = p.live.filter((n) => n !== this.name && !placing.has(n)).length + [...placing].filter((n) => n !== this.name).length;
    }
    const ok: Candidate[] = [];
    for (const p of probes) {
      if ('error' in p) {
        down.push(`${hostLabel(p.host)} (${p.error})`);
        progress(3, `Docker host ${hostLabel(p.host)} is unreachable (${p.error}); skipped`);
        this.ctx.log.warn({ host: hostLabel(p.host), err: p.error }, 'docker host unreachable; skipped');
      } else if (p.host.capacity && p.load >= p.host.capacity && !(p.hasMine && !this.opts.remove)) {
        full.push(hostLabel(p.host));
        progress(4, `Docker host ${hostLabel(p.host)} is full (${p.load}/${p.host.capacity}); skipped`);
      } else ok.push(p);
    }
    if (!ok.length) {
      if (full.length) throw new SpawnFailure(`All reachable Docker hosts are at capacity (${full.join(', ')})${down.length ? `; unreachable: ${down.join(', ')}` : ''}`, 'capacity');
      throw new SpawnFailure(`No Docker host is reachable: ${down.join('; ')}`, 'unreachable');
    }
    const ratio = (c: Candidate) => (c.host.capacity ? c.load / c.host.capacity : c.load / 1e6);
    // keep-and-restart: back to the host that keeps this server's container
    const kept = (c: Candidate) => Number(c.hasMine && !this.opts.remove);
    ok.sort((a, b) => kept(b) - kept(a) || Number(b.hasImage) - Number(a.hasImage) || ratio(a) - ratio(b) || a.load - b.load);
    const slot = snapshotKey(ok[0].host.url, this.ctx.hubId);
    inflight.set(slot, (inflight.get(slot) ?? new Set<string>()).add(this.name)); // released by start()
    return ok[0];
  }

  private async pull(docker: Docker, image: string, host: DockerHostConfig, req: SpawnRequest): Promise<void> {
    let shown = 0; // the bar never goes back (layer counts and byte counts may alternate)
    const emit = (e: ProgressEvent) => {
      shown = Math.max(shown, e.progress);
      req.onProgress?.({ ...e, progress: shown });
    };
    emit({ progress: 10, message: `Pulling image ${image} on ${hostLabel(host)}` });
    let stream: NodeJS.ReadableStream;
    try {
      const authconfig = this.registryAuthFor(image);
      stream = (await docker.pull(image, { abortSignal: req.signal, ...(authconfig ? { authconfig } : {}) } as object)) as NodeJS.ReadableStream;
    } catch (err) {
      const msg = `Pulling ${image} failed: ${errMessage(err)}`;
      emit({ progress: 10, message: msg });
      throw new SpawnFailure(msg, 'image');
    }
    const layers = new Map<string, { current: number; total: number; done: boolean }>();
    let lastPct = -1;
    let lastAt = 0;
    let error: string | undefined;
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      const onAbort = () => {
        (stream as unknown as { destroy?: () => void }).destroy?.();
        reject(new SpawnFailure(`Pulling ${image} was cancelled`, 'cancelled'));
      };
      req.signal.addEventListener('abort', onAbort, { once: true });
      stream.on('data', (chunk: Buffer) => {
        buf += chunk.toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          let ev: { status?: string; id?: string; error?: string; errorDetail?: { message?: string }; progressDetail?: { current?: number; total?: number } };
          try {
            ev = JSON.parse(line);
          } catch {
            continue;
          }
          if (ev.error || ev.errorDetail?.message) {
            error = ev.errorDetail?.message ?? ev.error;
            continue;
          }
          if (ev.id && ev.status) {
            const l = layers.get(ev.id) ?? { current: 0, total: 0, done: false };
            if (ev.status === 'Downloading' && ev.progressDetail?.total) {
              l.current = ev.progressDetail.current ?? 0;
              l.total = ev.progressDetail.total;
            } else if (/^(Download complete|Pull complete|Already exists)/.test(ev.status)) {
              l.done = true;
              if (l.total) l.current = l.total;
            }
            layers.set(ev.id, l);
          }
          const known = [...layers.values()].filter((l) => l.total > 0);
          const total = known.reduce((s, l) => s + l.total, 0);
          const current = known.reduce((s, l) => s + l.current, 0);
          if (total === 0 && layers.size > 0) {
            // engines that report no byte counts (Podman's compat API): count finished layers
            const done = [...layers.values()].filter((l) => l.done).length;
            const pct = Math.floor((done / layers.size) * 100);
            if (pct !== lastPct) {
              lastPct = pct;
              emit({ progress: 10 + Math.round(pct * 0.4), message: `Pulling ${image}: ${done} of ${layers.size} layers` });
            }
          } else if (total > 0) {
            const pct = Math.floor((current / total) * 100);
            const now = Date.now();
            if (pct !== lastPct && (pct === 100 || now - lastAt > 250 || pct - lastPct >= 10)) {
              lastPct = pct;
              lastAt = now;
              emit({ progress: 10 + Math.round(pct * 0.4), message: `Pulling ${image}: ${pct}% (${formatBytes(current)} of ${formatBytes(total)}, ${known.length} layer${known.length === 1 ? '' : 's'})` });
            }
          }
        }
      });
      stream.on('error', (err: Error) => {
        req.signal.removeEventListener('abort', onAbort);
        error ??= err.message;
        resolve();
      });
      stream.on('end', () => {
        req.signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
    if (error) {
      const msg = `Pulling ${image} failed: ${error}`;
      emit({ progress: 50, message: msg });
      throw new SpawnFailure(msg, 'image');
    }
    emit({ progress: 50, message: `Pulled ${image}` });
  }

  /** X-Registry-Auth for the image's registry, from registryAuth (password read from its file at each pull). */
  private registryAuthFor(image: string): { username: string; password: string; serveraddress: string } | undefined {
    const registry = registryOf(image);
    const a = this.opts.registryAuth[registry];
    if (!a) return undefined;
    let password = a.password ?? '';
    if (a.passwordFile) {
      try {
        password = readFileSync(a.passwordFile, 'utf8').trim();
      } catch (err) {
        throw new SpawnFailure(`Cannot read the password file for registry ${registry}: ${(err as Error).message}`, 'image');
      }
    }
    return { username: a.username, password, serveraddress: registry };
  }

  private async storage(docker: Docker, image: string, groups: string[], signal: AbortSignal): Promise<{ mounts: Record<string, unknown>[]; binds: string[] }> {
    const { user, serverName } = this.identity;
    const mounts: Record<string, unknown>[] = [];
    const binds: string[] = [];
    const add = (type: 'volume' | 'bind', source: string, target: string, readOnly: boolean, noCopy = false) => {
      if (type === 'bind') binds.push(`${source}:${target}:${readOnly ? 'ro' : 'rw'}`);
      else mounts.push({ Type: 'volume', Source: source, Target: target, ReadOnly: readOnly, ...(noCopy ? { VolumeOptions: { NoCopy: true } } : {}) });
    };
    const home = this.opts.home;
    if (home.type !== 'none') {
      const source = expandTemplate(home.source, user, serverName);
      let fresh = home.type === 'bind';
      if (home.type === 'volume') fresh = await this.ensureVolume(docker, source, { 'labhub.home': 'true' });
      if (fresh && home.fixOwnership && this.opts.uid !== undefined) await this.fixOwnership(docker, this.opts.helperImage ?? image, home.type, source, signal);
      // With a managed owner, no copy-up from the image: Docker would copy the mount point's (root) ownership onto the empty volume.
      add(home.type, source, home.target, false, home.fixOwnership && this.opts.uid !== undefined);
    }
    for (const m of this.opts.sharedMounts) {
      if (m.groups && !m.groups.some((g) => groups.includes(g))) continue;
      const readOnly = m.readOnly && !(m.readWriteGroups ?? []).some((g) => groups.includes(g));
      const source = expandTemplate(m.source, user, serverName);
      const created = m.type === 'volume' && (await this.ensureVolume(docker, source, { 'labhub.shared': 'true' }, false));
      // a new shared volume: group-owned by gid, group-writable and setgid, so every user (same gid) can write
      if (created && this.opts.uid !== undefined) await this.runHelper(docker, this.opts.helperImage ?? image, 'volume', source, `chgrp ${this.opts.gid ?? 100} /mnt/home && chmod 2775 /mnt/home`, signal);
      add(m.type, source, m.target, readOnly);
    }
    for (const m of this.opts.volumes) {
      const source = expandTemplate(m.source, user, serverName);
      if (m.type === 'volume') await this.ensureVolume(docker, source, {});
      add(m.type, source, m.target, m.readOnly);
    }
    return { mounts, binds };
  }

  /** Creates the named volume when missing; true when it was created now. */
  private async ensureVolume(docker: Docker, name: string, labels: Record<string, string>, perUser = true): Promise<boolean> {
    try {
      await docker.getVolume(name).inspect();
      return false;
    } catch (err) {
      if (statusOf(err) !== 404) throw new SpawnFailure(`Could not inspect volume ${name}: ${errMessage(err)}`, 'volume');
    }
    const all = perUser ? this.labels(labels) : { ...this.opts.labels, 'labhub.hub': this.ctx.hubId, ...labels };
    try {
      await docker.createVolume({ Name: name, Labels: all });
    } catch (err) {
      throw new SpawnFailure(`Could not create volume ${name}: ${errMessage(err)}`, 'volume');
    }
    return true;
  }

  /** chown of a new home to uid:gid by a short-lived root helper container (no network). */
  private async fixOwnership(docker: Docker, image: string, type: 'volume' | 'bind', source: string, signal: AbortSignal): Promise<void> {
    const uid = this.opts.uid!;
    const gid = this.opts.gid ?? 100;
    const what = `Could not give the home ${source} to ${uid}:${gid}`;
    if (type === 'volume') return this.runHelper(docker, image, 'volume', source, `chown ${uid}:${gid} /mnt/home && chmod 0750 /mnt/home`, signal, what);
    // a bind home: the helper mounts the parent and creates the leaf (Podman does not create missing bind sources)
    const slash = source.replace(/\/+$/, '').lastIndexOf('/');
    const parent = slash > 0 ? source.slice(0, slash) : '/';
    const leaf = `/mnt/home/${source.slice(slash + 1)}`.replaceAll("'", `'\\''`);
    await this.runHelper(docker, image, 'bind', parent, `mkdir -p '${leaf}' && chown ${uid}:${gid} '${leaf}' && chmod 0750 '${leaf}'`, signal, what);
  }

  /** Runs `script` as root in a short-lived container (no network) with `source` mounted at /mnt/home. */
  private async runHelper(docker: Docker, image: string, type: 'volume' | 'bind', source: string, script: string, signal: AbortSignal, what = `Could not prepare ${source}`): Promise<void> {
    signal.throwIfAborted();
    const helper = await docker.createContainer({
      Image: image,
      name: `${this.name}--home-init-${Date.now().toString(36)}`,
      User: '0:0',
      Entrypoint: ['/bin/sh', '-c', script],
      Cmd: [],
      Labels: this.labels({ 'labhub.helper': 'home-init' }),
      NetworkDisabled: true,
      HostConfig: {
        NetworkMode: 'none',
        ...(type === 'volume' ? { Mounts: [{ Type: 'volume', Source: source, Target: '/mnt/home' }] } : { Binds: [`${source}:/mnt/home:rw`] }),
      },
    } as Docker.ContainerCreateOptions);
    try {
      await helper.start();
      const result = (await withTimeout(helper.wait(), 60_000, 'home ownership helper')) as { StatusCode: number };
      if (result.StatusCode !== 0) {
        const out = demuxLogs((await helper.logs({ stdout: true, stderr: true, tail: 5 })) as unknown as Buffer).trim();
        throw new SpawnFailure(`${what} (helper exited ${result.StatusCode}${out ? `: ${out}` : ''})`, 'volume');
      }
    } finally {
      await helper.remove({ force: true }).catch(() => undefined);
    }
  }

  private async existing(docker: Docker, name: string): Promise<Docker.ContainerInspectInfo | null> {
    try {
      return await docker.getContainer(name).inspect();
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw new SpawnFailure(`Could not inspect container ${name}: ${errMessage(err)}`, 'engine');
    }
  }

  private createBody(
    req: SpawnRequest,
    name: string,
    image: string,
    imageInfo: Docker.ImageInspectInfo,
    mounts: Record<string, unknown>[],
    binds: string[],
    limits: EffectiveLimits,
    host: DockerHostConfig,
  ): Record<string, unknown> {
    const o = this.opts;
    const portKey = `${o.port}/tcp`;
    const imgEntrypoint = imageInfo.Config?.Entrypoint ?? [];
    const imgCmd = imageInfo.Config?.Cmd ?? [];
    const command = [...(o.cmd ?? imgCmd), ...o.args];
    const wrap = o.entrypoint === 'labhub';
    const bridge = o.network === 'bridge';
    const hostConfig: Record<string, unknown> = {
      Init: true,
      RestartPolicy: { Name: o.restartPolicy },
      NetworkMode: o.network,
      Mounts: mounts,
      ...(binds.length ? { Binds: binds } : {}),
      ...(bridge ? { PortBindings: { [portKey]: [{ HostIp: host.bindIp ?? o.hostIp, HostPort: '' }] } } : {}),
      ...hostConfigLimits(limits),
    };
    const body: Record<string, unknown> = {
      name,
      Image: image,
      Labels: this.labels({ 'labhub.server': this.identity.serverName }),
      ExposedPorts: { [portKey]: {} },
      ...(wrap ? { Entrypoint: ['/bin/sh', START_SCRIPT], Cmd: [...(Array.isArray(imgEntrypoint) ? imgEntrypoint : [imgEntrypoint]), ...command] } : { Cmd: o.cmd || o.args.length ? command : undefined }),
      ...(o.uid !== undefined ? { User: `${o.uid}:${o.gid ?? 100}` } : {}),
      ...(o.home.type !== 'none' ? { WorkingDir: o.home.target } : {}),
      // 'file': the environment is written by putFiles() before each start; 'env': plain (visible in docker inspect)
      Env: o.envDelivery === 'file' ? [`LABHUB_ENV_FILE=${ENV_FILE}`] : Object.entries(this.serverEnv(req, imageInfo)).map(([k, v]) => `${k}=${v}`),
      HostConfig: deepMerge(hostConfig, o.extraHost),
    };
    return deepMerge(body, o.extraCreate);
  }

  /** The environment the server gets (JupyterHub contract + HOME, git config, admin extras). */
  serverEnv(req: SpawnRequest, imageInfo: Docker.ImageInspectInfo): Record<string, string> {
    const o = this.opts;
    const env: Record<string, string> = {
      ...req.env,
      JUPYTERHUB_SERVICE_URL: `http://0.0.0.0:${o.port}${req.servicePrefix}`,
      JUPYTER_IMAGE_SPEC: imageInfo.RepoTags?.[0] ?? imageInfo.Id,
    };
    if (o.hubUrl) {
      const origin = new URL(o.hubUrl).origin;
      for (const k of ['JUPYTERHUB_API_URL', 'JUPYTERHUB_ACTIVITY_URL']) if (env[k]) env[k] = env[k].replace(/^https?:\/\/[^/]+/, origin);
    }
    if (o.home.type !== 'none') env.HOME = o.home.target;
    const git: Array<[string, string]> = [];
    if (o.git.credentials) {
      git.push(['credential.helper', CREDENTIAL_HELPER]);
      env.GIT_ASKPASS = CREDENTIAL_HELPER;
    }
    // identities use the user name as is (escaping is for volume and container names)
    const raw = (t: string) => t.replaceAll('{username}', req.user).replaceAll('{raw_username}', req.user).replaceAll('{servername}', req.serverName);
    git.push(['user.name', raw(o.git.userName ?? '{username}')]);
    if (o.git.userEmail) git.push(['user.email', raw(o.git.userEmail)]);
    env.GIT_CONFIG_COUNT = String(git.length);
    git.forEach(([k, v], i) => {
      env[`GIT_CONFIG_KEY_${i}`] = k;
      env[`GIT_CONFIG_VALUE_${i}`] = v;
    });
    Object.assign(env, o.environment);
    return env;
  }

  private async putFiles(container: Docker.Container, req: SpawnRequest, imageInfo: Docker.ImageInspectInfo, host: DockerHostConfig): Promise<void> {
    const o = this.opts;
    const env = this.serverEnv(req, imageInfo);
    const owner = o.uid !== undefined ? { uid: o.uid, gid: o.gid ?? 100 } : numericUser(imageInfo.Config?.User);
    const entries: TarEntry[] = [
      { name: 'opt/labhub', mode: 0o755 },
      { name: 'opt/labhub/bin', mode: 0o755 },
      { name: START_SCRIPT.slice(1), content: LABHUB_START, mode: 0o755 },
      { name: CREDENTIAL_HELPER.slice(1), content: GIT_CREDENTIAL_HELPER, mode: 0o755 },
      { name: REPOS_FILE.slice(1), content: o.git.repos.map((r) => `${r.url}\t${r.dir ?? repoDir(r.url)}\t${r.branch ?? ''}\n`).join(''), mode: 0o444 },
    ];
    if (o.envDelivery === 'file') {
      entries.push({ name: ENV_FILE.slice(1), content: shellEnvFile(env), mode: owner ? 0o400 : 0o444, uid: owner?.uid, gid: owner?.gid });
    }
    try {
      await container.putArchive(tarArchive(entries), { path: '/' });
    } catch (err) {
      throw new SpawnFailure(`Could not write LabHub's files into container ${this.name} on ${hostLabel(host)}: ${errMessage(err)}`, 'create');
    }
  }

  private urlOf(info: Docker.ContainerInspectInfo, host: DockerHostConfig): string | null {
    if (!info.State.Running) return null;
    const o = this.opts;
    if (o.network === 'bridge') {
      const b = info.NetworkSettings.Ports?.[`${o.port}/tcp`]?.[0];
      if (!b?.HostPort) return null;
      const ip = host.ip ?? (b.HostIp && b.HostIp !== '0.0.0.0' && b.HostIp !== '::' ? b.HostIp : connectIp(host));
      return `http://${ip.includes(':') ? `[${ip}]` : ip}:${b.HostPort}`;
    }
    const ip = info.NetworkSettings.Networks?.[o.network]?.IPAddress;
    return ip ? `http://${ip}:${o.port}` : null;
  }

  private async fetchLogs(container: Docker.Container): Promise<void> {
    try {
      const buf = (await withTimeout(container.logs({ stdout: true, stderr: true, tail: 80 }) as unknown as Promise<Buffer>, 5000, 'logs')) as Buffer;
      this.logs = demuxLogs(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf)))
        .split('\n')
        .map((l) => l.trimEnd())
        .filter((l) => l.trim())
        .slice(-60);
    } catch {
      /* keep what we had */
    }
  }

  async stop(opts?: { now?: boolean }): Promise<void> {
    const s = this.state;
    if (!s) return;
    this.invalidate(s.host);
    const container = this.client(s.host).getContainer(s.containerId);
    // A container caught mid-transition (a cancelled spawn's start still running) makes Podman answer
    // "container state improper": try again shortly; a container that will be removed anyway is then
    // killed by the forced removal below.
    for (let attempt = 1; ; attempt++) {
      try {
        await container.stop({ t: opts?.now ? 1 : this.opts.stopTimeoutSeconds });
        break;
      } catch (err) {
        const code = statusOf(err);
        if (code === 404) {
          this.ctx.log.info({ user: this.identity.user, server: this.identity.serverName, container: s.containerName }, 'container already gone; nothing to stop');
          this.state = null;
          return;
        }
        if (code === 304) break;
        if (attempt < STOP_ATTEMPTS) {
          await sleep(200 * attempt);
          continue;
        }
        if (this.opts.remove) {
          this.ctx.log.warn({ container: s.containerName, err: errMessage(err) }, 'container did not stop; removing it by force');
          break;
        }
        throw new Error(`Could not stop container ${s.containerName} on ${s.host}: ${errMessage(err)}`);
      }
    }
    await this.fetchLogs(container);
    if (this.opts.remove) {
      try {
        await container.remove({ force: true, v: true });
      } catch (err) {
        const code = statusOf(err);
        if (code !== 404 && code !== 409) throw new Error(`Could not remove container ${s.containerName} on ${s.host}: ${errMessage(err)}`);
      }
    }
    this.invalidate(s.host);
    this.ctx.log.info({ user: this.identity.user, server: this.identity.serverName, container: s.containerName, removed: this.opts.remove }, 'docker server stopped');
    this.state = null;
  }

  private snapshot(host: string): Promise<Map<string, string> | null> {
    const key = snapshotKey(host, this.ctx.hubId);
    let e = snapshots.get(key);
    if (!e || Date.now() - e.at > SNAPSHOT_TTL_MS) {
      const states = this.client(host)
        .listContainers({ all: true, filters: JSON.stringify({ label: [`labhub.hub=${this.ctx.hubId}`] }) } as object)
        .then((list) => new Map(list.map((c) => [c.Id, c.State])))
        .catch(() => null);
      e = { at: Date.now(), states };
      snapshots.set(key, e);
    }
    return e.states;
  }

  private invalidate(host: string): void {
    snapshots.delete(snapshotKey(host, this.ctx.hubId));
  }

  async poll(): Promise<PollResult> {
    const s = this.state;
    if (!s) return { status: 'stopped', exitCode: null, reason: 'not started' };
    if ((await this.snapshot(s.host))?.get(s.containerId) === 'running') return { status: 'running' };
    const container = this.client(s.host).getContainer(s.containerId);
    let info: Docker.ContainerInspectInfo;
    try {
      info = await container.inspect();
    } catch (err) {
      if (statusOf(err) === 404) return { status: 'stopped', exitCode: null, reason: `container ${s.containerName} no longer exists` };
      throw err; // engine unreachable: the hub keeps the server (a transient outage must not kill it)
    }
    const st = info.State;
    if (st.Running || st.Restarting || st.Status === 'created') return { status: 'running' };
    await this.fetchLogs(container);
    this.ctx.log.warn({ user: this.identity.user, server: this.identity.serverName, container: s.containerName, exitCode: st.ExitCode, lastOutput: this.logs.slice(-60) }, 'container is not running');
    return { status: 'stopped', exitCode: st.ExitCode ?? null, reason: `container ${s.containerName} ${st.Status}${st.OOMKilled ? ' (out of memory)' : ''} with code ${st.ExitCode}` };
  }

  getState(): SpawnerState {
    return this.state ? { ...this.state } : {};
  }

  recentLogs(): string[] {
    return [...this.logs];
  }

  /**
   * Another port of this server (shared ports): the container's own address, which only this
   * container listens on. Only for engines on this machine (unix socket) or user-defined networks,
   * where the hub can route to container addresses; otherwise undefined (never the host's port).
   */
  portTarget(port: number): string | undefined {
    const s = this.state;
    if (!s?.ip) return undefined;
    const local = s.host.startsWith('unix://') || s.host.startsWith('npipe:');
    if (!local && this.opts.network === 'bridge') return undefined;
    return `http://${s.ip}:${port}`;
  }

  /** A login shell in the container (docker exec with a TTY), with the server's environment, in its home. */
  async terminal(opts: { cols: number; rows: number }): Promise<TerminalSession> {
    const s = this.state;
    if (!s) throw new Error('the server is not running');
    const container = this.client(s.host).getContainer(s.containerId);
    // the shell's pid goes to a file, so close() can hang it up (closing the attach stream leaves it running)
    const pidFile = `/tmp/.labhub-terminal-${randomBytes(6).toString('hex')}`;
    const script = `echo $$ > ${pidFile}; if [ -r "\${LABHUB_ENV_FILE:-${ENV_FILE}}" ]; then set -a; . "\${LABHUB_ENV_FILE:-${ENV_FILE}}"; set +a; fi; export TERM=xterm-256color; cd "$HOME" 2>/dev/null; if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi`;
    // the shell runs as the server's user: the configured uid, else NB_UID (root-start images), else the image user
    const nbUid = this.opts.environment.NB_UID;
    const user = this.opts.uid !== undefined ? `${this.opts.uid}:${this.opts.gid ?? 100}` : nbUid && /^\d+$/.test(nbUid) ? `${nbUid}:${this.opts.environment.NB_GID ?? nbUid}` : undefined;
    const exec = await container.exec({ Cmd: ['/bin/sh', '-c', script], AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true, Env: ['TERM=xterm-256color'], ...(user ? { User: user } : {}) });
    const stream = (await exec.start({ hijack: true, stdin: true, Tty: true } as Docker.ExecStartOptions)) as NodeJS.ReadWriteStream & { destroy(): void };
    const resize = (cols: number, rows: number) => exec.resize({ w: Math.max(1, cols), h: Math.max(1, rows) }).catch(() => undefined);
    await resize(opts.cols, opts.rows);
    const exits: Array<(code: number | null) => void> = [];
    let exited: number | null | undefined;
    const finish = async () => {
      if (exited !== undefined) return;
      exited = await exec
        .inspect()
        .then((i) => i.ExitCode ?? null)
        .catch(() => null);
      for (const cb of exits) cb(exited);
    };
    stream.on('end', () => void finish());
    stream.on('close', () => void finish());
    stream.on('error', () => void finish());
    return {
      write: (data) => void stream.write(data),
      resize: (cols, rows) => void resize(cols, rows),
      onData: (cb) => void stream.on('data', (b: Buffer) => cb(b.toString('utf8'))),
      onExit: (cb) => (exited !== undefined ? cb(exited) : void exits.push(cb)),
      close: () => {
        const hangup = `p=$(cat ${pidFile} 2>/dev/null) && [ -n "$p" ] && { kill -HUP "$p" 2>/dev/null; for i in 1 2 3 4 5; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done; kill -KILL "$p" 2>/dev/null; }; rm -f ${pidFile}`;
        void container
          .exec({ Cmd: ['/bin/sh', '-c', hangup], AttachStdout: false, AttachStderr: false })
          .then((e) => e.start({ Detach: true } as Docker.ExecStartOptions))
          .catch(() => undefined)
          .finally(() => setTimeout(() => stream.destroy(), 1500).unref());
      },
    };
  }
}

/** The registry host of an image reference ('docker.io' for Docker Hub names). */
export function registryOf(image: string): string {
  const first = image.split('/')[0];
  return image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
}

function numericUser(user?: string): { uid: number; gid: number } | undefined {
  const m = /^(\d+)(?::(\d+))?$/.exec(user ?? '');
  if (!m) return user ? undefined : { uid: 0, gid: 0 };
  return { uid: Number(m[1]), gid: m[2] !== undefined ? Number(m[2]) : 0 };
}

function repoDir(url: string): string {
  const last = url.replace(/\/+$/, '').split(/[/:]/).pop() ?? 'repo';
  return last.replace(/\.git$/, '') || 'repo';
}

/** Groups of the user: from the request when the hub provides them (SpawnRequest.groups), else userOptions.groups. */
function requestGroups(req: SpawnRequest): string[] {
  const fromReq = (req as SpawnRequest & { groups?: unknown }).groups;
  const g = Array.isArray(fromReq) ? fromReq : req.userOptions.groups;
  return Array.isArray(g) ? g.filter((x): x is string => typeof x === 'string') : [];
}

export const dockerSpawnerFactory: SpawnerFactory<DockerSpawnerConfig> = {
  kind: 'docker',
  create: (ctx, options, identity, state) => new DockerSpawner(ctx, options, identity, state),
  inventory: dockerInventory,
};
