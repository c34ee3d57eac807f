/**
 * Shared ports on subdomains (`subdomainHost`): port 8050 of alice's server is served at
 * `8050--alice.<domain>`, and of her server `dash` at `8050--dash--alice.<domain>`, each an
 * origin of its own, so an app's scripts cannot act in the hub's origin or another app's.
 *
 * Names are escaped into DNS-safe labels as JupyterHub escapes user subdomains, but losslessly:
 * every byte other than a–z and 0–9 becomes `-` and two hex digits (`Bob_1` → `-42ob-5f1`). An
 * escaped name therefore never contains `--`, which makes the separator unambiguous, and a label
 * maps back to exactly one share.
 */

const MAX_LABEL = 63; // RFC 1035

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

/** Where shares live when `subdomainHost` is set: the public URL's parts, checked once. */
export class PortHosts {
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

  /** CSP source matching every share host, e.g. `https://*.hub.example.org`. */
  wildcardSource(): string {
    return `${this.protocol}//*.${this.domain}${this.portSuffix}`;
  }

  /** Public origin of a share's host, for redirects to it. */
  originOfRoute(route: string): string {
    return `${this.protocol}//${route.replace(/^\/+/, '').split('/')[0]}${this.portSuffix}`;
  }

  /** `/8050--alice.hub.example.org` → the share it names; undefined for anything else. */
  parseRoute(route: string): PortHostKey | undefined {
    const m = /^\/([^/]+)\/?$/.exec(route);
    if (!m) return undefined;
    const host = m[1];
    const tail = `.${this.domain}`;
    if (!host.endsWith(tail)) return undefined;
    return parsePortHostLabel(host.slice(0, -tail.length));
  }
}
