/** GET /hub/api (version, unauthenticated), /hub/api/info. (/hub/health: routes/ops.ts) */
import type { ApiRouter } from '../../http/api-router.js';
import type { HubDeps } from '../../deps.js';
import { JUPYTERHUB_API_VERSION } from '../../version.js';

export function infoRoutes(api: ApiRouter, d: HubDeps): void {
  api.get('/hub/api', {}, (_req, res) => {
    res.set('Access-Control-Allow-Origin', '*').json({ version: JUPYTERHUB_API_VERSION });
  });
  api.get('/hub/api/info', { scope: 'read:hub' }, (_req, res) => {
    res.json({
      version: JUPYTERHUB_API_VERSION,
      labhub_version: process.env.npm_package_version ?? '0.1.0',
      python: null,
      sys_executable: process.execPath,
      spawner: { class: `labhub.spawners.${d.config.spawner.kind}`, version: '0.1.0' },
      authenticator: { class: `labhub.auth.${d.config.auth.methods.map((m) => m.kind).join("+")}`, version: '0.1.0' },
    });
  });
}
