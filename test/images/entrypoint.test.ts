/**
 * images/common/labhub-entrypoint, run in the real images on a real dockerd (test/setup/images.sh):
 * uid/gid remap to the home volume's owner or NB_UID/NB_GID, home ownership fixed on the first start
 * only, nothing of that when started as a non-root user; signal forwarding with and without an init
 * (the real code-server stops in < 2 s); activity reports from code-server's heartbeat to an
 * activity URL with the server token; shellcheck clean.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Docker from 'dockerode';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/hub-process.js';
import { cleanupTestObjects, leftovers } from '../helpers/docker-env.js';
import { demux, requireImages, runToEnd, shellcheckReady } from './images-env.js';

const { run, docker: denv, images } = await requireImages('images: entrypoint', ['LABHUB_IMAGE_COMMON', 'LABHUB_IMAGE_JUPYTERLAB', 'LABHUB_IMAGE_CODE_SERVER']);
const RUN = `img-ep-${process.pid}`;
const labels = { 'labhub.test': RUN };
const ENTRYPOINT = join(REPO, 'images', 'common', 'labhub-entrypoint');

describe('labhub-entrypoint: lint', () => {
  it('is POSIX sh and shellcheck-clean (Debian shellcheck, installed by test/setup/images.sh)', () => {
    if (!shellcheckReady('the entrypoint')) return;
    // exits non-zero (throws) on any finding
    execFileSync('shellcheck', ['-s', 'sh', '-S', 'style', ENTRYPOINT], { encoding: 'utf8' });
    execFileSync('sh', ['-n', ENTRYPOINT]);
  });
});

describe.runIf(run)('labhub-entrypoint in the images (dockerd)', () => {
  const docker = new Docker({ socketPath: denv?.DOCKER_SOCK ?? '' });
  const COMMON = images?.LABHUB_IMAGE_COMMON ?? '';
  const CODE = images?.LABHUB_IMAGE_CODE_SERVER ?? '';
  const vol = (n: string) => `labhub-${RUN}-${n}`;
  const home = (n: string) => [{ Type: 'volume' as const, Source: vol(n), Target: '/home/jovyan' }];
  /** as root, bypassing the entrypoint: prepares a volume */
  const asRoot = (n: string, script: string) => runToEnd(docker, { image: COMMON, entrypoint: ['/bin/sh', '-c'], cmd: [script], user: '0:0', mounts: home(n), labels });

  beforeAll(async () => {
    for (const n of ['owned', 'fresh', 'nonroot']) await docker.createVolume({ Name: vol(n), Labels: labels });
  });

  afterAll(async () => {
    await cleanupTestObjects(docker, RUN);
    expect(await leftovers(docker, RUN)).toEqual([]);
  }, 60_000);

  it("uid/gid remap: started as root, the user takes the uid/gid of the home volume's owner", async () => {
    expect((await asRoot('owned', 'chown 4242:4343 /home/jovyan && touch /home/jovyan/mine && chown 4242:4343 /home/jovyan/mine')).code).toBe(0);
    const r = await runToEnd(docker, {
      image: COMMON,
      user: '0:0',
      mounts: home('owned'),
      labels,
      cmd: ['sh', '-c', 'id -u; id -g; id -un; echo "$HOME"; touch "$HOME/new"; stat -c %u:%g "$HOME/new"; getent passwd jovyan | cut -d: -f3,4'],
    });
    expect(r.code, r.out).toBe(0);
    expect(r.out.split('\n').filter((l) => !l.startsWith('labhub-entrypoint:'))).toEqual(['4242', '4343', 'jovyan', '/home/jovyan', '4242:4343', '4242:4343', '']);
    expect(r.out).toContain("changing jovyan's uid 1000 -> 4242");
  }, 60_000);

  it('NB_UID/NB_GID: a new home is given to the user on its first start only; the app never runs as root', async () => {
    // a fresh volume (Docker copied the image's /home/jovyan into it, owned 1000:100) plus a root-owned file
    expect((await asRoot('fresh', 'mkdir -p /home/jovyan/data && echo x > /home/jovyan/data/root-file && chown 0:0 /home/jovyan /home/jovyan/data/root-file')).code).toBe(0);
    const env = { NB_UID: '2345', NB_GID: '2346' };
    const first = await runToEnd(docker, { image: COMMON, user: '0:0', env, mounts: home('fresh'), labels, cmd: ['sh', '-c', 'id -u; id -g; find "$HOME" ! -uid 2345 | wc -l; find "$HOME" ! -gid 2346 | wc -l; test -s "$HOME/.labhub/home-initialized" && echo marked'] });
    expect(first.code, first.out).toBe(0);
    expect(first.out.split('\n').filter((l) => !l.startsWith('labhub-entrypoint:'))).toEqual(['2345', '2346', '0', '0', 'marked', '']);
    expect(first.out).toContain('giving /home/jovyan to 2345:2346');
    // later: a root-owned file appears; the next start does not walk the home again (first start only)
    expect((await asRoot('fresh', 'echo y > /home/jovyan/later && chown 0:0 /home/jovyan/later /home/jovyan')).code).toBe(0);
    const second = await runToEnd(docker, { image: COMMON, user: '0:0', env, mounts: home('fresh'), labels, cmd: ['sh', '-c', 'id -u; stat -c %u "$HOME/later" "$HOME" "$HOME/data/root-file"'] });
    expect(second.code, second.out).toBe(0);
    expect(second.out).not.toContain('giving /home/jovyan');
    expect(second.out.split('\n').filter((l) => !l.startsWith('labhub-entrypoint:'))).toEqual(['2345', '0', '2345', '2345', '']);
    // uid 0 is refused
    const root = await runToEnd(docker, { image: COMMON, user: '0:0', env: { NB_UID: '0' }, mounts: home('fresh'), labels, cmd: ['id', '-u'] });
    expect(root.code).toBe(64);
    expect(root.out).toContain('refusing to run the app as root');
  }, 90_000);

  it('started as a non-root user (the Docker spawner with uid set): no remap, no chown, the app runs as that user', async () => {
    expect((await asRoot('nonroot', 'chown 1000:100 /home/jovyan && touch /home/jovyan/r && chown 0:0 /home/jovyan/r')).code).toBe(0);
    const r = await runToEnd(docker, { image: COMMON, user: '1000:100', env: { NB_UID: '2345' }, mounts: home('nonroot'), labels, cmd: ['sh', '-c', 'id -u; stat -c %u "$HOME/r"; test -e "$HOME/.labhub" && echo marker || echo no-marker'] });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toBe('1000\n0\nno-marker\n');
  }, 60_000);

  /** Starts code-server (published on loopback), waits for /healthz, then times `docker stop -t 10`. */
  async function stopTime(init: boolean, name: string): Promise<{ ms: number; exitCode: number; pid1: string }> {
    const c = await docker.createContainer({
      Image: CODE,
      name: `labhub-${RUN}-${name}`,
      Labels: labels,
      Env: ['JUPYTERHUB_SERVICE_URL=http://0.0.0.0:8888/', 'JUPYTERHUB_SERVICE_PREFIX=/user/x/'],
      ExposedPorts: { '8888/tcp': {} },
      HostConfig: { Init: init, PortBindings: { '8888/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
    } as Docker.ContainerCreateOptions);
    await c.start();
    const port = (await c.inspect()).NetworkSettings.Ports['8888/tcp']![0].HostPort;
    let up = false;
    for (let i = 0; i < 120 && !up; i++) {
      up = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(3000) })
        .then((r) => r.ok)
        .catch(() => false);
      if (!up) await new Promise((res) => setTimeout(res, 500));
    }
    expect(up, demux((await c.logs({ stdout: true, stderr: true })) as unknown as Buffer)).toBe(true);
    const e = await c.exec({ Cmd: ['cat', '/proc/1/comm'], AttachStdout: true });
    const s = await e.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    await new Promise<void>((res) => {
      s.on('data', (b: Buffer) => chunks.push(b));
      s.on('end', () => res());
      setTimeout(res, 10_000).unref();
    });
    const t0 = Date.now();
    await c.stop({ t: 10 });
    const ms = Date.now() - t0;
    const info = await c.inspect();
    await c.remove({ force: true });
    return { ms, exitCode: info.State.ExitCode, pid1: demux(Buffer.concat(chunks)).trim() };
  }

  it('signals: with an init in front (like the Docker spawner) code-server gets SIGTERM and the container stops in < 2 s', async () => {
    const r = await stopTime(true, 'sig-init');
    expect(r.pid1).toMatch(/init|tini/);
    expect(r.ms).toBeLessThan(2000);
    expect(r.exitCode).not.toBe(137); // not SIGKILLed after the timeout
  }, 120_000);

  it('signals: as pid 1 without an init the entrypoint passes SIGTERM on; the container stops in < 2 s', async () => {
    const r = await stopTime(false, 'sig-pid1');
    expect(r.pid1).toMatch(/^labhub-entrypoi/); // the entrypoint (comm is cut at 15 chars) stays pid 1 and forwards
    expect(r.ms).toBeLessThan(2000);
    expect(r.exitCode).not.toBe(137);
  }, 120_000);

  describe('activity reports', () => {
    let server: Server;
    const posts: Array<{ auth: string | undefined; body: string; url: string }> = [];
    let url = '';

    beforeAll(async () => {
      const net = await docker.getNetwork('bridge').inspect();
      const cfg = net.IPAM!.Config![0] as { Gateway?: string; Subnet: string };
      const gw = cfg.Gateway ?? cfg.Subnet.split('/')[0].replace(/\.\d+$/, '.1');
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c));
        req.on('end', () => {
          posts.push({ auth: req.headers.authorization, body, url: req.url ?? '' });
          res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
        });
      });
      await new Promise<void>((res) => server.listen(0, gw, () => res()));
      url = `http://${gw}:${(server.address() as AddressInfo).port}/hub/api/users/alice/activity`;
    });
    afterAll(() => new Promise<void>((res) => server.close(() => res())));

    it("code-server's heartbeat is reported to JUPYTERHUB_ACTIVITY_URL with the server token (Jupyter reports itself: no reporter there)", async () => {
      const TOKEN = `srv-${process.pid}-token`;
      const c = await docker.createContainer({
        Image: CODE,
        name: `labhub-${RUN}-activity`,
        Labels: labels,
        Env: [
          'JUPYTERHUB_SERVICE_URL=http://0.0.0.0:8888/user/alice/',
          'JUPYTERHUB_SERVICE_PREFIX=/user/alice/',
          `JUPYTERHUB_ACTIVITY_URL=${url}`,
          `JUPYTERHUB_API_TOKEN=${TOKEN}`,
          'JUPYTERHUB_SERVER_NAME=',
          'LABHUB_ACTIVITY_INTERVAL=1',
        ],
        ExposedPorts: { '8888/tcp': {} },
        HostConfig: { Init: true, PortBindings: { '8888/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
      } as Docker.ContainerCreateOptions);
      try {
        await c.start();
        const port = (await c.inspect()).NetworkSettings.Ports['8888/tcp']![0].HostPort;
        let page = 0;
        for (let i = 0; i < 120 && page !== 200; i++) {
          page = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3000) })
            .then(async (r) => (await r.text(), r.status))
            .catch(() => 0);
          if (page !== 200) await new Promise((res) => setTimeout(res, 500));
        }
        expect(page).toBe(200);
        // plain page loads are not activity for code-server: an open workbench connection (its WebSocket) is
        const before = Date.now();
        const ws = new WebSocket(`ws://127.0.0.1:${port}/?reconnectionToken=${crypto.randomUUID()}&reconnection=false&skipWebSocketFrames=false`, { headers: { Origin: `http://127.0.0.1:${port}` } });
        await new Promise<void>((res, rej) => {
          ws.on('open', () => res());
          ws.on('error', rej);
          ws.on('unexpected-response', (_q, r) => rej(new Error(`WebSocket: HTTP ${r.statusCode}`)));
        });
        for (let i = 0; i < 40 && !posts.length; i++) await new Promise((res) => setTimeout(res, 500));
        ws.close();
        expect(posts.length).toBeGreaterThan(0);
        const p = posts[0];
        expect(p.auth).toBe(`token ${TOKEN}`);
        expect(p.url).toBe('/hub/api/users/alice/activity');
        const body = JSON.parse(p.body) as { last_activity: string; servers: Record<string, { last_activity: string }> };
        expect(Object.keys(body.servers)).toEqual(['']);
        expect(body.servers[''].last_activity).toBe(body.last_activity);
        expect(Math.abs(Date.parse(body.last_activity) - before)).toBeLessThan(120_000);
        // the token is on no command line in the container
        const ps = await c.exec({ Cmd: ['sh', '-c', 'cat /proc/[0-9]*/cmdline | tr "\\0" " "'], AttachStdout: true });
        const st = await ps.start({ hijack: true, stdin: false });
        const chunks: Buffer[] = [];
        await new Promise<void>((res) => {
          st.on('data', (b: Buffer) => chunks.push(b));
          st.on('end', () => res());
          setTimeout(res, 10_000).unref();
        });
        const cmdlines = demux(Buffer.concat(chunks));
        expect(cmdlines).toContain('code-server');
        expect(cmdlines).not.toContain(TOKEN);
        // without new activity (no requests, heartbeat unchanged) no further reports
        await new Promise((res) => setTimeout(res, 2500));
        const n = posts.length;
        await new Promise((res) => setTimeout(res, 3000));
        expect(posts.length).toBe(n);
      } finally {
        await c.remove({ force: true }).catch(() => undefined);
      }
    }, 120_000);

    it('the Jupyter image starts no reporter (jupyterhub-singleuser posts activity itself); other apps get one', async () => {
      const jl = images?.LABHUB_IMAGE_JUPYTERLAB ?? '';
      const env = { JUPYTERHUB_ACTIVITY_URL: url, JUPYTERHUB_API_TOKEN: 'x', LABHUB_ACTIVITY_INTERVAL: '7', JUPYTERHUB_SERVICE_URL: 'http://0.0.0.0:8888/' };
      // the command stands in for the app; the reporter would be the `sleep 7` next to it
      const cmd = ['sh', '-c', 'sleep 1; ps -eo args'];
      const jupyter = await runToEnd(docker, { image: jl, labels, env, cmd });
      expect(jupyter.code, jupyter.out).toBe(0);
      expect(jupyter.out).not.toContain('sleep 7');
      const other = await runToEnd(docker, { image: jl, labels, env: { ...env, LABHUB_APP: 'other' }, cmd });
      expect(other.code, other.out).toBe(0);
      expect(other.out).toContain('sleep 7');
    }, 60_000);
  });
});
