/**
 * GET /hub/api/users/:name/git-credentials?host=github.com[&format=credential]
 *
 * Called by the git credential helper inside a user's container (spawners/docker-files.ts) with the
 * server's own $JUPYTERHUB_API_TOKEN, so no long-lived secret is baked into images or container env.
 * Answers {username, password} for the host from the user's encrypted auth state (refreshed first when the
 * identity provider's token has expired), or 404.
 * `format=credential` answers git's credential format (username=…\npassword=…) for shells without JSON.
 *
 * Where credentials come from, first match wins:
 *  1. auth_state.git_credentials: [{host, username, password}] (set by an auth hook or an admin)
 *  2. GitHub login: host of github_user.html_url (github.com or the Enterprise host) → {login, access_token}
 *  3. OIDC login: host of the issuer (e.g. a GitLab acting as OIDC provider) → {oauth2, access_token}
 */
import type { ApiRouter } from '../../http/api-router.js';
import type { AuthState } from '../../auth-state.js';
import type { HubDeps } from '../../deps.js';
import { HubError } from '../../errors.js';

const HOST_RE = /^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$/;

function hostOf(url: unknown): string | null {
  if (typeof url !== 'string') return null;
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return null;
  }
}

export function credentialFor(state: AuthState | null, host: string): { username: string; password: string } | null {
  if (!state) return null;
  const want = host.toLowerCase();
  const explicit = state.git_credentials;
  if (Array.isArray(explicit)) {
    for (const c of explicit as Array<Record<string, unknown>>) {
      if (typeof c?.host === 'string' && c.host.toLowerCase() === want && typeof c.password === 'string') {
        return { username: typeof c.username === 'string' ? c.username : 'x-access-token', password: c.password };
      }
    }
  }
  const token = typeof state.access_token === 'string' ? state.access_token : null;
  if (!token) return null;
  const gh = state.github_user as Record<string, unknown> | undefined;
  if (gh && typeof gh === 'object') {
    const ghHost = hostOf(gh.html_url) ?? 'github.com';
    if (ghHost === want && typeof gh.login === 'string') return { username: gh.login, password: token };
  }
  const claims = state.id_token_claims as Record<string, unknown> | undefined;
  if (claims && typeof claims === 'object' && hostOf(claims.iss) === want) return { username: 'oauth2', password: token };
  return null;
}

export function gitCredentialsRoutes(api: ApiRouter, d: HubDeps): void {
  api.get('/hub/api/users/:name/git-credentials', { authenticated: true }, async (req, res) => {
    const token = req.identity?.token;
    if (!token || token.kind !== 'server' || token.server_id === null) throw new HubError(403, "Only a user's own server may fetch its git credentials");
    const row = d.servers.byId(token.server_id);
    const user = row ? d.users.byId(row.user_id) : undefined;
    if (!row || !user || user.name !== req.params.name) throw new HubError(403, "Only a user's own server may fetch its git credentials");
    const host = String(req.query.host ?? '');
    if (!HOST_RE.test(host)) throw new HubError(400, "'host' must be a host name, optionally with :port");
    // expired identity-provider tokens are refreshed first (a refused refresh answers 403: log in again)
    const cred = credentialFor(await d.auth.refreshAuthState(user.id), host);
    res.set('Cache-Control', 'no-store');
    if (!cred) throw new HubError(404, `No git credential for ${host}`);
    d.log.info({ user: user.name, server: row.name, host }, 'git credential handed to server');
    if (req.query.format === 'credential') {
      if (/[\n\0]/.test(cred.username + cred.password)) throw new HubError(500, 'credential contains a newline');
      res.type('text/plain').send(`username=${cred.username}\npassword=${cred.password}\n`);
      return;
    }
    res.json(cred);
  });
}
