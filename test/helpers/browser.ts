/** A browser-like HTTP client for tests: a cookie jar (tough-cookie) and redirect following. */
import makeFetchCookie from 'fetch-cookie';
import { CookieJar } from 'tough-cookie';
import { Agent, fetch as undiciFetch } from 'undici';

/** A DNS lookup that answers 127.0.0.1 for every host name (hub.localhost, alice.hub.localhost, …), as a wildcard record would. */
export const loopbackLookup = ((_host: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) => (opts?.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4))) as never;

/** An undici dispatcher that reaches every host name on loopback. */
export const loopbackDispatcher = new Agent({ connect: { lookup: loopbackLookup } });

/** fetch that reaches any host name on loopback (subdomain tests). */
export const loopbackFetch = (url: string, init: Record<string, unknown> = {}) => undiciFetch(url, { ...init, dispatcher: loopbackDispatcher });

export interface BrowserResponse {
  status: number;
  url: string;
  headers: Headers;
  text: string;
  /** Every URL visited, redirects included. */
  chain: string[];
}

export class Browser {
  readonly jar = new CookieJar();
  private readonly fetchWithCookies: typeof fetch;
  private readonly init: RequestInit;

  /** `options.fetch`/`options.init`: another fetch and what goes with every request (e.g. undici's fetch with a dispatcher that resolves test host names). */
  constructor(
    readonly base: string,
    options: { fetch?: typeof fetch; init?: RequestInit } = {},
  ) {
    this.fetchWithCookies = makeFetchCookie(options.fetch ?? fetch, this.jar) as typeof fetch;
    this.init = options.init ?? {};
  }

  /** Fetches and follows redirects (max 20), keeping cookies like a browser. */
  async get(path: string, init: RequestInit = {}): Promise<BrowserResponse> {
    return this.request(path, { ...init, method: 'GET' });
  }

  async request(path: string, init: RequestInit = {}, follow = true): Promise<BrowserResponse> {
    let url = new URL(path, this.base).toString();
    const chain = [url];
    let res = await this.fetchWithCookies(url, { ...this.init, ...init, redirect: 'manual' });
    for (let i = 0; follow && i < 20 && res.status >= 300 && res.status < 400 && res.headers.get('location'); i++) {
      await res.arrayBuffer();
      url = new URL(res.headers.get('location')!, url).toString();
      chain.push(url);
      res = await this.fetchWithCookies(url, { ...this.init, redirect: 'manual', headers: init.headers });
    }
    return { status: res.status, url, headers: res.headers, text: await res.text(), chain };
  }

  /** Logs in through the JupyterHub-compatible form (reads _xsrf from the page like a browser). */
  async login(username: string, password: string, next = '/hub/home'): Promise<BrowserResponse> {
    const page = await this.get(`/hub/login?next=${encodeURIComponent(next)}`);
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(page.text)?.[1];
    if (!xsrf) throw new Error(`no _xsrf on login page (status ${page.status})`);
    return this.request(`/hub/login?next=${encodeURIComponent(next)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username, password, _xsrf: xsrf }).toString(),
    });
  }

  /** `b` after logging in through the form (the login must succeed). */
  static async loggedIn(b: Browser, user: string, password: string): Promise<Browser> {
    const r = await b.login(user, password);
    if (r.status !== 200) throw new Error(`login of ${user} failed: ${r.status}`);
    return b;
  }

  /** A browser whose requests reach every host name on loopback (per-user subdomain tests). */
  static onLoopback(base: string): Browser {
    return new Browser(base, { fetch: undiciFetch as unknown as typeof fetch, init: { dispatcher: loopbackDispatcher } as RequestInit });
  }

  /** The _xsrf token a page embeds (for cookie-authenticated API writes). */
  async xsrf(): Promise<string> {
    const page = await this.get('/hub/home');
    const m = /data-xsrf="([^"]+)"/.exec(page.text);
    if (!m) throw new Error('no xsrf token on /hub/home');
    return m[1];
  }
}
