/**
 * `ssl` (JupyterHub ssl_key/ssl_cert): the hub's public address over HTTPS, terminated by LabHub's
 * proxy, end to end with the real `labhub` CLI and Debian's jupyterhub-singleuser: login and the
 * OAuth dance into the server over TLS, Secure cookies and HSTS without setting secureCookies,
 * plain HTTP on redirectPort sent to https, and clear refusals of unusable key files — in-process
 * and with `labhub-proxy` as a subprocess. The certificate is made here with openssl.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, loopbackLookup } from '../helpers/browser.js';
import { hubApi, hubToken, runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { testPort, testPortPair } from '../helpers/test-ports.js';

const dir = mkdtempSync(join(tmpdir(), 'labhub-https-'));
const keyFile = join(dir, 'key.pem');
const certFile = join(dir, 'cert.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
/** trusts exactly our test certificate */
const trusting = new Agent({ connect: { ca: readFileSync(certFile) } });
const tlsFetch = ((url: string, init: Record<string, unknown> = {}) => undiciFetch(url, { ...init, dispatcher: trusting } as never)) as unknown as typeof fetch;

for (const mode of ['inprocess', 'subprocess'] as const) {
  describe(`https with ssl.keyFile/certFile (proxy ${mode})`, () => {
    let hub: HubProcess;
    let base: string;
    let redirectPort: number;
    let admin: string;

    beforeAll(async () => {
      const cfgDir = mkdtempSync(join(tmpdir(), `labhub-https-${mode}-`));
      redirectPort = await testPort();
      const apiPort = await testPort();
      writeFileSync(
        join(cfgDir, 'labhub.yaml'),
        [`ssl: { keyFile: ${keyFile}, certFile: ${certFile}, redirectPort: ${redirectPort} }`, ...(mode === 'subprocess' ? ['proxy:', '  mode: subprocess', `  apiPort: ${apiPort}`] : []), ''].join('\n'),
      );
      hub = await startHubProcess({ args: ['--config', join(cfgDir, 'labhub.yaml')], dataDir: join(cfgDir, 'data') });
      base = `https://127.0.0.1:${hub.port}`;
      expect(hub.output()).toContain(`LabHub is running at ${base}/`);
      admin = await hubToken(hub, 'admin');
    }, 60_000);

    afterAll(async () => {
      if (admin) await hubApi({ ...hub, publicUrl: hub.hubUrl }, admin, 'DELETE', '/users/admin/server').catch(() => undefined);
      await hub?.stop();
    });

    it('serves the login page over TLS with Secure cookies and HSTS; plain HTTP on the public port is not served', async () => {
      const page = await tlsFetch(`${base}/hub/login`);
      expect(page.status).toBe(200);
      expect(page.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      const cookies = page.headers.getSetCookie();
      expect(cookies.length).toBeGreaterThan(0);
      expect(cookies.every((c) => /;\s*Secure/i.test(c))).toBe(true);
      await expect(fetch(`http://127.0.0.1:${hub.port}/hub/login`, { signal: AbortSignal.timeout(5000) }).then((r) => r.status)).rejects.toThrow();
    });

    it('redirectPort sends plain HTTP to the https address, same path', async () => {
      const r = await fetch(`http://127.0.0.1:${redirectPort}/hub/login?next=%2Fhub%2Fhome`, { redirect: 'manual' });
      expect(r.status).toBe(301);
      expect(r.headers.get('location')).toBe(`${base}/hub/login?next=%2Fhub%2Fhome`);
    });

    it('logs in and goes through the OAuth dance into the real jupyterhub-singleuser over TLS', async () => {
      const start = await tlsFetch(`${base}/hub/api/users/admin/server`, { method: 'POST', headers: { Authorization: `token ${admin}` } });
      expect([201, 202]).toContain(start.status);
      for (let i = 0; i < 150; i++) {
        const model = (await (await tlsFetch(`${base}/hub/api/users/admin`, { headers: { Authorization: `token ${admin}` } })).json()) as { servers: Record<string, { ready: boolean }> };
        if (model.servers['']?.ready) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const b = new Browser(base, { fetch: tlsFetch });
      const login = await b.login('admin', 'admin-test-password', '/user/admin/');
      expect(login.status).toBe(200);
      expect(login.chain.some((u) => u.startsWith(`${base}/user/admin/oauth_callback?code=`))).toBe(true);
      const status = await b.get('/user/admin/api/status');
      expect(status.status).toBe(200);
      expect(JSON.parse(status.text)).toHaveProperty('started');
      // the hub's cookies (login session, _xsrf nonce: path /hub/) are Secure: never sent over plain HTTP
      // (the Jupyter server's own tornado _xsrf cookie at path / is the server's business)
      const hubCookies = (await b.jar.getCookies(`${base}/hub/`)).filter((c) => c.path === '/hub/');
      expect(hubCookies.map((c) => c.key).sort()).toEqual(['_xsrf', 'jupyterhub-hub-login']);
      expect(hubCookies.every((c) => c.secure && c.httpOnly)).toBe(true);
      expect((await b.jar.getCookies(`${base}/user/admin/`)).some((c) => c.key === 'jupyterhub-user-admin')).toBe(true);
    });
  });
}

describe('cookieHostPrefix with per-user subdomains over https: the hub\u2019s cookies in __Host- form', () => {
  let hub: HubProcess;
  let hubOrigin: string;
  const subKey = join(dir, 'sub-key.pem');
  const subCert = join(dir, 'sub-cert.pem');

  beforeAll(async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=hub.localhost', '-addext', 'subjectAltName=DNS:hub.localhost,DNS:*.hub.localhost', '-keyout', subKey, '-out', subCert], { stdio: 'ignore' });
    const cfgDir = mkdtempSync(join(tmpdir(), 'labhub-hostprefix-'));
    const port = await testPortPair();
    hubOrigin = `https://hub.localhost:${port}`;
    writeFileSync(join(cfgDir, 'labhub.yaml'), `ssl: { keyFile: ${subKey}, certFile: ${subCert} }\nsubdomainHost: ${hubOrigin}\ncookieHostPrefix: true\n`);
    hub = await startHubProcess({ port, args: ['--config', join(cfgDir, 'labhub.yaml')], dataDir: join(cfgDir, 'data') });
  }, 60_000);
  afterAll(async () => {
    await hub?.stop();
  });

  it('login, a cookie-authenticated write and logout work with __Host- cookies; a cookie tossed from a sibling host is ignored', async () => {
    const agent = new Agent({ connect: { ca: readFileSync(subCert), lookup: loopbackLookup } });
    const b = new Browser(hubOrigin, { fetch: ((url: string, init: Record<string, unknown> = {}) => undiciFetch(url, { ...init, dispatcher: agent } as never)) as unknown as typeof fetch });
    expect((await b.login('admin', 'admin-test-password')).status).toBe(200);
    const cookies = await b.jar.getCookies(`${hubOrigin}/hub/`);
    expect(cookies.map((c) => c.key).sort()).toEqual(['__Host-_xsrf', '__Host-jupyterhub-hub-login', '__Host-jupyterhub-session-id']);
    expect(cookies.every((c) => c.secure && c.httpOnly && c.hostOnly && c.path === '/')).toBe(true);
    // a write with the login cookie needs the _xsrf token bound to it
    const xsrf = await b.xsrf();
    const created = await b.request('/hub/api/users/admin/tokens', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-XSRFToken': xsrf }, body: JSON.stringify({ note: 'from the page' }) });
    expect(created.status).toBe(201);
    // a page on a user's host can set cookies for the parent domain, but only without the __Host- prefix: the hub never reads those
    await b.jar.setCookie('jupyterhub-hub-login=planted; Domain=hub.localhost; Path=/; Secure', `https://mallory.hub.localhost:${hub.port}/`);
    await b.jar.setCookie('_xsrf=planted; Domain=hub.localhost; Path=/; Secure', `https://mallory.hub.localhost:${hub.port}/`);
    const me = await b.get('/hub/api/user');
    expect(JSON.parse(me.text)).toMatchObject({ name: 'admin' });
    const again = await b.request('/hub/api/users/admin/tokens', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-XSRFToken': xsrf }, body: '{}' });
    expect(again.status).toBe(201);
    await b.get('/hub/logout');
    expect((await b.jar.getCookies(`${hubOrigin}/hub/`)).filter((c) => c.key.startsWith('__Host-jupyterhub-hub-login'))).toEqual([]);
    expect((await b.get('/hub/api/user')).status).toBe(403);
  });

  it('the configuration refuses cookieHostPrefix without subdomains or without https', async () => {
    const cfgDir = mkdtempSync(join(tmpdir(), 'labhub-hostprefix-cfg-'));
    const file = join(cfgDir, 'labhub.yaml');
    writeFileSync(file, 'cookieHostPrefix: true\n');
    const r = await runLabhub(['config', 'check', file]);
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toContain('cookieHostPrefix');
  });
});

describe('unusable ssl files stop the start with a clear message', () => {
  const start = async (ssl: string) => {
    const cfgDir = mkdtempSync(join(tmpdir(), 'labhub-https-bad-'));
    writeFileSync(join(cfgDir, 'labhub.yaml'), `ssl: ${ssl}\n`);
    return runLabhub(['--config', join(cfgDir, 'labhub.yaml'), '--data-dir', join(cfgDir, 'data'), '--port', String(await testPort()), '--hub-port', String(await testPort())]);
  };

  it('a missing key file, a key that is not a key, and external proxies are refused; no key material is printed', async () => {
    const missing = await start(`{ keyFile: ${join(dir, 'nope.pem')}, certFile: ${certFile} }`);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr + missing.stdout).toContain(`ssl.keyFile: cannot read ${join(dir, 'nope.pem')}: ENOENT`);
    const wrong = await start(`{ keyFile: ${certFile}, certFile: ${certFile} }`);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr + wrong.stdout).toContain('ssl: the key and certificate cannot be used together');
    expect(wrong.stderr + wrong.stdout).not.toContain('BEGIN');
  });

  it('the configuration refuses ssl with an external proxy and an http subdomainHost', async () => {
    const cfgDir = mkdtempSync(join(tmpdir(), 'labhub-https-cfg-'));
    const file = join(cfgDir, 'labhub.yaml');
    writeFileSync(file, `ssl: { keyFile: ${keyFile}, certFile: ${certFile} }\nsubdomainHost: http://hub.localhost:8000\nproxy: { mode: external, apiUrl: "http://127.0.0.1:8001" }\n`);
    const r = await runLabhub(['config', 'check', file]);
    expect(r.code).toBe(2);
    expect(r.stderr + r.stdout).toContain('ssl');
    expect(r.stderr + r.stdout).toContain("TLS is the external proxy's job");
    expect(r.stderr + r.stdout).toContain('must be https:// when ssl is set');
  });
});
