/** Everything the HTTP layer needs, built once by the composition root (app.ts). */
import type { Config } from '../config/schema.js';
import type { ProxyClient } from '../proxy/client.js';
import type { AccessService } from './access.js';
import type { AuthStateStore } from './auth-state.js';
import type { AuthService } from './auth/service.js';
import type { Clock } from './clock.js';
import type { Db } from './db/db.js';
import type { GroupRepo } from './db/groups.js';
import type { PortRepo } from './db/ports.js';
import type { Subdomains } from './subdomains.js';
import type { HubCookies } from './http/hub-cookies.js';
import type { RouteAuth } from './route-auth.js';
import type { OAuthRepo } from './db/oauth.js';
import type { RoleRepo } from './db/roles.js';
import type { ServiceRepo } from './db/services.js';
import type { ShareRepo } from './db/shares.js';
import type { HubMetrics } from './metrics.js';
import type { ServiceManager } from './services.js';
import type { ServerRepo } from './db/servers.js';
import type { TokenRepo } from './db/tokens.js';
import type { UserRepo } from './db/users.js';
import type { Csrf } from './http/csrf.js';
import type { Logger } from './log.js';
import type { HubSecrets } from './secrets.js';
import type { ServerManager } from './servers.js';
import type { AuditLog } from './audit.js';
import type { Culler } from './culler.js';
import type { ScheduleRunner } from './schedules.js';
import type { UserModels } from './user-models.js';

export interface HubDeps {
  config: Config;
  /** This hub's id (hub_meta): the label/tag on every container and VM it creates. */
  hubId: string;
  secrets: HubSecrets;
  db: Db;
  log: Logger;
  clock: Clock;
  proxy: ProxyClient;
  users: UserRepo;
  servers: ServerRepo;
  tokens: TokenRepo;
  oauth: OAuthRepo;
  access: AccessService;
  /** Cached JupyterHub user models (JSON) for the API. */
  userModels: UserModels;
  serverManager: ServerManager;
  csrf: Csrf;
  authState: AuthStateStore;
  /** Login methods, the login pipeline, refreshAuthState(userId) (hub/auth/service.ts). */
  auth: AuthService;
  groups: GroupRepo;
  roles: RoleRepo;
  services: ServiceRepo;
  shares: ShareRepo;
  serviceManager: ServiceManager;
  metrics: HubMetrics;
  ports: PortRepo;
  /** names and path of the hub's own cookies */
  cookies: HubCookies;
  /** set with `subdomainHost`: per-user and per-share hosts */
  subdomains?: Subdomains;
  routeAuth: RouteAuth;
  /** Who did what (hub/audit.ts); `event:` log lines are recorded automatically. */
  audit: AuditLog;
  /** Idle/max-age culler (hub/culler.ts); its timer runs only in a started hub with culling configured. */
  culler: Culler;
  /** Wall-clock schedules (set by startHub; absent in hubs built by createHub alone). */
  schedules?: ScheduleRunner;
  /** The hub's own URL as the proxy reaches it (for route checks). */
  hubTarget: () => string;
  /** Stops the hub (POST /hub/api/shutdown); set by startHub. */
  shutdown: (opts: { proxy: boolean; servers: boolean }) => Promise<void>;
}
