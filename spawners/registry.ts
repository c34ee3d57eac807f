/**
 * Spawner kinds by name (the analogue of JupyterHub's entry-point spawner_class). Only the local
 * spawner is loaded eagerly; the others pull in large SDKs (AWS, Docker), so they are loaded at
 * start for the kinds the configuration uses (loadSpawnerKinds), keeping an unused SDK out of memory.
 */
import type { Config } from '../config/schema.js';
import { localSpawnerFactory } from './local.js';
import type { Spawner, SpawnerContext, SpawnerFactory, SpawnerState, WorkloadInventory } from './spawner.js';

export type SpawnerConfig = Config['spawner'];
type Kind = SpawnerConfig['kind'];
type AnyFactory = SpawnerFactory<SpawnerConfig>;

const LOADERS: { [K in Kind]: () => Promise<SpawnerFactory<Extract<SpawnerConfig, { kind: K }>>> } = {
  local: async () => localSpawnerFactory,
  ec2: async () => (await import('./ec2.js')).ec2SpawnerFactory,
  docker: async () => (await import('./docker.js')).dockerSpawnerFactory,
  apptainer: async () => (await import('./apptainer.js')).apptainerSpawnerFactory,
  slurm: async () => (await import('./slurm.js')).slurmSpawnerFactory,
};

const loaded = new Map<string, AnyFactory>([['local', localSpawnerFactory as unknown as AnyFactory]]);

export async function loadSpawnerKinds(kinds: Iterable<string>): Promise<void> {
  for (const kind of new Set(kinds)) {
    if (loaded.has(kind)) continue;
    const loader = LOADERS[kind as Kind];
    if (!loader) throw new Error(`unknown spawner kind ${kind}`);
    loaded.set(kind, (await loader()) as unknown as AnyFactory);
  }
}

export function createSpawner(ctx: SpawnerContext, config: SpawnerConfig, identity: { user: string; serverName: string }, state?: SpawnerState): Spawner {
  const factory = loaded.get(config.kind);
  if (!factory) throw new Error(`spawner kind '${config.kind}' is not loaded (loadSpawnerKinds at start)`);
  return factory.create(ctx, config, identity, state);
}

/** The workload inventory of a loaded kind (docker, ec2), if it has one. */
export function inventoryOf(kind: string): WorkloadInventory<SpawnerConfig> | undefined {
  return loaded.get(kind)?.inventory;
}
