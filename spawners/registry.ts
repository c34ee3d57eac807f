/** Spawner kinds by name (the analogue of JupyterHub's entry-point spawner_class). */
import type { Config } from '../config/schema.js';
import { localSpawnerFactory } from './local.js';
import type { Spawner, SpawnerContext, SpawnerState } from './spawner.js';

export type SpawnerConfig = Config['spawner'];

export function createSpawner(ctx: SpawnerContext, config: SpawnerConfig, identity: { user: string; serverName: string }, state?: SpawnerState): Spawner {
  switch (config.kind) {
    case 'local':
      return localSpawnerFactory.create(ctx, config, identity, state);
    default: {
      const kind: never = config.kind;
      throw new Error(`unknown spawner kind ${String(kind)}`);
    }
  }
}
