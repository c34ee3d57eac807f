/** Everything the HTTP layer needs, built once by the composition root (app.ts). */
import type { Config } from '../config/schema.js';
import type { ProxyClient } from '../proxy/client.js';
import type { AccessService } from './access.js';
import type { AuthStateStore } from './auth-state.js';
import type { AuthService } from './auth/service.js';
import type { Clock } from './clock.js';
import type { Db } from './db/db.js';
import type { OAuthRepo } from './db/oauth.js';
import type { ServerRepo } from './db/servers.js';
import type { TokenRepo } from './db/tokens.js';
import type { UserRepo } from './db/users.js';
import type { Csrf } from './http/csrf.js';
import type { Logger } from './log.js';
import type { HubSecrets } from './secrets.js';
import type { ServerManager } from './servers.js';

export interface HubDeps {
  config: Config;
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
  serverManager: ServerManager;
  csrf: Csrf;
  authState: AuthStateStore;
  /** Login methods, the login pipeline, refreshAuthState(userId) (hub/auth/service.ts). */
  auth: AuthService;
}
