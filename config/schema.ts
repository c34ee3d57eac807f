/**
 * The one typed configuration schema of LabHub. Every key has a default and a description;
 * the README's configuration reference is generated from this file (see `labhub config docs`)
 * and a test keeps the two in sync.
 */
import { z } from 'zod';
import { LocalSpawnerSchema } from '../spawners/local-options.js';

const port = z.number().int().min(0).max(65535);
const seconds = z.number().positive();

/**
 * Spawner kinds: each spawner module exports its own options schema (spawners never import config).
 * Add a kind by adding its schema to this union and its factory to spawners/registry.ts.
 */

export const SpawnerSchema = z.discriminatedUnion('kind', [LocalSpawnerSchema]);

export const LocalAuthSchema = z.strictObject({
  kind: z.literal('local'),
  minPasswordLength: z.number().int().min(1).max(128).default(8).describe('Minimum length of local account passwords.'),
});
export const AuthSchema = z.discriminatedUnion('kind', [LocalAuthSchema]);

export const ProxySchema = z.strictObject({
  mode: z
    .enum(['inprocess', 'subprocess', 'external'])
    .default('inprocess')
    .describe("'inprocess': LabHub's proxy runs inside the hub; 'subprocess': the hub starts `command` (CHP command line); 'external': a proxy someone else runs, reached at apiUrl."),
  command: z
    .array(z.string().min(1))
    .default(['labhub-proxy'])
    .describe("Proxy command for mode 'subprocess' (any configurable-http-proxy compatible binary)."),
  apiIp: z.string().default('127.0.0.1').describe('Address of the proxy REST API.'),
  apiPort: port.optional().describe('Port of the proxy REST API (default: public port + 1).'),
  apiUrl: z.string().url().optional().describe("Proxy REST API URL for mode 'external', e.g. http://127.0.0.1:8001."),
  routeCheckIntervalSeconds: seconds.default(60).describe('How often the hub re-syncs proxy routes from the database (check_routes).'),
});

export const ConfigSchema = z.strictObject({
  ip: z.string().default('127.0.0.1').describe('Public address the proxy listens on.'),
  port: port.default(8000).describe('Public port of the proxy (the URL users open).'),
  hubIp: z.string().default('127.0.0.1').describe('Address the hub HTTP server listens on.'),
  hubPort: port.default(8081).describe('Port of the hub HTTP server.'),
  hubConnectUrl: z
    .string()
    .url()
    .optional()
    .describe('URL single-user servers use to reach the hub (default http://hubIp:hubPort).'),
  dataDir: z.string().min(1).default('.').describe('Directory for the database, secrets, homes and logs when not set individually.'),
  db: z.string().min(1).optional().describe('SQLite database file (default {dataDir}/labhub.sqlite).'),
  cookieSecretFile: z
    .string()
    .optional()
    .describe('File holding the cookie-signing secret (default {dataDir}/labhub_cookie_secret; generated with mode 0600 if absent). Env LABHUB_COOKIE_SECRET overrides.'),
  cryptKeyFile: z
    .string()
    .optional()
    .describe('File holding the auth-state encryption key(s) (default {dataDir}/labhub_crypt_key). Env LABHUB_CRYPT_KEY (";"-separated, first encrypts) overrides.'),
  proxyAuthTokenFile: z
    .string()
    .optional()
    .describe('File holding the proxy API token (default {dataDir}/labhub_proxy_token). Env CONFIGPROXY_AUTH_TOKEN overrides.'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level.'),
  cookieMaxAgeDays: z.number().positive().max(3650).default(14).describe('Lifetime of login cookies and OAuth tokens, in days.'),
  secureCookies: z.boolean().default(false).describe('Mark cookies Secure (set when serving over https).'),
  adminUsers: z.array(z.string().min(1)).default([]).describe('Users who are made admins at start.'),
  startTimeoutSeconds: seconds.default(60).describe("Time allowed for a spawner's start() (JupyterHub start_timeout)."),
  httpTimeoutSeconds: seconds.default(30).describe('Time allowed for a started server to answer HTTP (JupyterHub http_timeout).'),
  slowSpawnTimeoutSeconds: z.number().min(0).default(10).describe('How long a start request waits before answering 202 (pending).'),
  pollIntervalSeconds: seconds.default(30).describe('How often running servers are polled.'),
  allowNamedServers: z.boolean().default(false).describe('Allow users to run several named servers (JupyterHub allow_named_servers).'),
  namedServerLimitPerUser: z.number().int().min(0).default(0).describe('Maximum named servers per user (0 = no limit).'),
  spawner: SpawnerSchema.prefault({ kind: 'local' }).describe('Which spawner starts servers, and its options.'),
  auth: AuthSchema.prefault({ kind: 'local' }).describe('How users log in.'),
  proxy: ProxySchema.prefault({}).describe('The configurable-http-proxy compatible proxy.'),
});

export type Config = z.infer<typeof ConfigSchema>;
export type ProxyConfig = z.infer<typeof ProxySchema>;
