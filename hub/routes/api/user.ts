/** GET /hub/api/user: the token owner's model plus the token's scopes (what single-user servers call). */
import type { ApiRouter } from '../../http/api-router.js';
import type { HubDeps } from '../../deps.js';
import { userModel } from '../../models.js';
import { buildUserModelInput } from './users.js';

export function currentUserRoutes(api: ApiRouter, d: HubDeps): void {
  api.get('/hub/api/user', { authenticated: true }, (req, res) => {
    const id = req.identity!;
    const name = id.name;
    if (id.kind === 'service') {
      res.json({ kind: 'service', name, roles: d.roles.forService(id.service!.id), scopes: [...id.scopes].sort(), ...(id.token ? { token_id: `a${id.token.id}` } : {}) });
      return;
    }
    // identifying yourself is always allowed (JupyterHub adds these for the lookup only)
    const lookup = new Set(id.scopes);
    lookup.add(`read:users:name!user=${name}`);
    lookup.add(`read:users:groups!user=${name}`);
    const model = userModel(buildUserModelInput(d, id.user!, id.scopes), lookup);
    res.json({
      ...model,
      session_id: id.sessionId ?? null,
      ...(id.token ? { token_id: `a${id.token.id}` } : {}),
      scopes: [...id.scopes].sort(),
    });
  });
}
