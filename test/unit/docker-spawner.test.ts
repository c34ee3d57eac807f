/** Docker spawner pure parts: naming, sizes, limits, image policy, merges, the env file, the tar writer, the credential helper script and credential lookup. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { credentialFor } from '../../hub/routes/api/git-credentials.js';
import { GIT_CREDENTIAL_HELPER, shellEnvFile, tarArchive } from '../../spawners/docker-files.js';
import { DockerSpawnerSchema } from '../../spawners/docker-options.js';
import { chooseImage, containerName, DockerSpawner, registryOf, deepMerge, demuxLogs, describeLimits, effectiveLimits, escapeName, hostConfigLimits, parseSize } from '../../spawners/docker.js';
import { SpawnFailure } from '../../spawners/spawn-failure.js';

const opts = (o: Record<string, unknown> = {}) => DockerSpawnerSchema.parse({ kind: 'docker', ...o });

describe('docker spawner: names', () => {
  it('escapes to DNS-safe names; user and server stay distinguishable', () => {
    expect(escapeName('alice')).toBe('alice');
    expect(escapeName('Alice.B@x')).toBe('-41lice-2e-42-40x');
    expect(escapeName('é')).toBe('-c3-a9');
    expect(containerName('labhub', 'alice', '')).toBe('labhub-alice');
    expect(containerName('labhub', 'alice', 'gpu-1')).toBe('labhub-alice--gpu-2d1');
    expect(containerName('labhub', 'a-b', '')).not.toBe(containerName('labhub', 'a', 'b'));
    for (const n of [containerName('labhub', 'X_y', 'Z'), containerName('labhub', '../..', '')]) expect(n).toMatch(/^[a-z0-9-]+$/);
  });
});

describe('docker spawner: sizes and limits', () => {
  it('parses sizes like docker --memory', () => {
    expect(parseSize('512M')).toBe(512 * 1024 ** 2);
    expect(parseSize('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('2GiB')).toBe(2 * 1024 ** 3);
    expect(parseSize(1000)).toBe(1000);
    expect(() => parseSize('lots')).toThrow(/invalid size/);
  });

  it('config < largest group value < profile (request) limits', () => {
    const o = opts({ limits: { memory: '1G', cpus: 1, pids: 100 }, groupLimits: { a: { memory: '2G', cpus: 2 }, b: { memory: '4G' }, gpu: { gpus: 1 } } });
    expect(effectiveLimits(o, [])).toEqual({ memBytes: 1024 ** 3, cpus: 1, pids: 100, gpus: undefined });
    expect(effectiveLimits(o, ['a', 'b', 'gpu'])).toMatchObject({ memBytes: 4 * 1024 ** 3, cpus: 2, pids: 100, gpus: 1 });
    expect(effectiveLimits(o, ['a'], { memBytes: 123, cpus: 0.5 })).toMatchObject({ memBytes: 123, cpus: 0.5 });
  });

  it('maps limits to HostConfig (NanoCpus, PidsLimit, DeviceRequests) and describes them', () => {
    expect(hostConfigLimits({ memBytes: 1024, cpus: 1.5, pids: 10, gpus: 'all' })).toEqual({
      Memory: 1024,
      MemorySwap: 1024,
      NanoCpus: 1_500_000_000,
      PidsLimit: 10,
      DeviceRequests: [{ Driver: '', Count: -1, Capabilities: [['gpu']] }],
    });
    expect(hostConfigLimits({ gpus: 2 }).DeviceRequests).toEqual([{ Driver: '', Count: 2, Capabilities: [['gpu']] }]);
    expect(describeLimits({ memBytes: 512 * 1024 ** 2, cpus: 2, gpus: 1 })).toBe('Limits: memory 512 MiB, 2 CPUs, 1 GPU');
    expect(describeLimits({})).toBe('Limits: none');
  });
});

describe('docker spawner: image policy', () => {
  const o = opts({ image: 'lab/default:1', allowedImages: { python: 'lab/py:3', r: 'lab/r:4' } });
  it('default, allowed label, or an allowed image itself', () => {
    expect(chooseImage(o, {})).toBe('lab/default:1');
    expect(chooseImage(o, { image: 'r' })).toBe('lab/r:4');
    expect(chooseImage(o, { image: 'lab/py:3' })).toBe('lab/py:3');
  });
  it('never an arbitrary image', () => {
    expect(() => chooseImage(o, { image: 'evil/miner:latest' })).toThrow(SpawnFailure);
    expect(() => chooseImage(o, { image: 'toString' })).toThrow(/not allowed; choose one of: python, r/);
    expect(() => chooseImage(o, { image: ['lab/py:3'] })).toThrow(/must be a string/);
  });
});

describe('docker spawner: registry of an image', () => {
  it('finds the registry host the way docker does', () => {
    expect(registryOf('jupyter/base-notebook:latest')).toBe('docker.io');
    expect(registryOf('ubuntu')).toBe('docker.io');
    expect(registryOf('ghcr.io/lab/img:1')).toBe('ghcr.io');
    expect(registryOf('127.0.0.1:5000/x/y')).toBe('127.0.0.1:5000');
    expect(registryOf('localhost/labhub-bb:latest')).toBe('localhost');
  });
});

describe('docker spawner: escape hatches', () => {
  it('deep-merges objects, replaces arrays and scalars, null deletes', () => {
    expect(deepMerge({ HostConfig: { Init: true, Mounts: [1], Memory: 1 }, User: 'x' }, { HostConfig: { Mounts: [2], Memory: null, ShmSize: 5 }, User: null })).toEqual({
      HostConfig: { Init: true, Mounts: [2], ShmSize: 5 },
    });
  });
  it('demultiplexes docker log frames', () => {
    const frame = (t: number, s: string) => Buffer.concat([Buffer.from([t, 0, 0, 0, 0, 0, 0, s.length]), Buffer.from(s)]);
    expect(demuxLogs(Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n')]))).toBe('out\nerr\n');
    expect(demuxLogs(Buffer.from('plain tty output'))).toBe('plain tty output');
  });
});

describe('docker spawner: container files', () => {
  it('the env file round-trips through sh, quotes included', () => {
    const env = { A: "it's", B: 'two\nlines', C: '$HOME `x` "q"', 'BAD-KEY': 'dropped' };
    const dir = mkdtempSync(join(tmpdir(), 'labhub-envfile-'));
    writeFileSync(join(dir, 'env'), shellEnvFile(env));
    const out = execFileSync('sh', ['-c', `set -a; . ${dir}/env; set +a; printf '%s|%s|%s|%s' "$A" "$B" "$C" "\${BAD_KEY:-none}"`], { env: { PATH: process.env.PATH } }).toString();
    expect(out).toBe(`it's|two\nlines|$HOME \`x\` "q"|none`);
  });

  it('the tar archive is valid ustar with modes and owners', () => {
    const dir = mkdtempSync(join(tmpdir(), 'labhub-tar-'));
    writeFileSync(
      join(dir, 'a.tar'),
      tarArchive([
        { name: 'opt/labhub', mode: 0o755 },
        { name: 'opt/labhub/env', content: 'X=1\n', mode: 0o400, uid: 1000, gid: 100 },
      ]),
    );
    const listing = execFileSync('tar', ['-tvf', join(dir, 'a.tar'), '--numeric-owner']).toString();
    expect(listing).toMatch(/^drwxr-xr-x 0\/0\s+0 .* opt\/labhub\/$/m);
    expect(listing).toMatch(/^-r-------- 1000\/100\s+4 .* opt\/labhub\/env$/m);
  });

  it('the credential helper answers git (get) and askpass prompts from the hub, with the server token', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.url} ${req.headers.authorization}`);
      if (req.headers.authorization !== 'token server-token') return void res.writeHead(403).end();
      if (!req.url?.includes('host=git.example:8443')) return void res.writeHead(404).end();
      res.end('username=alice\npassword=fresh-token\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const dir = mkdtempSync(join(tmpdir(), 'labhub-cred-'));
    writeFileSync(join(dir, 'helper'), GIT_CREDENTIAL_HELPER, { mode: 0o755 });
    const env = { PATH: process.env.PATH!, JUPYTERHUB_API_TOKEN: 'server-token', JUPYTERHUB_ACTIVITY_URL: `http://127.0.0.1:${port}/hub/api/users/alice/activity` };
    const run = (args: string[], input = '') => spawnSync(join(dir, 'helper'), args, { env, input, encoding: 'utf8' });
    try {
      const asyncRun = (args: string[], input = '') =>
        new Promise<string>((resolve) => {
          // run off the event loop so the server above can answer
          import('node:child_process').then(({ execFile }) => {
            const c = execFile(join(dir, 'helper'), args, { env }, (_e, stdout) => resolve(stdout));
            c.stdin!.end(input);
          });
        });
      expect(await asyncRun(['get'], 'protocol=https\nhost=git.example:8443\n\n')).toBe('username=alice\npassword=fresh-token\n');
      expect(await asyncRun(["Username for 'https://git.example:8443': "])).toBe('alice\n');
      expect(await asyncRun(["Password for 'https://alice@git.example:8443': "])).toBe('fresh-token\n');
      expect(await asyncRun(['get'], 'protocol=https\nhost=other.example\n\n')).toBe('');
      expect(run(['store']).status).toBe(0);
      expect(seen[0]).toBe('/hub/api/users/alice/git-credentials?format=credential&host=git.example:8443 token server-token');
    } finally {
      server.close();
    }
  });
});

describe('docker spawner: the server environment', () => {
  it('binds inside the container, rewrites the hub origin for containers, sets HOME and git config', () => {
    const o = opts({ hubUrl: 'http://172.17.0.1:8081', git: { userEmail: '{username}@lab.example' }, environment: { EXTRA: '1' } });
    const s = new DockerSpawner({ dataDir: '/x', log: { info() {}, warn() {}, error() {}, debug() {} }, hubId: 'h' }, o, { user: 'Ann', serverName: '' });
    const env = s.serverEnv(
      {
        user: 'Ann',
        serverName: '',
        servicePrefix: '/user/Ann/',
        env: { JUPYTERHUB_API_URL: 'http://127.0.0.1:8081/hub/api', JUPYTERHUB_ACTIVITY_URL: 'http://127.0.0.1:8081/hub/api/users/Ann/activity', JUPYTERHUB_API_TOKEN: 't' },
        userOptions: {},
        signal: AbortSignal.timeout(1000),
      },
      { Id: 'sha256:abc', RepoTags: ['lab/img:1'] } as never,
    );
    expect(env).toMatchObject({
      JUPYTERHUB_SERVICE_URL: 'http://0.0.0.0:8888/user/Ann/',
      JUPYTERHUB_API_URL: 'http://172.17.0.1:8081/hub/api',
      JUPYTERHUB_ACTIVITY_URL: 'http://172.17.0.1:8081/hub/api/users/Ann/activity',
      JUPYTER_IMAGE_SPEC: 'lab/img:1',
      HOME: '/home/jovyan',
      GIT_ASKPASS: '/opt/labhub/bin/git-credential-labhub',
      GIT_CONFIG_COUNT: '3',
      GIT_CONFIG_KEY_0: 'credential.helper',
      GIT_CONFIG_VALUE_0: '/opt/labhub/bin/git-credential-labhub',
      GIT_CONFIG_KEY_1: 'user.name',
      GIT_CONFIG_VALUE_1: 'Ann',
      GIT_CONFIG_KEY_2: 'user.email',
      GIT_CONFIG_VALUE_2: 'Ann@lab.example',
      EXTRA: '1',
    });
  });
});

describe('git credentials from auth state', () => {
  it('explicit list, then GitHub (incl. Enterprise host), then the OIDC issuer host', () => {
    expect(credentialFor(null, 'github.com')).toBeNull();
    const gh = { access_token: 'gho_1', github_user: { login: 'octo', html_url: 'https://github.com/octo' } };
    expect(credentialFor(gh, 'github.com')).toEqual({ username: 'octo', password: 'gho_1' });
    expect(credentialFor(gh, 'gitlab.com')).toBeNull();
    const ghe = { access_token: 'gho_2', github_user: { login: 'octo', html_url: 'https://ghe.lab.example/octo' } };
    expect(credentialFor(ghe, 'ghe.lab.example')).toEqual({ username: 'octo', password: 'gho_2' });
    expect(credentialFor(ghe, 'github.com')).toBeNull();
    const oidc = { access_token: 'glpat', id_token_claims: { iss: 'https://gitlab.lab.example' } };
    expect(credentialFor(oidc, 'gitlab.lab.example')).toEqual({ username: 'oauth2', password: 'glpat' });
    const explicit = { ...gh, git_credentials: [{ host: 'GitHub.com', username: 'bot', password: 'pat' }] };
    expect(credentialFor(explicit, 'github.com')).toEqual({ username: 'bot', password: 'pat' });
  });
});
