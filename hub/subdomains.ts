/**
 * Per-user origins (`subdomainHost`, JupyterHub's subdomain_host): alice's servers are served at
 * `alice.<domain>/user/alice/…`, port 8050 of her server at `8050--alice.<domain>` (of her server
 * `dash`: `8050--dash--alice.<domain>`), each an origin of its own, so scripts in one user's
 * files or apps cannot act in the hub's origin or another user's.
 *
 * Names are escaped into DNS-safe labels as JupyterHub escapes user subdomains, but losslessly:
 * every byte other than a–z and 0–9 becomes `-` and two hex digits (`Bob_1` → `-42ob-5f1`). An
 * escaped name therefore never contains `--`, which makes the separator unambiguous, and a label
 * maps back to exactly one share.
 */

import { serverPrefix } from './env.js';

const MAX_LABEL = 63; // RFC 1035
/** the services' host label (JupyterHub's `services.<domain>`): no user gets it */
const SERVICES_LABEL = 'services';
const servicePath = (name: string) => `/services/${encodeURIComponent(name)}/`;

export interface PortHostKey {
  owner: string;
  server: string;
  port: number;
}

export function escapeDnsName(name: string): string {
  let out = '';
  for (const byte of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[a-z0-9]/.test(c) ? c : `-${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export function unescapeDnsName(label: string): string | undefined {
  if (!/^(?:[a-z0-9]|-[0-9a-f]{2})+$/.test(label)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < label.length; ) {
    if (label[i] === '-') {
      bytes.push(parseInt(label.slice(i + 1, i + 3), 16));
      i += 3;
    } else bytes.push(label.charCodeAt(i++));
  }
  const name = Buffer.from(bytes).toString('utf8');
  // only the one canonical spelling maps back (no escaped a–z/0–9, valid UTF-8)
  return escapeDnsName(name) === label ? name : undefined;
}

/** The DNS label of a share, or undefined when the names make it longer than 63 characters. */
export function portHostLabel(owner: string, server: string, port: number): string | undefined {
  const label = [String(port), ...(server ? [escapeDnsName(server)] : []), escapeDnsName(owner)].join('--');
  return label.length <= MAX_LABEL ? label : undefined;
}

export function parsePortHostLabel(label: string): PortHostKey | undefined {
  const parts = label.split('--');
  if (parts.length !== 2 && parts.length !== 3) return undefined;
  if (!/^[1-9]\d{0,4}$/.test(parts[0]) || Number(parts[0]) > 65535) return undefined;
  const owner = unescapeDnsName(parts[parts.length - 1]);
  const server = parts.length === 3 ? unescapeDnsName(parts[1]) : '';
  if (owner === undefined || server === undefined) return undefined;
  return { owner, server, port: Number(parts[0]) };
}

/** Where servers and shares live when `subdomainHost` is set: the public URL's parts, checked once. */
export class Subdomains {
  /** lower-case host name the labels are prepended to, e.g. hub.example.org */
  readonly domain: string;
  private readonly protocol: string;
  private readonly portSuffix: string;

  constructor(readonly subdomainHost: string) {
    const u = new URL(subdomainHost);
    this.domain = u.hostname.toLowerCase();
    this.protocol = u.protocol;
    this.portSuffix = u.port ? `:${u.port}` : '';
  }

  get secure(): boolean {
    return this.protocol === 'https:';
  }

  /** The hub's public origin (where users log in), e.g. https://hub.example.org */
  get hubOrigin(): string {
    return `${this.protocol}//${this.domain}${this.portSuffix}`;
  }

  /** The host all of a user's servers share (`alice.hub.example.org`), undefined when too long for DNS or reserved. */
  userHost(user: string): string | undefined {
    const label = escapeDnsName(user);
    return label.length <= MAX_LABEL && label !== SERVICES_LABEL ? `${label}.${this.domain}` : undefined;
  }

  /** The host all services share, as in JupyterHub: `services.hub.example.org` (its own origin, not the hub's). */
  get servicesHost(): string {
    return `${SERVICES_LABEL}.${this.domain}`;
  }

  /** `https://services.hub.example.org/services/<name>/` */
  serviceUrl(name: string): string {
    return `${this.protocol}//${this.servicesHost}${this.portSuffix}${servicePath(name)}`;
  }

  /** The proxy route of a service: `/services.hub.example.org/services/<name>/` */
  serviceRoute(name: string): string {
    return `/${this.servicesHost}${servicePath(name)}`;
  }

  /** `https://alice.hub.example.org/user/alice/[server/]` */
  serverUrl(user: string, server: string): string | undefined {
    const host = this.userHost(user);
    return host ? `${this.protocol}//${host}${this.portSuffix}${serverPrefix(user, server)}` : undefined;
  }

  /** The proxy route of a server: `/alice.hub.example.org/user/alice/[server/]` */
  serverRoute(user: string, server: string): string | undefined {
    const host = this.userHost(user);
    return host ? `/${host}${serverPrefix(user, server)}` : undefined;
  }

  /** The host of a share (`8050--alice.hub.example.org`), undefined when too long for DNS. */
  hostOf(owner: string, server: string, port: number): string | undefined {
    const label = portHostLabel(owner, server, port);
    return label ? `${label}.${this.domain}` : undefined;
  }

  /** The proxy route of a share: its host as the first segment (the proxy's host routes). */
  routeOf(owner: string, server: string, port: number): string | undefined {
    const host = this.hostOf(owner, server, port);
    return host ? `/${host}` : undefined;
  }

  urlOf(owner: string, server: string, port: number): string | undefined {
    const host = this.hostOf(owner, server, port);
    return host ? `${this.protocol}//${host}${this.portSuffix}/` : undefined;
  }

  /** The origin of a user's host (`https://alice.hub.example.org`). */
  userOrigin(user: string): string | undefined {
    const host = this.userHost(user);
    return host ? `${this.protocol}//${host}${this.portSuffix}` : undefined;
  }

  /** True for an absolute URL on one of our subdomains (a safe place to send a browser next). */
  isOwnUrl(raw: string): boolean {
    if (!URL.canParse(raw)) return false;
    const u = new URL(raw);
    return u.protocol === this.protocol && u.hostname.endsWith(`.${this.domain}`) && (u.port ? `:${u.port}` : '') === this.portSuffix && !u.username && !u.password;
  }

  /** CSP source matching every share host, e.g. `https://*.hub.example.org`. */
  wildcardSource(): string {
    return `${this.protocol}//*.${this.domain}${this.portSuffix}`;
  }

  /** Public URL of a host route (`/alice.hub.example.org/user/alice` → https://alice.hub.example.org/user/alice). */
  urlOfRoute(route: string): string {
    const [, host, ...rest] = route.replace(/\/+$/, '').split('/');
    return `${this.protocol}//${host}${this.portSuffix}${rest.length ? `/${rest.join('/')}` : ''}`;
  }

  /**
   * What a host route protects: `/8050--alice.hub.example.org` a share, `/alice.hub.example.org/user/alice[/srv]`
   * a server (of the host's own user only); undefined for anything else.
   */
  parseRoute(route: string): (PortHostKey | { owner: string; server: string; port?: undefined }) | undefined {
    const parts = route.replace(/\/+$/, '').split('/');
    if (parts[0] !== '' || !parts[1]) return undefined;
    const host = parts[1];
    const tail = `.${this.domain}`;
    if (!host.endsWith(tail) || host.length === tail.length) return undefined;
    const label = host.slice(0, -tail.length);
    if (parts.length === 2) return parsePortHostLabel(label);
    const owner = unescapeDnsName(label);
    if (owner === undefined || parts[2] !== 'user' || parts.length > 5) return undefined;
    let names: string[];
    try {
      names = parts.slice(3).map(decodeURIComponent);
    } catch {
      return undefined;
    }
    if (names[0] !== owner || names.slice(1).some((p) => p === '' || p === '.' || p === '..' || p === 'ports')) return undefined;
    return { owner, server: names[1] ?? '' };
  }
}
