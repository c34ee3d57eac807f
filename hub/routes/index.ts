/**
 * Route registration. The REST API lives on the API router (hub/http/api-router.ts); Express serves
 * pages, the OAuth endpoints and static files, turns unknown API paths into JSON 404s, and has the
 * error handler last.
 */
import express, { type Express } from 'express';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { HubDeps } from '../deps.js';
import { HubError } from '../errors.js';
import { errorHandler } from '../http/error-handler.js';
import { oauthRouter } from '../oauth/provider.js';
import { groupsRoutes } from './api/groups.js';
import { portsRoutes, routeLoginRouter } from './api/ports.js';
import { hubRoutes } from './api/hub.js';
import { infoRoutes } from './api/info.js';
import { servicesRoutes } from './api/services.js';
import { sharesRoutes } from './api/shares.js';
import { reportRoutes } from './api/report.js';
import { gitCredentialsRoutes } from './api/git-credentials.js';
import { serversRoutes } from './api/servers.js';
import { tokensRoutes } from './api/tokens.js';
import { currentUserRoutes } from './api/user.js';
import { usersRoutes } from './api/users.js';
import { loginRouter } from './login.js';
import { accountRouter } from './account.js';
import { passwordsRoutes } from './api/passwords.js';
import type { ApiRouter } from '../http/api-router.js';
import { pagesRouter } from './pages.js';
import { adminRouter } from './admin.js';
import { tokenPageRouter } from './token-page.js';
import { opsApiRoutes, opsRouter } from './ops.js';

const require = createRequire(import.meta.url);
const xtermRoot = dirname(require.resolve('@xterm/xterm/package.json'));
const fitRoot = dirname(require.resolve('@xterm/addon-fit/package.json'));
const XTERM_FILES: Record<string, string> = {
  'xterm.js': join(xtermRoot, 'lib', 'xterm.js'),
  'xterm.css': join(xtermRoot, 'css', 'xterm.css'),
  'addon-fit.js': join(fitRoot, 'lib', 'addon-fit.js'),
};

export function registerRoutes(app: Express, d: HubDeps, staticDir: string): void {
  app.use('/hub/static', express.static(staticDir, { maxAge: '1h', index: false }));
  // xterm.js for the web terminal, served from its npm packages
  for (const [name, file] of Object.entries(XTERM_FILES)) app.get(`/hub/static/vendor/xterm/${name}`, (_req, res) => res.sendFile(file, { maxAge: '1h' }));
  app.use(oauthRouter({ oauth: d.oauth, tokens: d.tokens, users: d.users, clock: d.clock, tokenLifetimeSeconds: Math.round(d.config.cookieMaxAgeDays * 86400), services: d.services, csrf: d.csrf }));
  // XSRF for cookie-authenticated writes to API paths Express sees (unknown ones); token calls and requests
  // with no login carry no authority to forge (JupyterHub checks only cookie-authenticated ones)
  const checkXsrf = d.csrf.check();
  app.use('/hub/api', (req, res, next) => (req.identity ? checkXsrf(req, res, next) : next()));
  app.use(routeLoginRouter(d));
  app.use(opsRouter(d));
  app.all('/hub/api/{*rest}', () => {
    throw new HubError(404, 'Not Found');
  });
  app.use(loginRouter(d));
  app.use(accountRouter(d));
  app.use(tokenPageRouter(d));
  app.use(adminRouter(d));
  app.use(pagesRouter(d));
  app.use(() => {
    throw new HubError(404, 'Page not found');
  });
  app.use(errorHandler(d.log));
}

/** Every REST API endpoint (JupyterHub's and LabHub's own) on the API router. */
export function registerApiRoutes(api: ApiRouter, d: HubDeps): void {
  infoRoutes(api, d);
  currentUserRoutes(api, d);
  usersRoutes(api, d);
  serversRoutes(api, d);
  reportRoutes(api, d);
  gitCredentialsRoutes(api, d);
  tokensRoutes(api, d);
  passwordsRoutes(api, d);
  groupsRoutes(api, d);
  portsRoutes(api, d);
  servicesRoutes(api, d);
  sharesRoutes(api, d);
  hubRoutes(api, d);
  opsApiRoutes(api, d);
}
