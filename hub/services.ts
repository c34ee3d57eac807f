/**
 * Services (JupyterHub services.md): externally managed ones reach the API with their token;
 * hub-managed ones are started by the hub with the JupyterHub service environment and restarted
 * if they die. Services with a url are routed at /services/{name}/ and are OAuth clients.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Config } from '../config/schema.js';
import type { Clock } from './clock.js';
import { isoNow } from './clock.js';
import type { OAuthRepo } from './db/oauth.js';
import type { ServiceRepo, ServiceRow } from './db/services.js';
import type { TokenRepo } from './db/tokens.js';
import { HubError } from './errors.js';
import type { Logger } from './log.js';
import type { Subdomains } from './subdomains.js';

type ServiceConfig = Config['services'][number];

export interface ServiceManagerDeps {
  config: Config;
  services: ServiceRepo;
  tokens: TokenRepo;
  oauth: OAuthRepo;
  clock: Clock;
  log: Logger;
  hubApiUrl: string;
  serviceTokens: Record<string, string>;
  /** set with `subdomainHost`: services live on their own host (services.<domain>), as in JupyterHub */
  subdomains?: Subdomains;
}

export const serviceClientId = (name: string) => `service-${name}`;
export const servicePrefix = (name: string) => `/services/${encodeURIComponent(name)}/`;

export class ServiceManager {
  private readonly children = new Map<string, ChildProcess>();
  /** Tokens of hub-managed services, handed to their processes at launch. */
  private readonly pendingTokens = new Map<string, string>();
  private stopping = false;

  constructor(private readonly d: ServiceManagerDeps) {}

  /** Registers configured services (and forgets ones removed from config). */
  applyConfig(): void {
    const now = isoNow(this.d.clock);
    const names = new Set(this.d.config.services.map((s) => s.name));
    for (const row of this.d.services.list()) if (row.from_config && !names.has(row.name)) this.remove(row);
    for (const svc of this.d.config.services) {
      if (!svc.command && svc.url === undefined && !svc.apiTokenEnv) throw new HubError(500, `service '${svc.name}': give it a url, a command or an apiTokenEnv`);
      if (svc.command && !svc.url) throw new HubError(500, `service '${svc.name}': a hub-managed service needs the url it will listen on`);
      const row = this.d.services.upsert({
        name: svc.name,
        url: svc.url ?? null,
        display: svc.display,
        oauthClientId: svc.url ? serviceClientId(svc.name) : null,
        oauthNoConfirm: svc.oauthNoConfirm,
        fromConfig: true,
        info: {},
        now,
      });
      const external = this.d.serviceTokens[svc.name];
      if (svc.apiTokenEnv && !external) throw new HubError(500, `service '${svc.name}': environment variable ${svc.apiTokenEnv} is not set`);
      // Managed services get a fresh token each start; external ones keep the token they were given.
      this.d.tokens.deleteForService(row.id);
      const { token } = this.d.tokens.create({ kind: 'api', serviceId: row.id, scopes: ['inherit'], note: `Service ${svc.name}`, now, value: external });
      if (svc.url) {
        this.d.oauth.upsertClient({
          identifier: serviceClientId(svc.name),
          secret: token,
          redirectUri: `${this.publicUrl(svc.name)}oauth_callback`,
          description: `Service ${svc.name}`,
          allowedScopes: [`access:services!service=${svc.name}`, ...svc.oauthClientAllowedScopes],
          now,
        });
      }
      if (svc.command) this.pendingTokens.set(svc.name, token);
    }
  }

  private remove(row: ServiceRow): void {
    this.d.oauth.deleteClient(serviceClientId(row.name));
    this.d.services.delete(row.id);
  }

  /** Where browsers reach a service: its path, or its full URL on the services' host with subdomains. */
  publicUrl(name: string): string {
    return this.d.subdomains?.serviceUrl(name) ?? servicePrefix(name);
  }

  /** The proxy route of a service. */
  routePath(name: string): string {
    return this.d.subdomains?.serviceRoute(name) ?? servicePrefix(name);
  }

  /** Proxy routes the hub must keep for services with a url. */
  routes(): Array<{ path: string; target: string; data: Record<string, unknown> }> {
    return this.d.services
      .list()
      .filter((s) => s.url)
      .map((s) => ({ path: this.routePath(s.name), target: new URL(s.url!).origin, data: { service: s.name } }));
  }

  envFor(svc: ServiceConfig, token: string): Record<string, string> {
    const prefix = servicePrefix(svc.name);
    const sub = this.d.subdomains;
    const access = JSON.stringify([`access:services!service=${svc.name}`]);
    const env: Record<string, string> = {};
    for (const k of ['PATH', 'PYTHONPATH', 'LANG', 'LC_ALL', 'HOME', 'VIRTUAL_ENV']) if (process.env[k] !== undefined) env[k] = process.env[k]!;
    return {
      ...env,
      JUPYTERHUB_SERVICE_NAME: svc.name,
      JUPYTERHUB_API_TOKEN: token,
      JPY_API_TOKEN: token,
      JUPYTERHUB_API_URL: this.d.hubApiUrl,
      JUPYTERHUB_BASE_URL: '/',
      JUPYTERHUB_CLIENT_ID: serviceClientId(svc.name),
      JUPYTERHUB_HOST: sub ? sub.hubOrigin : '',
      JUPYTERHUB_SERVICE_PREFIX: prefix,
      JUPYTERHUB_SERVICE_URL: svc.url ?? '',
      JUPYTERHUB_OAUTH_CALLBACK_URL: `${this.publicUrl(svc.name)}oauth_callback`,
      JUPYTERHUB_OAUTH_SCOPES: access,
      JUPYTERHUB_OAUTH_ACCESS_SCOPES: access,
      JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES: JSON.stringify(svc.oauthClientAllowedScopes),
      JUPYTERHUB_PUBLIC_URL: sub ? this.publicUrl(svc.name) : '',
      JUPYTERHUB_PUBLIC_HUB_URL: sub ? `${sub.hubOrigin}/hub/` : '',
      ...svc.environment,
    };
  }

  /** Starts the hub-managed services; each is restarted (with backoff) if it exits. */
  startManaged(): void {
    for (const svc of this.d.config.services) {
      if (!svc.command) continue;
      const token = this.pendingTokens.get(svc.name);
      if (token) this.launch(svc, token, 0);
    }
  }

  private launch(svc: ServiceConfig, token: string, restarts: number): void {
    const [cmd, ...args] = svc.command!;
    const child = spawn(cmd, args, { env: this.envFor(svc, token), cwd: svc.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.set(svc.name, child);
    const log = this.d.log.child({ service: svc.name });
    child.stdout?.on('data', (b: Buffer) => log.info({ out: b.toString().trimEnd() }, 'service output'));
    child.stderr?.on('data', (b: Buffer) => log.info({ out: b.toString().trimEnd() }, 'service output'));
    child.on('error', (err) => log.error({ err: err.message }, 'service failed to start'));
    child.on('exit', (code, signal) => {
      this.children.delete(svc.name);
      if (this.stopping) return;
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(restarts, 5));
      log.warn({ code, signal, restartInMs: delay }, 'service exited; restarting');
      setTimeout(() => !this.stopping && this.launch(svc, token, restarts + 1), delay).unref();
    });
  }

  async stopManaged(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.children.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
  }
}
