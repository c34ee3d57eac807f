/** Spawner kinds by name (the analogue of JupyterHub's entry-point spawner_class). */
import type { Config } from '../config/schema.js';
import { localSpawnerFactory } from './local.js';
import { ec2SpawnerFactory } from './ec2.js';
import { dockerSpawnerFactory } from './docker.js';
import { apptainerSpawnerFactory } from './apptainer.js';
import { slurmSpawnerFactory } from './slurm.js';
import type { Spawner, SpawnerContext, SpawnerFactory, SpawnerState } from './spawner.js';

export type SpawnerConfig = Config['spawner'];

const FACTORIES: { [K in SpawnerConfig['kind']]: SpawnerFactory<Extract<SpawnerConfig, { kind: K }>> } = {
  local: localSpawnerFactory,
  ec2: ec2SpawnerFactory,
  docker: dockerSpawnerFactory,
  apptainer: apptainerSpawnerFactory,
  slurm: slurmSpawnerFactory,
};

export function createSpawner(ctx: SpawnerContext, config: SpawnerConfig, identity: { user: string; serverName: string }, state?: SpawnerState): Spawner {
  const factory = FACTORIES[config.kind] as SpawnerFactory<SpawnerConfig> | undefined;
  if (!factory) throw new Error(`unknown spawner kind ${String(config.kind)}`);
  return factory.create(ctx, config, identity, state);
}
