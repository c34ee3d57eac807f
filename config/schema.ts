/**
 * The one typed configuration schema of LabHub. Every key has a default and a description;
 * the README's configuration reference is generated from this file (see `labhub config docs`)
 * and a test keeps the two in sync.
 */
import { z } from 'zod';
import { LocalSpawnerSchema } from '../spawners/local-options.js';
import { Ec2SpawnerSchema } from '../spawners/ec2-options.js';
import { DockerSpawnerSchema } from '../spawners/docker-options.js';
import { ApptainerSpawnerSchema } from '../spawners/apptainer-options.js';
import { SlurmSpawnerSchema } from '../spawners/slurm-options.js';
import { AuthSchema } from './auth-schema.js';
import { AppRouteSchema, ProfileSchema } from './profiles-schema.js';
import { deepMerge } from './merge.js';
import { SchedulesSchema } from '../hub/schedules.js';
import { CullingSchema, OperationsSchema, QuotasSchema } from './ops-schema.js';

const port = z.number().int().min(0).max(65535);
const seconds = z.number().positive();

/**
 * Spawner kinds: each spawner module exports its own options schema (spawners never import config).
 * Add a kind by adding its schema to this union and its factory to spawners/registry.ts.
 */

export const SpawnerSchema = z.discriminatedUnion('kind', [LocalSpawnerSchema, Ec2SpawnerSchema, DockerSpawnerSchema, ApptainerSpawnerSchema, SlurmSpawnerSchema]);

export { AuthSchema } from './auth-schema.js';

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
  persistRoutes: z
    .boolean()
    .default(true)
    .describe("LabHub's proxy (mode inprocess, or subprocess with labhub-proxy) keeps its route table in {dataDir}/labhub-proxy-routes.sqlite, so after a restart of the proxy or the hub it serves every route at once."),
});

export const SslSchema = z.strictObject({
  keyFile: z.string().min(1).describe('PEM private key for the public address (JupyterHub ssl_key). Read at start; never logged.'),
  certFile: z.string().min(1).describe('PEM certificate (chain) for the public address (JupyterHub ssl_cert).'),
  redirectPort: port.optional().describe('Also listen for plain HTTP on this port (e.g. 80) and redirect every request to the https address.'),
});

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export const RoleSchema = z.strictObject({
  name: z.string().regex(NAME, 'role names use letters, digits, . _ @ -').describe('Role name; `user`, `admin`, `server`, `token` redefine the default roles.'),
  description: z.string().optional().describe('What the role is for.'),
  scopes: z
    .array(z.string().min(1))
    .optional()
    .describe('Scopes the role grants (JupyterHub scope syntax, filters allowed). Left out for a default role (`user`, `admin`, `server`, `token`): its default scopes, so `{name: admin, groups: [staff]}` only assigns it, as in JupyterHub; left out for another role: none.'),
  users: z.array(z.string()).default([]).describe('Users holding the role (config is authoritative for this role).'),
  groups: z.array(z.string()).default([]).describe('Groups whose members hold the role.'),
  services: z.array(z.string()).default([]).describe('Services holding the role.'),
});

export const GroupConfigSchema = z.strictObject({
  users: z.array(z.string()).default([]).describe('Members (created if missing).'),
  properties: z.record(z.string(), z.unknown()).default({}).describe('Free-form properties (e.g. for spawners).'),
});

export const ServiceSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'service names use letters, digits, . _ -').describe('Service name; routed at /services/{name}/ when url is set.'),
  url: z.string().url().optional().describe('Where the service listens (hub-managed: where its command will listen).'),
  command: z.array(z.string().min(1)).min(1).optional().describe('Makes the service hub-managed: the hub starts this command with the JupyterHub service environment.'),
  environment: z.record(z.string(), z.string()).default({}).describe('Extra environment for a hub-managed service.'),
  cwd: z.string().optional().describe('Working directory of a hub-managed service.'),
  apiTokenEnv: z.string().optional().describe('Name of an environment variable holding the API token of an externally managed service (never put tokens in the file).'),
  display: z.boolean().default(true).describe("Show the service's link on the home page."),
  oauthNoConfirm: z.boolean().default(false).describe('Skip the OAuth consent page for this service.'),
  oauthClientAllowedScopes: z.array(z.string()).default([]).describe('Extra scopes the service may request from users via OAuth.'),
});

/** The proxy API's port: proxy.apiPort, else the public port + 1 as in CHP (0 stays "any free port"). */
export function proxyApiPort(c: { port: number; proxy: { apiPort?: number } }): number {
  return c.proxy.apiPort ?? (c.port === 0 ? 0 : c.port + 1);
}

/** The addresses LabHub itself listens on, so two of them can't be the same socket (caught here, not as EADDRINUSE). */
function portClash(c: { ip: string; port: number; hubIp: string; hubPort: number; proxy: { mode: string; apiIp: string; apiPort?: number }; ssl?: { redirectPort?: number } }): { path: string[]; message: string } | undefined {
  const listeners: Array<{ what: string; path: string[]; ip: string; port: number }> = [{ what: 'the hub (hubPort)', path: ['hubPort'], ip: c.hubIp, port: c.hubPort }];
  if (c.proxy.mode !== 'external') {
    listeners.unshift({ what: 'the public port (port)', path: ['port'], ip: c.ip, port: c.port });
    listeners.push({ what: `the proxy API (proxy.apiPort${c.proxy.apiPort === undefined ? ', by default port + 1' : ''})`, path: ['proxy', 'apiPort'], ip: c.proxy.apiIp, port: proxyApiPort(c) });
  }
  if (c.ssl?.redirectPort !== undefined) listeners.push({ what: 'the http redirect (ssl.redirectPort)', path: ['ssl', 'redirectPort'], ip: c.ip, port: c.ssl.redirectPort });
  const anyAddress = (ip: string) => ip === '' || ip === '0.0.0.0' || ip === '::' || ip === '*';
  for (const [i, a] of listeners.entries()) {
    for (const b of listeners.slice(i + 1)) {
      if (a.port === 0 || a.port !== b.port || !(a.ip === b.ip || anyAddress(a.ip) || anyAddress(b.ip))) continue;
      return { path: b.path, message: `port ${b.port} is taken by ${a.what} as well as ${b.what}; give one of them another port` };
    }
  }
  return undefined;
}

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
  secureCookies: z.boolean().default(false).describe('Mark cookies Secure and send HSTS (for https served by something in front of LabHub; on by itself with `ssl`).'),
  cookieHostPrefix: z
    .boolean()
    .default(false)
    .describe("Give the hub's cookies JupyterHub 4.1's `__Host-` form (Secure, path /, host-only), so pages on users' subdomains cannot plant hub cookies (cookie tossing). Needs subdomainHost and https."),
  ssl: SslSchema.optional().describe("Serve the public address over HTTPS (JupyterHub ssl_key/ssl_cert): LabHub's proxy terminates TLS; cookies become Secure and HSTS is sent."),
  subdomainHost: z
    .string()
    .url()
    .optional()
    .describe(
      "Per-user origins (JupyterHub subdomain_host): the hub's public URL, e.g. https://hub.example.org; alice's servers are then served at https://alice.hub.example.org/user/alice/ and her shared port 8050 at https://8050--alice.hub.example.org/, each an origin of its own. Needs a wildcard DNS record and certificate, and LabHub's proxy (mode inprocess or subprocess).",
    ),
  adminUsers: z.array(z.string().min(1)).default([]).describe('Users who are made admins at start.'),
  startTimeoutSeconds: seconds.default(60).describe("Time allowed for a spawner's start() (JupyterHub start_timeout)."),
  httpTimeoutSeconds: seconds.default(30).describe('Time allowed for a started server to answer HTTP (JupyterHub http_timeout).'),
  slowSpawnTimeoutSeconds: z.number().min(0).default(10).describe('How long a start request waits before answering 202 (pending).'),
  pollIntervalSeconds: seconds.default(30).describe('How often running servers are polled.'),
  allowNamedServers: z.boolean().default(false).describe('Allow users to run several named servers (JupyterHub allow_named_servers).'),
  namedServerLimitPerUser: z.number().int().min(0).default(0).describe('Maximum named servers per user (0 = no limit).'),
  concurrentSpawnLimit: z.number().int().min(0).default(100).describe('Maximum spawns in progress at once (0 = no limit); more get 429 with Retry-After.'),
  activeServerLimit: z.number().int().min(0).default(0).describe('Maximum running servers (0 = no limit); more get 429.'),
  roles: z.array(RoleSchema).default([]).describe('Custom roles and role assignments (JupyterHub load_roles).'),
  groups: z.record(z.string().regex(NAME), GroupConfigSchema).default({}).describe('Groups created at start with members and properties (JupyterHub load_groups).'),
  customScopes: z
    .record(z.string().regex(/^custom:[A-Za-z0-9:_.-]+$/, "custom scopes start with 'custom:'"), z.strictObject({ description: z.string().default('') }))
    .default({})
    .describe('Custom scopes (custom:…) that roles may grant and services may check.'),
  services: z.array(ServiceSchema).default([]).describe('Services: externally managed (url + apiTokenEnv) or hub-managed (command).'),
  spawner: SpawnerSchema.prefault({ kind: 'local' }).describe('Which spawner starts servers, and its options.'),
  app: AppRouteSchema.prefault({}).describe('How the proxy serves single-user apps (hub authentication, prefix stripping); profiles may override it.'),
  profiles: z
    .array(ProfileSchema)
    .default([])
    .refine((ps) => new Set(ps.map((p) => p.slug)).size === ps.length, 'profile slugs must be unique')
    .describe('Environments offered on the spawn page (none: servers start with the top-level spawner).'),
  schedules: SchedulesSchema,
  culling: CullingSchema.prefault({}).describe('Built-in culler: idle timeout and max age, per profile/group (docs/operations.md).'),
  quotas: QuotasSchema.prefault({}).describe('Quotas: servers per user, running per group/profile, CPU/memory budget per group.'),
  operations: OperationsSchema.prefault({}).describe('Reconciliation concurrency, shutdown behaviour, proxy health checks, audit retention.'),
  auth: AuthSchema.prefault({}).describe('How users log in: methods (local, github, oidc) and who may log in (see config/auth-schema.ts).'),
  proxy: ProxySchema.prefault({}).describe('The configurable-http-proxy compatible proxy.'),
}).superRefine((config, ctx) => {
  const clash = portClash(config);
  if (clash) ctx.addIssue({ code: 'custom', path: clash.path, message: clash.message });
  if (config.ssl && config.proxy.mode === 'external') ctx.addIssue({ code: 'custom', path: ['ssl'], message: "TLS is the external proxy's job: set it up there (and secureCookies: true here)" });
  if (config.ssl && config.subdomainHost?.startsWith('http:')) ctx.addIssue({ code: 'custom', path: ['subdomainHost'], message: 'must be https:// when ssl is set' });
  if (config.cookieHostPrefix && (!config.subdomainHost || !(config.ssl || config.secureCookies)))
    ctx.addIssue({ code: 'custom', path: ['cookieHostPrefix'], message: 'needs subdomainHost (hub cookies at path / would otherwise reach users\' servers) and https (ssl, or secureCookies behind a TLS proxy)' });
  if (config.subdomainHost !== undefined) {
    const problem = subdomainHostProblem(config.subdomainHost);
    if (problem) ctx.addIssue({ code: 'custom', path: ['subdomainHost'], message: problem });
    else if (config.proxy.mode === 'external') ctx.addIssue({ code: 'custom', path: ['subdomainHost'], message: "needs LabHub's proxy (proxy.mode inprocess or subprocess): an external proxy does not route by subdomain" });
  }
  // Every profile and choice must give valid spawner options once merged, so a bad profile
  // fails at start (with its path), not when a user picks it.
  const check = (over: Record<string, unknown>, base: Record<string, unknown>, path: (string | number)[]) => {
    const from = over.kind !== undefined && over.kind !== base.kind ? {} : base;
    const r = SpawnerSchema.safeParse(deepMerge(from, over));
    if (!r.success) for (const i of r.error.issues) ctx.addIssue({ code: 'custom', path: [...path, ...i.path.map(String)], message: i.message });
    return r.success ? (r.data as unknown as Record<string, unknown>) : base;
  };
  config.profiles.forEach((p, i) => {
    const base = check(p.spawner, config.spawner as unknown as Record<string, unknown>, ['profiles', i, 'spawner']);
    for (const [name, option] of Object.entries(p.options)) {
      for (const [slug, choice] of Object.entries(option.choices)) check(choice.spawner, base, ['profiles', i, 'options', name, 'choices', slug, 'spawner']);
      try {
        if (option.unlistedChoice) new RegExp(option.unlistedChoice.validationRegex);
      } catch {
        ctx.addIssue({ code: 'custom', path: ['profiles', i, 'options', name, 'unlistedChoice', 'validationRegex'], message: 'not a valid regular expression' });
      }
    }
  });
})
  // served over https by LabHub itself: cookies must be Secure
  .transform((config) => (config.ssl && !config.secureCookies ? { ...config, secureCookies: true } : config));

/** Why a subdomainHost value cannot carry subdomains, or undefined when it can. */
function subdomainHostProblem(value: string): string | undefined {
  if (!URL.canParse(value)) return 'must be a URL such as https://hub.example.org';
  const u = new URL(value);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (u.pathname !== '/' || u.search || u.hash || u.username || u.password) return 'must be scheme://host[:port] only, without a path, query or credentials';
  if (/^[\d.]+$/.test(u.hostname) || u.hostname.startsWith('[')) return 'must be a host name (an IP address has no subdomains)';
  return undefined;
}

export type Config = z.infer<typeof ConfigSchema>;
export type ProxyConfig = z.infer<typeof ProxySchema>;
