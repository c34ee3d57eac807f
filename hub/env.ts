/**
 * The environment every single-user server receives (PROTOCOL.md B1; JupyterHub Spawner.get_env).
 * The hub passes no --ip/--port/--base-url: the server reads everything from here.
 */
export interface SingleUserEnvInput {
  user: string;
  serverName: string;
  apiToken: string;
  /** Internal hub API URL, e.g. http://127.0.0.1:8081/hub/api */
  hubApiUrl: string;
  /** '' or the hub's public scheme://host:port when known (subdomains): where the server sends browsers to log in */
  publicHost?: string;
  /** the server's full public URL (subdomains: https://alice.hub.example.org/user/alice/) */
  publicUrl?: string;
  oauthClientAllowedScopes?: string[];
  adminAccess?: boolean;
}

export function clientIdFor(user: string, serverName: string): string {
  return `jupyterhub-user-${encodeURIComponent(user)}${serverName ? `-${encodeURIComponent(serverName)}` : ''}`;
}

/** /user/alice/ or /user/alice/name/ (URL-quoted as JupyterHub does). */
export function serverPrefix(user: string, serverName: string): string {
  return `/user/${encodeURIComponent(user)}/${serverName ? `${encodeURIComponent(serverName)}/` : ''}`;
}

export function accessScopesFor(user: string, serverName: string): string[] {
  return [`access:servers!server=${user}/${serverName}`, `access:servers!user=${user}`];
}

export function buildSingleUserEnv(i: SingleUserEnvInput): Record<string, string> {
  const prefix = serverPrefix(i.user, i.serverName);
  const accessScopes = JSON.stringify(accessScopesFor(i.user, i.serverName));
  const env: Record<string, string> = {
    JUPYTERHUB_API_TOKEN: i.apiToken,
    JPY_API_TOKEN: i.apiToken,
    JUPYTERHUB_CLIENT_ID: clientIdFor(i.user, i.serverName),
    JUPYTERHUB_HOST: i.publicHost ?? '',
    JUPYTERHUB_OAUTH_CALLBACK_URL: `${i.publicUrl ?? prefix}oauth_callback`,
    JUPYTERHUB_OAUTH_ACCESS_SCOPES: accessScopes,
    JUPYTERHUB_OAUTH_SCOPES: accessScopes,
    JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES: JSON.stringify(i.oauthClientAllowedScopes ?? []),
    JUPYTERHUB_USER: i.user,
    JUPYTERHUB_SERVER_NAME: i.serverName,
    JUPYTERHUB_API_URL: i.hubApiUrl,
    JUPYTERHUB_ACTIVITY_URL: `${i.hubApiUrl}/users/${encodeURIComponent(i.user)}/activity`,
    JUPYTERHUB_BASE_URL: '/',
    JUPYTERHUB_SERVICE_PREFIX: prefix,
    JUPYTERHUB_PUBLIC_URL: i.publicUrl ?? '',
    JUPYTERHUB_PUBLIC_HUB_URL: i.publicHost ? `${i.publicHost}/hub/` : '',
    JUPYTERHUB_COOKIE_HOST_PREFIX_ENABLED: '0',
  };
  if (i.adminAccess) env.JUPYTERHUB_ADMIN_ACCESS = '1';
  return env;
}
