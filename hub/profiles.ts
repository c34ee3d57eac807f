/**
 * Turns a profile choice (the server's user_options) into what a spawn needs: the spawner options
 * (top-level spawner ← profile ← choices), resource limits, and normalized user_options.
 * The same user_options come from the spawn page form and from the REST API.
 */
import type { Config } from '../config/schema.js';
import { SpawnerSchema } from '../config/schema.js';
import type { AppRoute, Limits, ProfileConfig } from '../config/profiles-schema.js';
import type { ResourceLimits } from '../spawners/spawner.js';
import { HubError } from './errors.js';
import { deepMerge, isPlain } from '../config/merge.js';

export { deepMerge };

export type SpawnerConfig = Config['spawner'];

export interface ResolvedSpawn {
  spawner: SpawnerConfig;
  app: AppRoute;
  limits?: ResourceLimits;
  userOptions: Record<string, unknown>;
  profile?: ProfileConfig;
}

function substitute(value: unknown, text: string): unknown {
  if (typeof value === 'string') return value.replaceAll('{value}', text);
  if (Array.isArray(value)) return value.map((v) => substitute(v, text));
  if (isPlain(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, text)]));
  return value;
}

const UNITS: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
export function parseBytes(v: number | string): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT])/i.exec(v.trim());
  if (!m) throw new HubError(400, `invalid size '${v}'`);
  return Math.round(Number(m[1]) * UNITS[m[2].toUpperCase()]);
}

function toResourceLimits(l: Limits): ResourceLimits | undefined {
  const out: ResourceLimits = {};
  if (l.cpu !== undefined) out.cpus = l.cpu;
  if (l.memory !== undefined) out.memBytes = parseBytes(l.memory);
  if (l.gpu !== undefined) out.gpus = l.gpu;
  return Object.keys(out).length ? out : undefined;
}

/** Merges overrides into a spawner config; switching `kind` starts from the override alone. */
export function mergeSpawner(base: SpawnerConfig, over: Record<string, unknown>): SpawnerConfig {
  const from = over.kind !== undefined && over.kind !== base.kind ? {} : (base as unknown as Record<string, unknown>);
  const parsed = SpawnerSchema.safeParse(deepMerge(from, over));
  if (!parsed.success) throw new HubError(500, `profile spawner options are invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

export function visibleProfiles(config: Config, groups: readonly string[]): ProfileConfig[] {
  return config.profiles.filter((p) => p.groups.length === 0 || p.groups.some((g) => groups.includes(g)));
}

export function defaultProfile(profiles: ProfileConfig[]): ProfileConfig | undefined {
  return profiles.find((p) => p.default) ?? profiles[0];
}

export const unlistedKey = (option: string) => `${option}--unlisted-choice`;
export const UNLISTED = '__unlisted__';

export function resolveSpawn(config: Config, groups: readonly string[], userOptions: Record<string, unknown>): ResolvedSpawn {
  if (config.profiles.length === 0) return { spawner: config.spawner, app: config.app, userOptions };
  const visible = visibleProfiles(config, groups);
  const requested = userOptions.profile;
  if (requested !== undefined && typeof requested !== 'string') throw new HubError(400, "'profile' must be a string");
  const profile = requested === undefined ? defaultProfile(visible) : visible.find((p) => p.slug === requested);
  if (!profile) throw new HubError(400, requested === undefined ? 'No profile is available to you' : `Unknown profile '${requested}'`);
  let spawner = mergeSpawner(config.spawner, profile.spawner);
  let limits: Limits = { ...profile.limits };
  const normalized: Record<string, unknown> = { profile: profile.slug };
  const known = new Set(['profile']);
  for (const [name, option] of Object.entries(profile.options)) {
    known.add(name);
    known.add(unlistedKey(name));
    const raw = userOptions[name];
    if (raw !== undefined && typeof raw !== 'string') throw new HubError(400, `Option '${name}' must be a string`);
    const free = userOptions[unlistedKey(name)];
    if (raw === UNLISTED || (raw === undefined && free !== undefined)) {
      if (!option.unlistedChoice?.enabled) throw new HubError(400, `Option '${option.displayName}' has no free-text choice`);
      if (typeof free !== 'string' || !new RegExp(`^(?:${option.unlistedChoice.validationRegex})$`).test(free)) {
        throw new HubError(400, `${option.displayName}: ${option.unlistedChoice.validationMessage}`);
      }
      spawner = mergeSpawner(spawner, substitute(option.unlistedChoice.spawner, free) as Record<string, unknown>);
      normalized[name] = UNLISTED;
      normalized[unlistedKey(name)] = free;
      continue;
    }
    const slug = raw ?? Object.entries(option.choices).find(([, c]) => c.default)?.[0] ?? Object.keys(option.choices)[0];
    const choice = option.choices[slug];
    if (!choice) throw new HubError(400, `'${slug}' is not a choice of '${option.displayName}' (choose one of: ${Object.keys(option.choices).join(', ')})`);
    spawner = mergeSpawner(spawner, choice.spawner);
    if (choice.limits) limits = { ...limits, ...choice.limits };
    normalized[name] = slug;
  }
  const unknown = Object.keys(userOptions).filter((k) => !known.has(k));
  if (unknown.length) throw new HubError(400, `Unknown options for profile '${profile.slug}': ${unknown.join(', ')}`);
  return { spawner, app: profile.app ?? config.app, limits: toResourceLimits(limits), userOptions: normalized, profile };
}

/** Human summary of limits for cards and the admin page. */
export function describeLimits(l: Limits | ResourceLimits | undefined): string {
  if (!l) return '';
  const parts: string[] = [];
  const cpus = 'cpu' in l ? l.cpu : (l as ResourceLimits).cpus;
  const mem = 'memory' in l ? l.memory : (l as ResourceLimits).memBytes;
  const gpus = 'gpu' in l ? l.gpu : (l as ResourceLimits).gpus;
  if (cpus !== undefined) parts.push(`${cpus} CPU${cpus === 1 ? '' : 's'}`);
  if (mem !== undefined) parts.push(typeof mem === 'string' ? `${mem} memory` : `${(mem / 1024 ** 3).toFixed(mem % 1024 ** 3 ? 1 : 0)} GB memory`);
  if (gpus) parts.push(`${gpus} GPU${gpus === 1 ? '' : 's'}`);
  return parts.join(' · ');
}
