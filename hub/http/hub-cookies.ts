/**
 * Names and path of the hub's own cookies. With `cookieHostPrefix` they take JupyterHub 4.1's
 * `__Host-` form: Secure, path `/`, never a Domain — browsers then refuse such a cookie from any
 * other host, so a page on a user's subdomain cannot plant one for the hub (cookie tossing).
 */
const LOGIN_COOKIE = 'jupyterhub-hub-login';
const SESSION_ID_COOKIE = 'jupyterhub-session-id';
const XSRF_COOKIE = '_xsrf';

export interface HubCookies {
  login: string;
  sessionId: string;
  xsrf: string;
  /** path of the login and _xsrf cookies */
  hubPath: string;
}

export function hubCookies(hostPrefix: boolean): HubCookies {
  if (!hostPrefix) return { login: LOGIN_COOKIE, sessionId: SESSION_ID_COOKIE, xsrf: XSRF_COOKIE, hubPath: '/hub/' };
  return { login: `__Host-${LOGIN_COOKIE}`, sessionId: `__Host-${SESSION_ID_COOKIE}`, xsrf: `__Host-${XSRF_COOKIE}`, hubPath: '/' };
}
