/** Mounts every router in order; unknown API paths become JSON 404s; the error handler is last. */
import express, { type Express } from 'express';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { HubDeps } from '../deps.js';
import { HubError } from '../errors.js';
import { errorHandler } from '../http/error-handler.js';
import { oauthRouter } from '../oauth/provider.js';
import { groupsRouter } from './api/groups.js';
import { portsRouter } from './api/ports.js';
import { hubRouter } from './api/hub.js';
import { infoRouter } from './api/info.js';
import { servicesRouter } from './api/services.js';
import { sharesRouter } from './api/shares.js';
import { reportRouter } from './api/report.js';
import { gitCredentialsRouter } from './api/git-credentials.js';
import { serversRouter } from './api/servers.js';
import { tokensRouter } from './api/tokens.js';
import { currentUserRouter } from './api/user.js';
import { usersRouter } from './api/users.js';
import { loginRouter } from './login.js';
import { accountRouter } from './account.js';
import { passwordsRouter } from './api/passwords.js';
import { pagesRouter } from './pages.js';
import { adminRouter } from './admin.js';
import { tokenPageRouter } from './token-page.js';
import { opsRouter } from './ops.js';

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
  app.use(infoRouter(d));
  app.use(oauthRouter({ oauth: d.oauth, tokens: d.tokens, users: d.users, clock: d.clock, tokenLifetimeSeconds: Math.round(d.config.cookieMaxAgeDays * 86400), services: d.services, csrf: d.csrf }));
  // CSRF for cookie-authenticated API writes (token calls are exempt inside check())
  app.use('/hub/api', d.csrf.check());
  app.use(currentUserRouter(d));
  app.use(usersRouter(d));
  app.use(serversRouter(d));
  app.use(reportRouter(d));
  app.use(gitCredentialsRouter(d));
  app.use(tokensRouter(d));
  app.use(passwordsRouter(d));
  app.use(groupsRouter(d));
  app.use(portsRouter(d));
  app.use(servicesRouter(d));
  app.use(sharesRouter(d));
  app.use(hubRouter(d));
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
