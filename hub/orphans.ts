/**
 * Orphans: containers, VMs and batch jobs this hub created (labelled/tagged with its id) that its database no
 * longer accounts for. They come from a crash between the engine call and the state save, a server
 * or user deleted while its engine was unreachable, or a database restored from an older backup, and
 * they keep using compute or disk (money, on EC2) where nobody looks. The hub logs them at start and
 * lists them at GET /hub/api/orphans; an admin removes one with DELETE.
 *
 * A workload is accounted for when a server row exists for its user and server name and either the
 * row's saved state names this very workload, or the row names none and the workload is not running
 * (a kept, stopped container or VM of a stopped server). A running workload the hub believes
 * stopped, a second one next to the one the row names, and anything of a deleted user or server are
 * orphans.
 */
import type { Config } from '../config/schema.js';
import { inventoryOf, type SpawnerConfig } from '../spawners/registry.js';
import type { SpawnerState, Workload, WorkloadInventory } from '../spawners/spawner.js';
import type { HubDeps } from './deps.js';
import { HubError } from './errors.js';
import { mergeSpawner } from './profiles.js';

export interface OrphanReport {
  orphans: Workload[];
  /** Places that could not be listed (engine unreachable, credentials): the list is incomplete there. */
  errors: Array<{ place: string; message: string }>;
}

type Deps = Pick<HubDeps, 'config' | 'users' | 'servers' | 'hubId' | 'log'> & Partial<Pick<HubDeps, 'metrics'>>;

/** An engine that does not answer (a TCP Docker host that is down) must not hold the API call forever. */
const LIST_TIMEOUT_MS = 20_000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from ${what} within ${ms / 1000} s`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

interface Place {
  key: string;
  options: SpawnerConfig;
  inventory: WorkloadInventory<SpawnerConfig>;
}

/** Every distinct place the configuration can start workloads at (base spawner, profiles, choices). */
export function workloadPlaces(config: Config): Place[] {
  const configs: SpawnerConfig[] = [config.spawner];
  for (const p of config.profiles) {
    const base = mergeSpawner(config.spawner, p.spawner);
    configs.push(base);
    for (const o of Object.values(p.options)) for (const c of Object.values(o.choices)) configs.push(mergeSpawner(base, c.spawner));
  }
  const places = new Map<string, Place>();
  for (const options of configs) {
    const inventory = inventoryOf(options.kind);
    if (!inventory) continue;
    const key = inventory.placeKey(options);
    if (!places.has(key)) places.set(key, { key, options, inventory });
  }
  return [...places.values()];
}

function accountedFor(d: Deps, inventory: WorkloadInventory<SpawnerConfig>, w: Workload): boolean {
  const user = d.users.byName(w.user);
  const row = user ? d.servers.get(user.id, w.server) : undefined;
  if (!row) return false;
  let state: SpawnerState = {};
  try {
    state = JSON.parse(row.state || '{}') as SpawnerState;
  } catch {
    /* unreadable state names nothing */
  }
  const named = inventory.idInState(state);
  return named ? named === w.id : !w.running;
}

const contextOf = (d: Deps) => ({ dataDir: d.config.dataDir, log: d.log, hubId: d.hubId });

export async function findOrphans(d: Deps): Promise<OrphanReport> {
  const report: OrphanReport = { orphans: [], errors: [] };
  const places = workloadPlaces(d.config);
  await Promise.all(
    places.map(async (p) => {
      try {
        for (const w of await withTimeout(p.inventory.list(contextOf(d), p.options), LIST_TIMEOUT_MS, p.key)) if (!accountedFor(d, p.inventory, w)) report.orphans.push(w);
      } catch (err) {
        report.errors.push({ place: p.key, message: (err as Error).message });
      }
    }),
  );
  report.orphans.sort((a, b) => a.kind.localeCompare(b.kind) || a.user.localeCompare(b.user) || a.id.localeCompare(b.id));
  if (d.metrics) {
    const failed = new Set(report.errors.map((e) => e.place.split(' ')[0]));
    for (const kind of new Set(places.map((p) => p.options.kind))) {
      // a kind whose engine did not answer keeps its last value rather than claiming 0
      if (!failed.has(kind)) d.metrics.orphans.set({ kind }, report.orphans.filter((w) => w.kind === kind).length);
    }
  }
  return report;
}

/**
 * Removes a workload if it is (still) an orphan, and logs it as `by` (audited): the API's DELETE and
 * the admin page's Remove both end here. 404 when there is no such orphan.
 */
export async function removeOrphan(d: Deps, by: string, kind: string, id: string): Promise<Workload> {
  for (const p of workloadPlaces(d.config)) {
    if (p.options.kind !== kind) continue;
    const w = (await withTimeout(p.inventory.list(contextOf(d), p.options), LIST_TIMEOUT_MS, p.key)).find((x) => x.id === id);
    if (!w) continue;
    if (accountedFor(d, p.inventory, w)) break;
    await p.inventory.remove(contextOf(d), p.options, w);
    d.log.info({ kind, id, user: w.user, server: w.server, where: w.where, by, event: 'orphan-removed' }, 'orphan workload removed');
    return w;
  }
  throw new HubError(404, `No orphan ${kind} workload ${id} (it may belong to a server, or be gone already)`);
}

/** The periodic check: find and log (never throws; what to remove is an admin's decision). */
export async function checkOrphans(d: Deps): Promise<void> {
  try {
    const r = await findOrphans(d);
    if (r.orphans.length) d.log.warn({ orphans: r.orphans.map((w) => `${w.kind}:${w.id.slice(0, 12)} ${w.user}/${w.server} ${w.state} on ${w.where}`) }, `${r.orphans.length} workload(s) (containers, VMs, jobs) of this hub are not accounted for by its database: see GET /hub/api/orphans`);
    for (const e of r.errors) d.log.warn({ place: e.place, err: e.message }, 'could not check for orphan workloads');
  } catch (err) {
    d.log.warn({ err: String(err) }, 'orphan check failed');
  }
}
