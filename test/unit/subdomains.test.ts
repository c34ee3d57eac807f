/** Per-user and per-share subdomains (hub/subdomains.ts): DNS-safe, lossless, unambiguous names. */
import { describe, expect, it } from 'vitest';
import { escapeDnsName, parsePortHostLabel, portHostLabel, Subdomains, unescapeDnsName } from '../../hub/subdomains.js';
import { ConfigSchema } from '../../config/schema.js';

describe('port host names', () => {
  it('escape every byte outside a–z0–9 (upper case, -, _, ., @, non-ASCII) and map back exactly', () => {
    expect(escapeDnsName('alice')).toBe('alice');
    expect(escapeDnsName('Bob_1')).toBe('-42ob-5f1');
    expect(escapeDnsName('a-b')).toBe('a-2db');
    expect(escapeDnsName('a.b@c')).toBe('a-2eb-40c');
    expect(escapeDnsName('zoë')).toBe('zo-c3-ab');
    for (const name of ['alice', 'Bob_1', 'a-b', 'a--b', 'x.y', 'zoë', 'user@example.org', '--', '0']) {
      const label = escapeDnsName(name);
      expect(label).toMatch(/^[a-z0-9-]+$/);
      expect(label).not.toContain('--');
      expect(unescapeDnsName(label)).toBe(name);
    }
  });

  it('refuse labels that are not the one canonical spelling', () => {
    expect(unescapeDnsName('-61lice')).toBeUndefined(); // 'a' escaped although it is safe
    expect(unescapeDnsName('a-2')).toBeUndefined(); // cut escape
    expect(unescapeDnsName('A')).toBeUndefined();
    expect(unescapeDnsName('-ff')).toBeUndefined(); // not UTF-8
    expect(unescapeDnsName('')).toBeUndefined();
  });

  it('put port, server and owner in one label separated by --, and parse it back', () => {
    expect(portHostLabel('alice', '', 8050)).toBe('8050--alice');
    expect(portHostLabel('alice', 'dash', 8050)).toBe('8050--dash--alice');
    expect(portHostLabel('a-b', 'c-d', 80)).toBe('80--c-2dd--a-2db');
    expect(parsePortHostLabel('80--c-2dd--a-2db')).toEqual({ owner: 'a-b', server: 'c-d', port: 80 });
    expect(parsePortHostLabel('8050--alice')).toEqual({ owner: 'alice', server: '', port: 8050 });
    for (const bad of ['8050', 'x--alice', '0--alice', '70000--alice', '08050--alice', '1--a--b--c', '1----alice', '1--']) expect(parsePortHostLabel(bad), bad).toBeUndefined();
  });

  it('give up on names too long for a 63-character DNS label', () => {
    expect(portHostLabel('a'.repeat(56), '', 65535)).toHaveLength(63);
    expect(portHostLabel('a'.repeat(57), '', 65535)).toBeUndefined();
    expect(portHostLabel('_'.repeat(20), '', 1)).toHaveLength(63); // 60 characters escaped + '1--'
    expect(portHostLabel('_'.repeat(21), '', 1)).toBeUndefined();
  });

  it('build URLs and routes under subdomainHost and read routes back', () => {
    const h = new Subdomains('https://Hub.Example.org');
    expect(h.domain).toBe('hub.example.org');
    expect(h.secure).toBe(true);
    expect(h.urlOf('alice', '', 8050)).toBe('https://8050--alice.hub.example.org/');
    expect(h.routeOf('alice', 'dash', 8050)).toBe('/8050--dash--alice.hub.example.org');
    expect(h.parseRoute('/8050--dash--alice.hub.example.org')).toEqual({ owner: 'alice', server: 'dash', port: 8050 });
    expect(h.parseRoute('/8050--alice.other.org')).toBeUndefined();
    expect(h.parseRoute('/user/alice/ports/8050')).toBeUndefined();
    expect(h.parseRoute('/8050--alice.hub.example.org/more')).toBeUndefined();
    const local = new Subdomains('http://hub.localhost:8000');
    expect(local.urlOf('alice', '', 3000)).toBe('http://3000--alice.hub.localhost:8000/');
    expect(local.urlOfRoute('/3000--alice.hub.localhost')).toBe('http://3000--alice.hub.localhost:8000');
    expect(local.hubOrigin).toBe('http://hub.localhost:8000');
  });

  it("put every server of a user on the user's host, and read server routes back (the host's own user only)", () => {
    const h = new Subdomains('https://hub.example.org');
    expect(h.serverUrl('alice', '')).toBe('https://alice.hub.example.org/user/alice/');
    expect(h.serverUrl('Bob_1', 'my srv')).toBe('https://-42ob-5f1.hub.example.org/user/Bob_1/my%20srv/');
    expect(h.serverRoute('alice', 'dash')).toBe('/alice.hub.example.org/user/alice/dash/');
    expect(h.urlOfRoute('/alice.hub.example.org/user/alice')).toBe('https://alice.hub.example.org/user/alice');
    expect(h.parseRoute('/alice.hub.example.org/user/alice')).toEqual({ owner: 'alice', server: '' });
    expect(h.parseRoute('/alice.hub.example.org/user/alice/dash/')).toEqual({ owner: 'alice', server: 'dash' });
    expect(h.parseRoute('/-42ob-5f1.hub.example.org/user/Bob_1/my%20srv')).toEqual({ owner: 'Bob_1', server: 'my srv' });
    // another user's path on alice's host, traversal, ports paths, foreign hosts: nothing
    for (const bad of ['/alice.hub.example.org/user/bob', '/alice.hub.example.org/user/alice/..', '/alice.hub.example.org/user/alice/ports/80', '/alice.hub.example.org/services/x', '/alice.other.org/user/alice', '/user/alice', '/hub.example.org/user/alice']) expect(h.parseRoute(bad), bad).toBeUndefined();
    expect(h.userHost('x'.repeat(64))).toBeUndefined();
    // services have their own host, as in JupyterHub; no user gets it
    expect(h.serviceUrl('whoami')).toBe('https://services.hub.example.org/services/whoami/');
    expect(h.serviceRoute('whoami')).toBe('/services.hub.example.org/services/whoami/');
    expect(h.userHost('services')).toBeUndefined();
    expect(h.userHost('Services')).toBe('-53ervices.hub.example.org');
  });

  it('config: subdomainHost must be scheme://host[:port] of a host name, and needs LabHub’s proxy', () => {
    const issues = (v: Record<string, unknown>) => {
      const r = ConfigSchema.safeParse(v);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues({ subdomainHost: 'https://hub.example.org' })).toEqual([]);
    expect(issues({ subdomainHost: 'http://hub.localhost:8000' })).toEqual([]);
    expect(issues({ subdomainHost: 'https://hub.example.org/hub' })[0]).toMatch(/^subdomainHost: .*without a path/);
    expect(issues({ subdomainHost: 'https://10.0.0.1' })[0]).toMatch(/^subdomainHost: .*IP address/);
    expect(issues({ subdomainHost: 'ftp://hub.example.org' })[0]).toMatch(/^subdomainHost: .*http/);
    expect(issues({ subdomainHost: 'hub.example.org' })[0]).toMatch(/^subdomainHost/);
    expect(issues({ subdomainHost: 'https://hub.example.org', proxy: { mode: 'external', apiUrl: 'http://127.0.0.1:8001' } })[0]).toMatch(/^subdomainHost: needs LabHub's proxy/);
  });
});
