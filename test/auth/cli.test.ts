/**
 * The real `labhub` CLI (dist/) with a YAML config offering two methods at once (local accounts +
 * OpenID Connect against a real oidc-provider), the client secret from the environment, and
 * login through LabHub's proxy on the public URL. Also: a missing client secret stops the hub at
 * start with a message that names the variable, and `labhub config check` rejects a bad auth block.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPortPair } from '../helpers/test-ports.js';
import { Browser } from '../helpers/browser.js';
import { runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { startTestOp, type TestOp } from './fixtures/oidc-op.js';

const SECRET = 'cli-oidc-secret-0123456789abcdef';
const ADMIN_PW = 'cli-admin-password-1';

function yaml(op: TestOp, publicUrl: string): string {
  return [
    'auth:',
    '  methods:',
    '    - kind: local',
    '    - kind: oidc',
    `      issuer: ${op.issuer}`,
    '      clientId: labhub',
    '      label: Sign in with the Lab IdP',
    '      allowInsecureHttp: true',
    `      callbackUrl: ${publicUrl}/hub/oauth/oidc/callback`,
    `      postLogoutRedirectUrl: ${publicUrl}/hub/login`,
    '      scopes: [openid, profile, email, groups]',
    '      allowedGroups: [staff]',
    '      adminGroups: [hub-admins]',
    '      manageGroups: true',
    '',
  ].join('\n');
}

describe('labhub CLI with local + OIDC login methods', () => {
  let op: TestOp;
  let hub: HubProcess;
  let file: string;
  const dirs: string[] = [];

  beforeAll(async () => {
    op = await startTestOp();
    const port = await testPortPair();
    const publicUrl = `http://127.0.0.1:${port}`;
    op.configure({ clientId: 'labhub', clientSecret: SECRET, redirectUri: `${publicUrl}/hub/oauth/oidc/callback`, postLogoutRedirectUri: `${publicUrl}/hub/login`, accessTokenTtl: 600 });
    op.accounts.set('alice', { name: 'alice', email: 'alice@lab.example', groups: ['staff', 'hub-admins'] });
    const dir = mkdtempSync(join(tmpdir(), 'labhub-auth-cli-'));
    dirs.push(dir);
    file = join(dir, 'hub.yaml');
    writeFileSync(file, yaml(op, publicUrl));
    hub = await startHubProcess({ port, adminPassword: ADMIN_PW, args: ['--config', file, '--log-level', 'debug'], env: { LABHUB_OIDC_CLIENT_SECRET: SECRET } });
    dirs.push(hub.dataDir);
  });
  afterAll(async () => {
    await hub?.stop();
    await op?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('offers both methods and logs in with each through the proxy', async () => {
    const page = await new Browser(hub.publicUrl).get('/hub/login');
    expect(page.text).toContain('Sign in with the Lab IdP');
    expect(page.text).toContain('name="password"');

    op.nextLogin = 'alice';
    const oidc = await new Browser(hub.publicUrl).get('/hub/oauth/oidc/login?next=%2Fhub%2Fapi%2Fuser');
    expect(oidc.status, `${oidc.text}\n${hub.output()}`).toBe(200);
    expect(JSON.parse(oidc.text)).toMatchObject({ name: 'alice', admin: true, groups: ['hub-admins', 'staff'] });

    const local = await new Browser(hub.publicUrl).login('admin', ADMIN_PW, '/hub/api/user');
    expect(local.status).toBe(200);
    expect(JSON.parse(local.text).name).toBe('admin');
  });

  it('never writes the client secret to its output', () => {
    expect(hub.output()).toContain('"event":"login"');
    expect(hub.output()).not.toContain(SECRET);
  });

  it('refuses to start without the client secret, naming the variable', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'labhub-auth-nosecret-'));
    dirs.push(dataDir);
    const other = await startHubProcess({ dataDir, args: ['--config', file], env: { LABHUB_OIDC_CLIENT_SECRET: '' } }).then(
      async (h) => {
        await h.stop();
        return null;
      },
      (err: Error) => err,
    );
    expect(other).toBeInstanceOf(Error);
    expect(other!.message).toContain('LABHUB_OIDC_CLIENT_SECRET');
  });

  it('config check rejects an unknown auth kind and a missing issuer', async () => {
    const badDir = mkdtempSync(join(tmpdir(), 'labhub-auth-cfg-'));
    dirs.push(badDir);
    const bad = join(badDir, 'bad.yaml');
    writeFileSync(bad, 'auth:\n  methods:\n    - kind: saml\n    - kind: oidc\n      clientId: x\n');
    const r = await runLabhub(['config', 'check', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('auth.methods.0.kind');
    expect(r.stderr).toContain('auth.methods.1.issuer');
  });
});
