/**
 * JupyterHub's own Python client code against LabHub: a service built on
 * jupyterhub.services.auth.HubOAuth (Debian's jupyterhub package) authenticates a user through
 * LabHub's OAuth provider and reads the user model; HubAuth checks a token the same way.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPort } from '../helpers/test-ports.js';
import { Browser } from '../helpers/browser.js';
import { runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { whoamiServiceYaml } from '../helpers/test-hub.js';

const run = promisify(execFile);
const PASSWORD = 'admin-test-password';

describe("JupyterHub's Python client (jupyterhub.services.auth) against LabHub", () => {
  let hub: HubProcess;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'labhub-svc-'));
    const port = await testPort();
    const config = join(dir, 'labhub.yaml');
    writeFileSync(
      config,
      [
        ...whoamiServiceYaml(port),
        '',
      ].join('\n'),
    );
    hub = await startHubProcess({ args: ['--config', config], dataDir: join(dir, 'data') });
    // the managed service needs a moment to import tornado and listen
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/services/whoami/`, { redirect: 'manual' }).then(() => true, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    await hub?.stop();
  });

  it('HubOAuth: a browser is sent through LabHub OAuth and the service reads the user model', async () => {
    const browser = new Browser(hub.publicUrl);
    await browser.login('admin', PASSWORD);
    const res = await browser.get('/services/whoami/');
    expect(res.status, res.text.slice(0, 300)).toBe(200);
    expect(res.chain.some((u) => u.includes('/hub/api/oauth2/authorize?client_id=service-whoami'))).toBe(true);
    expect(res.chain.some((u) => u.includes('/services/whoami/oauth_callback?code='))).toBe(true);
    const model = JSON.parse(res.text) as { name: string; kind: string; scopes: string[] };
    expect(model).toMatchObject({ kind: 'user', name: 'admin' });
    expect(model.scopes).toContain('access:services!service=whoami');
  });

  it('HubAuth identifies a user token; a token narrowed to read:users:name is not admitted to the service', async () => {
    const token = (await runLabhub(['token', 'admin', '--data-dir', hub.dataDir])).stdout.trim();
    const created = await fetch(`${hub.publicUrl}/hub/api/users/noservice`, { method: 'POST', headers: { Authorization: `token ${token}` } });
    expect(created.status).toBe(201);
    const userToken = (await runLabhub(['token', 'noservice', '--data-dir', hub.dataDir, '--scopes', 'read:users:name!user=noservice'])).stdout.trim();
    const script = [
      'import json, sys',
      'from jupyterhub.services.auth import HubAuth',
      `auth = HubAuth(api_url="${hub.hubUrl}/hub/api", api_token="${token}", cache_max_age=0)`,
      `m = auth.user_for_token(sys.argv[1])`,
      'print(json.dumps(m))',
      'print(json.dumps(sorted(auth.check_scopes(["access:services!service=whoami"], m))))',
    ].join('\n');
    const { stdout } = await run('/usr/bin/python3', ['-c', script, userToken]);
    const [modelLine, scopesLine] = stdout.trim().split('\n');
    expect(JSON.parse(modelLine)).toMatchObject({ kind: 'user', name: 'noservice' });
    expect(JSON.parse(scopesLine)).toEqual([]);
  });
});
