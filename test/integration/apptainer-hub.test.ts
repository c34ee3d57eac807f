/**
 * The apptainer spawner through the real `labhub` CLI, with the real /usr/bin/jupyterhub-singleuser as
 * the server. Apptainer itself is NOT installable here: `binary` is test/fakes/fake-apptainer.mjs, a
 * clearly labelled STAND-IN that checks the `exec` arguments and applies apptainer's environment rules,
 * then runs the command directly on the host. This proves LabHub's side (config → argv → env hand-off →
 * readiness → proxy → OAuth → stop), not that real Apptainer accepts the argv (see docs/hpc.md).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import { isPidAlive, runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';

const ADMIN_PASSWORD = 'admin-test-password';
const FAKE_APPTAINER = resolve(import.meta.dirname, '..', 'fakes', 'fake-apptainer.mjs');

describe('apptainer spawner (fake-apptainer STAND-IN) through LabHub with the real jupyterhub-singleuser', () => {
  let hub: HubProcess;
  let token: string;
  const dir = mkdtempSync(join(tmpdir(), 'labhub-apptainer-hub-'));
  const image = join(dir, 'jupyter.sif');
  const fakeLog = join(dir, 'fake-apptainer.log');

  const api = (method: string, path: string) => fetch(`${hub.publicUrl}/hub/api${path}`, { method, headers: { Authorization: `token ${token}` } });

  beforeAll(async () => {
    writeFileSync(image, 'stand-in image\n');
    const bin = join(dir, 'apptainer');
    writeFileSync(bin, `#!/bin/sh\nFAKE_APPTAINER_LOG='${fakeLog}' exec '${FAKE_APPTAINER}' "$@"\n`, { mode: 0o755 });
    const file = join(dir, 'labhub.yaml');
    writeFileSync(
      file,
      `startTimeoutSeconds: 60
httpTimeoutSeconds: 60
spawner:
  kind: apptainer
  binary: ${bin}
  image: ${image}
  cmd: [/usr/bin/jupyterhub-singleuser]
  bind: ['${dir}:/data:ro']
  runAs: hub
`,
    );
    hub = await startHubProcess({ adminPassword: ADMIN_PASSWORD, args: ['--config', file] });
    const r = await runLabhub(['token', 'admin', '--data-dir', hub.dataDir]);
    expect(r.code, r.stderr).toBe(0);
    token = r.stdout.trim();
  });

  afterAll(async () => {
    if (token && hub?.child.exitCode === null) await api('DELETE', '/users/admin/server').catch(() => undefined);
    await hub?.stop();
  });

  it('spawns, the browser reaches the server through the proxy with OAuth, stop ends the process', { timeout: 120_000 }, async () => {
    const start = await api('POST', '/users/admin/server');
    expect([201, 202]).toContain(start.status);
    let model: { servers: Record<string, { ready: boolean; state: { pid: number } }> } | undefined;
    for (let i = 0; i < 300; i++) {
      model = (await (await api('GET', '/users/admin')).json()) as typeof model;
      if (model?.servers['']?.ready) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(model?.servers['']?.ready, hub.output()).toBe(true);
    const browser = new Browser(hub.publicUrl);
    const login = await browser.login('admin', ADMIN_PASSWORD, '/user/admin/');
    expect(login.status).toBe(200);
    expect(login.chain.some((u) => u.includes('/user/admin/oauth_callback?code='))).toBe(true);
    expect((await browser.get('/user/admin/api/status')).status).toBe(200);
    // what the stand-in was asked to run
    const entry = JSON.parse(readFileSync(fakeLog, 'utf8').trim().split('\n').at(-1)!) as { argv: string[]; image: string; cmd: string[]; envNames: string[] };
    expect(entry.image).toBe(image);
    expect(entry.cmd).toEqual(['/usr/bin/jupyterhub-singleuser', '--allow-root']);
    expect(entry.argv).toEqual(expect.arrayContaining(['--cleanenv', '--bind', `${dir}:/data:ro`]));
    expect(entry.argv.join(' ')).not.toMatch(/JUPYTERHUB_API_TOKEN|JPY_API_TOKEN/);
    expect(entry.envNames).toEqual(expect.arrayContaining(['JUPYTERHUB_API_TOKEN', 'JUPYTERHUB_SERVICE_URL', 'JUPYTERHUB_OAUTH_ACCESS_SCOPES']));
    // the web terminal: a shell through `apptainer exec` of the same image, over the hub's WebSocket
    const cookie = await browser.jar.getCookieString(`${hub.publicUrl}/hub/terminal/admin/ws`);
    const ws = new WebSocket(`${hub.publicUrl.replace('http', 'ws')}/hub/terminal/admin/ws`, { headers: { Cookie: cookie, Origin: hub.publicUrl } });
    let screen = '';
    ws.on('message', (m) => {
      const msg = JSON.parse(m.toString()) as { type: string; data?: string };
      if (msg.type === 'output') screen += msg.data;
    });
    await new Promise((r, j) => (ws.once('open', r), ws.once('unexpected-response', (_q, res) => j(new Error(`terminal: HTTP ${res.statusCode}`)))));
    ws.send(JSON.stringify({ type: 'input', data: 'echo "[term:$JUPYTERHUB_USER:$(pwd)]"\r' }));
    for (let i = 0; i < 100 && !/\[term:admin:\//.test(screen); i++) await new Promise((r) => setTimeout(r, 100));
    expect(screen).toMatch(new RegExp(`\\[term:admin:${join(hub.dataDir, 'homes', 'admin')}\\]`));
    const shell = readFileSync(fakeLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { cmd: string[]; image: string }).find((e) => e.cmd[0] === '/bin/bash');
    expect(shell).toMatchObject({ image, cmd: ['/bin/bash', '-l'] });
    ws.close();
    const pid = model!.servers[''].state.pid;
    expect((await api('DELETE', '/users/admin/server')).status).toBeLessThan(300);
    for (let i = 0; i < 100 && isPidAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    expect(isPidAlive(pid)).toBe(false);
  });
});
