/**
 * Builds the frozen Config from its layers: schema defaults < YAML file < environment < CLI flags.
 * The only module that reads process.env (callers pass it in, so tests stay pure).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { ConfigSchema, type Config } from './schema.js';

export interface ConfigProblem {
  /** Dotted key path, e.g. "spawner.cmd" ("(file)" for parse errors). */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[], readonly source?: string) {
    super(
      `Invalid configuration${source ? ` in ${source}` : ''}:\n` +
        problems.map((p) => `  - ${p.path}: ${p.message}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

/** Secrets and one-off values that come only from the environment, never from files in the repo. */
export interface EnvSecrets {
  cookieSecret?: string;
  cryptKeys?: string[];
  proxyAuthToken?: string;
  adminPassword?: string;
  /** OAuth client secrets of login methods, by method name: env LABHUB_<NAME>_CLIENT_SECRET (e.g. LABHUB_GITHUB_CLIENT_SECRET). */
  clientSecrets?: Record<string, string>;
  /** API tokens of externally managed services, read from the variables their apiTokenEnv names. */
  serviceTokens?: Record<string, string>;
}

export interface LoadedConfig {
  config: Config;
  secrets: EnvSecrets;
  configFile?: string;
}

export type CliOverrides = Partial<{
  ip: string;
  port: number;
  hubIp: string;
  hubPort: number;
  db: string;
  dataDir: string;
  logLevel: string;
}>;

const ENV_KEYS: Record<string, { key: string; type: 'string' | 'int' }> = {
  LABHUB_IP: { key: 'ip', type: 'string' },
  LABHUB_PORT: { key: 'port', type: 'int' },
  LABHUB_HUB_IP: { key: 'hubIp', type: 'string' },
  LABHUB_HUB_PORT: { key: 'hubPort', type: 'int' },
  LABHUB_DB: { key: 'db', type: 'string' },
  LABHUB_DATA_DIR: { key: 'dataDir', type: 'string' },
  LABHUB_LOG_LEVEL: { key: 'logLevel', type: 'string' },
};

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function issuesToProblems(error: z.ZodError): ConfigProblem[] {
  return error.issues.map((issue) => {
    const path = issue.path.length ? issue.path.join('.') : '(root)';
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      return { path: [...issue.path, ...issue.keys].join('.') || '(root)', message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}` };
    }
    return { path, message };
  });
}

export function parseConfigText(text: string, source: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    const msg = err instanceof YAMLParseError ? err.message : String(err);
    throw new ConfigError([{ path: '(file)', message: `not valid YAML: ${msg}` }], source);
  }
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ path: '(root)', message: 'the file must contain a mapping of keys' }], source);
  }
  return raw as Record<string, unknown>;
}

export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '(file)', message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }], file);
  }
  return parseConfigText(text, file);
}

export interface LoadConfigInput {
  env: Record<string, string | undefined>;
  /** Explicit --config file; falls back to env LABHUB_CONFIG. */
  file?: string;
  cli?: CliOverrides;
}

export function loadConfig({ env, file, cli = {} }: LoadConfigInput): LoadedConfig {
  const configFile = file ?? (env.LABHUB_CONFIG || undefined);
  const layered: Record<string, unknown> = configFile ? { ...readConfigFile(configFile) } : {};
  const problems: ConfigProblem[] = [];
  for (const [name, { key, type }] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (type === 'int') {
      const n = Number(value);
      if (!Number.isInteger(n)) problems.push({ path: key, message: `${name}='${value}' is not an integer` });
      else layered[key] = n;
    } else layered[key] = value;
  }
  for (const [key, value] of Object.entries(cli)) if (value !== undefined) layered[key] = value;
  if (problems.length) throw new ConfigError(problems, configFile);
  const result = ConfigSchema.safeParse(layered);
  if (!result.success) throw new ConfigError(issuesToProblems(result.error), configFile);
  const cryptKey = env.LABHUB_CRYPT_KEY || env.JUPYTERHUB_CRYPT_KEY;
  const secrets: EnvSecrets = {
    cookieSecret: env.LABHUB_COOKIE_SECRET || env.JPY_COOKIE_SECRET || undefined,
    cryptKeys: cryptKey ? cryptKey.split(';').map((k) => k.trim()).filter(Boolean) : undefined,
    proxyAuthToken: env.CONFIGPROXY_AUTH_TOKEN || undefined,
    adminPassword: env.LABHUB_ADMIN_PASSWORD || undefined,
    clientSecrets: Object.fromEntries(
      Object.entries(env)
        .filter(([k, v]) => /^LABHUB_[A-Z0-9_]+_CLIENT_SECRET$/.test(k) && v)
        .map(([k, v]) => [k.slice('LABHUB_'.length, -'_CLIENT_SECRET'.length).toLowerCase().replace(/_/g, '-'), v as string]),
    ),
    serviceTokens: Object.fromEntries(
      result.data.services.filter((svc) => svc.apiTokenEnv && env[svc.apiTokenEnv]).map((svc) => [svc.name, env[svc.apiTokenEnv!] as string]),
    ),
  };
  return { config: deepFreeze(result.data), secrets, configFile };
}

/** Validates a file alone (for `labhub config check FILE`). */
export function checkConfigFile(file: string): Config {
  const raw = readConfigFile(file);
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(issuesToProblems(result.error), file);
  return result.data;
}

/** Flattened [path, description, default] rows for the README reference. */
export function describeConfig(): Array<{ path: string; type: string; default: string; description: string }> {
  const rows: Array<{ path: string; type: string; default: string; description: string }> = [];
  const json = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  walk(json, '', rows);
  return rows;
}

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  default?: unknown;
  description?: string;
  enum?: unknown[];
  items?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  const?: unknown;
}

function typeName(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.type === 'array') return `${s.items ? typeName(s.items) : 'any'}[]`;
  if (Array.isArray(s.type)) return s.type.join(' \\| ');
  return s.type ?? 'object';
}

function walk(s: JsonSchema, prefix: string, rows: Array<{ path: string; type: string; default: string; description: string }>): void {
  const variants = s.oneOf ?? s.anyOf;
  if (variants && !s.properties) {
    for (const v of variants) walk({ ...v, description: v.description ?? s.description }, prefix, rows);
    return;
  }
  for (const [key, child] of Object.entries(s.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const childVariants = child.oneOf ?? child.anyOf;
    if (child.properties || (childVariants && childVariants.some((v) => v.properties))) {
      rows.push({ path, type: 'object', default: '', description: child.description ?? '' });
      walk(child, path, rows);
      continue;
    }
    if (rows.some((r) => r.path === path)) continue;
    rows.push({
      path,
      type: typeName(child),
      default: child.default === undefined ? '' : JSON.stringify(child.default),
      description: child.description ?? '',
    });
  }
}
