/**
 * Docker spawner behaviour on real engines (each test on dockerd and on Podman) with the busybox test
 * image: pull progress from a real local registry, image policy, placement over several hosts
 * (one down), homes owned by the configured uid and kept across removal, shared folders rw/ro by
 * group, limits read back from the container's cgroup, env file (no token in `docker inspect`),
 * keep-and-restart, user-defined networks, and the failure cases. Everything is labelled
 * labhub.test=<run> and removed in afterAll.
 */
import bcrypt from 'bcryptjs';
import { spawn, type ChildProcess } from 'node:child_process';
import Docker from 'dockerode';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSingleUserEnv, serverPrefix } from '../../hub/env.js';
import { DockerSpawnerSchema, type DockerSpawnerConfig } from '../../spawners/docker-options.js';
import { DockerSpawner } from '../../spawners/docker.js';
import { testPort } from '../helpers/test-ports.js';
import { SpawnFailure } from '../../spawners/spawn-failure.js';
import type { ProgressEvent, SpawnRequest } from '../../spawners/spawner.js';
import { cleanupTestObjects, engineProblem, leftovers, readDockerEnv, requireEngine, dockerExec } from '../helpers/docker-env.js';

const env = readDockerEnv();
const problem = await engineProblem(env?.DOCKER_SOCK);
const podmanProblem = await engineProblem(env?.PODMAN_SOCK);
const run = requireEngine('docker spawner integration (dockerd)', problem);
const runPodman = requireEngine('docker spawner integration (podman)', podmanProblem);
const log = { info() {}, warn() {}, error() {}, debug() {} };
const RUN = `spawner-${process.pid}`;
const TOKEN = 'tok' + 'e'.repeat(29) + process.pid;

const exec = (docker: Docker, id: string, cmd: string[]) => dockerExec(docker, id, cmd, 15_000);

/** A spawn request for `user`'s default server, progress events collected into `events`. */
const spawnRequest = (user: string, events: ProgressEvent[] = [], extra: Partial<SpawnRequest> = {}): SpawnRequest => ({
  user,
  serverName: '',
  servicePrefix: serverPrefix(user, ''),
  env: buildSingleUserEnv({ user, serverName: '', apiToken: TOKEN, hubApiUrl: 'http://127.0.0.1:1/hub/api' }),
  userOptions: {},
  signal: AbortSignal.timeout(60_000),
  onProgress: (e) => events.push(e),
  ...extra,
});

for (const engine of ['dockerd', 'podman'] as const) {
  const SOCK = engine === 'dockerd' ? env?.DOCKER_SOCK : env?.PODMAN_SOCK;
  const RUN = `spawner-${engine}-${process.pid}`;
  // byte-count pull progress is dockerd's; Podman reports layers only ('docker spawner pulls on podman' below)
  const onlyDockerd = (name: string, fn: () => Promise<void>) => (engine === 'dockerd' ? it(name, fn) : undefined);
  describe.runIf(engine === 'dockerd' ? run : run && runPodman)(`docker spawner on ${engine}`, () => {
    const docker = new Docker({ socketPath: SOCK! });
    const ctx = { dataDir: '/nonexistent', log, hubId: RUN };
    const started: DockerSpawner[] = [];
    let n = 0;
    const base = (extra: Record<string, unknown> = {}): DockerSpawnerConfig =>
      DockerSpawnerSchema.parse({
        kind: 'docker',
        hosts: [{ url: `unix://${SOCK}` }],
        image: env!.LABHUB_TEST_IMAGE_BB,
        pullPolicy: 'never',
        cmd: ['sh', '-c', 'echo "$JUPYTERHUB_API_TOKEN" > /tmp/token-seen; exec httpd -f -p 8888 -h /www'],
        labels: { 'labhub.test': RUN },
        stopTimeoutSeconds: 1,
        ...extra,
      });
    const request = spawnRequest;
    const spawner = (opts: DockerSpawnerConfig, user = `u${n++}x${process.pid}`) => {
      const s = new DockerSpawner(ctx, opts, { user, serverName: '' });
      started.push(s);
      return { s, user };
    };
    const failure = async (p: Promise<unknown>): Promise<SpawnFailure> => {
      const err = await p.then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(SpawnFailure);
      return err as SpawnFailure;
    };

    const bindRoots: string[] = [];
    afterAll(async () => {
      await Promise.allSettled(started.map((s) => s.stop({ now: true })));
      for (const r of bindRoots) rmSync(r, { recursive: true, force: true });
      await docker.getImage(`${env!.REGISTRY}/labhub-test/bb:${RUN}`).remove({ force: true }).catch(() => undefined);
      await docker.getNetwork(`labhub-test-${RUN}`).remove().catch(() => undefined);
      await cleanupTestObjects(docker, RUN);
      expect(await leftovers(docker, RUN)).toEqual([]);
    });

    onlyDockerd('pulls from a registry with layer progress in the progress stream', async () => {
      const ref = `${env!.REGISTRY}/labhub-test/bb:${RUN}`;
      // an image with a layer this engine does not have (3 MB of random bytes), pushed, then deleted locally
      const maker = await docker.createContainer({ Image: env!.LABHUB_TEST_IMAGE_BB, Cmd: ['sh', '-c', 'head -c 3000000 /dev/urandom > /blob'], Labels: { 'labhub.test': RUN } });
      await maker.start();
      await maker.wait();
      await maker.commit({ repo: `${env!.REGISTRY}/labhub-test/bb`, tag: RUN });
      await maker.remove();
      const push = await docker.getImage(ref).push({ authconfig: { serveraddress: env!.REGISTRY } });
      await new Promise((resolve, reject) => docker.modem.followProgress(push, (err) => (err ? reject(err) : resolve(null))));
      await docker.getImage(ref).remove();
      const events: ProgressEvent[] = [];
      const { s, user } = spawner(base({ image: ref, pullPolicy: 'ifNotPresent' }));
      const { url } = await s.start(request(user, events));
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const msgs = events.map((e) => e.message);
      expect(msgs).toContain(`Pulling image ${ref} on unix://${SOCK}`);
      const pct = msgs.filter((m) => /^Pulling .*: \d+% \(/.test(m));
      expect(pct.length, msgs.join('\n')).toBeGreaterThan(0);
      expect(pct.at(-1)).toMatch(/: 100% \(/);
      expect(msgs).toContain(`Pulled ${ref}`);
      // progress only goes forward
      const ps = events.map((e) => e.progress);
      expect([...ps].sort((a, b) => a - b)).toEqual(ps);
      await s.stop();
    });

    it('a pull error from the registry reaches the progress stream and the failure', async () => {
      const ref = `${env!.REGISTRY}/labhub-test/does-not-exist:${RUN}`;
      const events: ProgressEvent[] = [];
      const { s, user } = spawner(base({ image: ref, pullPolicy: 'always' }));
      const err = await failure(s.start(request(user, events)));
      expect(err.reason).toBe('image');
      expect(err.message).toMatch(new RegExp(`^Pulling ${ref.replace(/[.:/]/g, '\\$&')} failed: .*(not found|unknown|manifest)`, 'i'));
      expect(events.map((e) => e.message)).toContain(err.message);
    });

    it("a missing image with pullPolicy 'never' fails clearly", async () => {
      const { s, user } = spawner(base({ image: 'localhost/labhub-no-such-image:1' }));
      const err = await failure(s.start(request(user)));
      expect(err.message).toBe(`Image localhost/labhub-no-such-image:1 is not present on Docker host unix://${SOCK} and pullPolicy is 'never'`);
    });

    it('users may pick only admin-allowed images (by label)', async () => {
      const opts = base({ allowedImages: { busybox: env!.LABHUB_TEST_IMAGE_BB } });
      const { s, user } = spawner(opts);
      const err = await failure(s.start(request(user, [], { userOptions: { image: 'docker.io/library/alpine:latest' } })));
      expect(err).toMatchObject({ reason: 'image', message: "Image 'docker.io/library/alpine:latest' is not allowed; choose one of: busybox" });
      const ok = spawner(opts);
      await ok.s.start(request(ok.user, [], { userOptions: { image: 'busybox' } }));
      const info = await docker.getContainer(String(ok.s.getState().containerId)).inspect();
      expect(info.Config.Image).toBe(env!.LABHUB_TEST_IMAGE_BB);
      await ok.s.stop();
    });

    it('an unreachable engine is a clear failure; a host that is down is skipped with a message', async () => {
      const down = `unix:///tmp/labhub-ci/no-such-${process.pid}.sock`;
      const only = spawner(base({ hosts: [{ url: down }] }));
      const err = await failure(only.s.start(request(only.user)));
      expect(err.reason).toBe('unreachable');
      expect(err.message).toMatch(new RegExp(`^No Docker host is reachable: ${down.replace(/[./]/g, '\\$&')} \\(.*ENOENT`));
      const events: ProgressEvent[] = [];
      const two = spawner(base({ hosts: [{ url: down, name: 'big-server-1' }, { url: `unix://${SOCK}`, name: 'big-server-2' }] }));
      await two.s.start(request(two.user, events));
      expect(events.map((e) => e.message)).toEqual(expect.arrayContaining([expect.stringMatching(/^Docker host big-server-1 is unreachable \(.*\); skipped$/), 'Placed on Docker host big-server-2']));
      expect(two.s.getState().host).toBe(`unix://${SOCK}`);
      await two.s.stop();
    });

    it('a new home volume belongs to uid:gid, survives container removal and is only mounted for its user', async () => {
      const opts = base({ uid: 1234, gid: 100, home: { type: 'volume', source: `labhub-home-{username}-${RUN}` } });
      const { s, user } = spawner(opts);
      await s.start(request(user));
      const id = String(s.getState().containerId);
      expect(await exec(docker, id, ['stat', '-c', '%u:%g %a', '/home/jovyan'])).toEqual({ code: 0, out: '1234:100 750\n' });
      expect(await exec(docker, id, ['sh', '-c', 'id -u; echo kept > /home/jovyan/notes.txt'])).toEqual({ code: 0, out: '1234\n' });
      await s.stop();
      await expect(docker.getContainer(id).inspect()).rejects.toMatchObject({ statusCode: 404 });
      const vol = await docker.getVolume(`labhub-home-${user}-${RUN}`).inspect();
      expect(vol.Labels).toMatchObject({ 'labhub.user': user, 'labhub.hub': RUN, 'labhub.test': RUN });
      await s.start(request(user));
      const id2 = String(s.getState().containerId);
      expect(id2).not.toBe(id);
      expect(await exec(docker, id2, ['cat', '/home/jovyan/notes.txt'])).toEqual({ code: 0, out: 'kept\n' });
      // another user: own empty home, the first user's volume is not mounted
      const other = spawner(opts);
      await other.s.start(request(other.user));
      const oid = String(other.s.getState().containerId);
      expect((await exec(docker, oid, ['ls', '-A', '/home/jovyan'])).out).toBe('');
      const mounts = (await docker.getContainer(oid).inspect()).Mounts.map((m) => m.Name);
      expect(mounts).toEqual([`labhub-home-${other.user}-${RUN}`]);
      await other.s.stop();
      await s.stop();
    });

    it('a bind-path home (template) is created for the user with the right owner and kept', async () => {
      const root = mkdtempSync(join(tmpdir(), `labhub-binds-${engine}-`));
      bindRoots.push(root);
      const opts = base({ uid: 4321, gid: 100, home: { type: 'bind', source: `${root}/{username}` } });
      const { s, user } = spawner(opts);
      await s.start(request(user));
      const id = String(s.getState().containerId);
      expect(await exec(docker, id, ['sh', '-c', 'id -u; echo on-nfs > /home/jovyan/file.txt'])).toEqual({ code: 0, out: '4321\n' });
      const st = statSync(join(root, user));
      expect([st.uid, st.gid, st.mode & 0o777]).toEqual([4321, 100, 0o750]);
      await s.stop();
      expect(readFileSync(join(root, user, 'file.txt'), 'utf8')).toBe('on-nfs\n');
    });

    it('extra volumes: a named volume per user and a read-only bind path', async () => {
      const root = mkdtempSync(join(tmpdir(), `labhub-data-${engine}-`));
      bindRoots.push(root);
      writeFileSync(join(root, 'dataset.csv'), 'a,b\n');
      const opts = base({
        home: { type: 'none' },
        volumes: [
          { source: `labhub-scratch-{username}-${RUN}`, target: '/scratch' },
          { type: 'bind', source: root, target: '/data', readOnly: true },
        ],
      });
      const { s, user } = spawner(opts);
      await s.start(request(user));
      const id = String(s.getState().containerId);
      expect(await exec(docker, id, ['sh', '-c', 'echo tmp > /scratch/x && cat /data/dataset.csv'])).toEqual({ code: 0, out: 'a,b\n' });
      expect((await exec(docker, id, ['sh', '-c', 'echo no > /data/new.csv'])).code).not.toBe(0);
      expect((await docker.getVolume(`labhub-scratch-${user}-${RUN}`).inspect()).Labels).toMatchObject({ 'labhub.user': user, 'labhub.test': RUN });
      await s.stop();
    });

    it('shared folders: read-only for students, read-write for a group, absent for others; groups claimed in userOptions count for nothing', async () => {
      const opts = base({
        uid: 0,
        gid: 0,
        home: { type: 'none' },
        sharedMounts: [
          { source: `labhub-shared-${RUN}`, target: '/shared', readOnly: true, readWriteGroups: ['teachers'], groups: ['teachers', 'students'] },
        ],
      });
      const teacher = spawner(opts);
      const student = spawner(opts);
      const outsider = spawner(opts);
      await teacher.s.start(request(teacher.user, [], { groups: ['teachers'] }));
      await student.s.start(request(student.user, [], { groups: ['students'], userOptions: { groups: ['teachers'] } }));
      await outsider.s.start(request(outsider.user, [], { groups: [] }));
      const tid = String(teacher.s.getState().containerId);
      const sid = String(student.s.getState().containerId);
      const xid = String(outsider.s.getState().containerId);
      expect((await exec(docker, tid, ['sh', '-c', 'echo from-teacher > /shared/hello.txt'])).code).toBe(0);
      expect(await exec(docker, sid, ['cat', '/shared/hello.txt'])).toEqual({ code: 0, out: 'from-teacher\n' });
      const write = await exec(docker, sid, ['sh', '-c', 'echo x > /shared/student.txt']);
      expect(write.code).not.toBe(0);
      expect(write.out).toMatch(/Read-only file system/);
      expect((await exec(docker, xid, ['test', '-e', '/shared'])).code).toBe(1);
      await Promise.all([teacher.s.stop(), student.s.stop(), outsider.s.stop()]);
    });

    it('memory, CPU and PID limits are applied (read from the cgroup inside) and reported in progress', async () => {
      const events: ProgressEvent[] = [];
      const { s, user } = spawner(base({ limits: { memory: '96M', cpus: 0.5, pids: 64 }, groupLimits: { big: { memory: '128M' } } }));
      await s.start(request(user, events, { groups: ['big'] }));
      expect(events.map((e) => e.message)).toContain('Limits: memory 128 MiB, 0.5 CPUs, 64 processes');
      const id = String(s.getState().containerId);
      const read = async (v1: string, v2: string) => (await exec(docker, id, ['sh', '-c', `cat ${v1} 2>/dev/null || cat ${v2}`])).out.trim();
      expect(await read('/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/memory.max')).toBe(String(128 * 1024 * 1024));
      const cpu = await read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us', '/sys/fs/cgroup/cpu.max');
      expect(cpu.startsWith('50000')).toBe(true); // 0.5 CPU of a 100000 µs period
      expect(await read('/sys/fs/cgroup/pids/pids.max', '/sys/fs/cgroup/pids.max')).toBe('64');
      await s.stop();
    });

    it('a GPU request reaches the engine as DeviceRequests, or fails clearly (no GPU here)', async () => {
      const { s, user } = spawner(base({ limits: { gpus: 1 } }));
      const err = await failure(s.start(request(user)));
      // dockerd refuses (no GPU driver here); Podman's compat API drops DeviceRequests, which the spawner detects
      expect(err.message).toMatch(engine === 'dockerd' ? /^Could not (create|start) container .*(gpu|device driver)/i : /ignored the GPU request \(DeviceRequests\)/);
    });

    it('the API token is delivered in a file, not the container config: absent from docker inspect', async () => {
      const { s, user } = spawner(base());
      await s.start(request(user));
      const id = String(s.getState().containerId);
      const inspect = JSON.stringify(await docker.getContainer(id).inspect());
      expect(inspect).not.toContain(TOKEN);
      expect(inspect).toContain('LABHUB_ENV_FILE=/opt/labhub/env');
      for (let i = 0; i < 50 && (await exec(docker, id, ['cat', '/tmp/token-seen'])).code !== 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect((await exec(docker, id, ['cat', '/tmp/token-seen'])).out).toBe(`${TOKEN}\n`);
      await s.stop();
    });

    it('keep-and-restart (remove: false): the same container comes back with a fresh token', async () => {
      const { s, user } = spawner(base({ remove: false }));
      await s.start(request(user));
      const id = String(s.getState().containerId);
      await exec(docker, id, ['sh', '-c', 'echo in-container-layer > /root/kept']);
      await s.stop();
      expect((await docker.getContainer(id).inspect()).State.Running).toBe(false);
      const events: ProgressEvent[] = [];
      const fresh = 'fresh' + 'x'.repeat(27);
      await s.start({ ...request(user, events), env: buildSingleUserEnv({ user, serverName: '', apiToken: fresh, hubApiUrl: 'http://127.0.0.1:1/hub/api' }) });
      expect(s.getState().containerId).toBe(id);
      expect(events.map((e) => e.message)).toContain(`Restarting kept container ${s.name}`);
      expect((await exec(docker, id, ['cat', '/root/kept'])).out).toBe('in-container-layer\n');
      for (let i = 0; i < 50 && !(await exec(docker, id, ['cat', '/tmp/token-seen'])).out.includes(fresh); i++) await new Promise((r) => setTimeout(r, 100));
      expect((await exec(docker, id, ['cat', '/tmp/token-seen'])).out).toBe(`${fresh}\n`);
      await s.stop();
      await docker.getContainer(id).remove({ force: true });
    });

    it('a container that exits at start: poll reports the exit code and its last log lines', async () => {
      const { s, user } = spawner(base({ cmd: ['sh', '-c', 'echo starting up; echo "fatal: config file missing" >&2; exit 3'] }));
      const result = await s.start(request(user)).then(
        () => null,
        (e: unknown) => e as SpawnFailure,
      );
      if (result) expect(result.message).toMatch(/exited with code 3.*fatal: config file missing/);
      let poll = await s.poll();
      for (let i = 0; i < 100 && poll.status === 'running'; i++) {
        await new Promise((r) => setTimeout(r, 50));
        poll = await s.poll();
      }
      expect(poll).toMatchObject({ status: 'stopped', exitCode: 3 });
      expect([...s.recentLogs()].sort()).toEqual(['fatal: config file missing', 'starting up']); // stdout and stderr may interleave
      await s.stop();
    });

    it('a spawn cancelled at any step leaves no container behind', async () => {
      for (const step of ['Preparing home', 'Creating container', 'Starting container']) {
        const ac = new AbortController();
        const { s, user } = spawner(base());
        let stopped: Promise<void> | undefined;
        let stopError: unknown;
        const err = await s
          .start({
            ...request(user),
            signal: ac.signal,
            onProgress: (e) => {
              if (!e.message.startsWith(step)) return;
              ac.abort();
              // what the hub does on cancel: stop at once, while start() is still running
              stopped = s.stop({ now: true }).catch((e: unknown) => void (stopError = e));
            },
          })
          .then(() => null, (e: unknown) => e as Error);
        expect(err?.name, step).toBe('AbortError');
        await stopped;
        expect(stopError, step).toBeUndefined();
        const left = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`labhub.user=${user}`, `labhub.test=${RUN}`] }) } as object);
        expect(left, step).toEqual([]);
      }
    });

    it("stop: the engine's transient 'container state improper' (Podman, a start still running) is retried; a container to be removed is removed anyway", async () => {
      // the real engine behind a socket proxy that answers the first N stop calls the way Podman does mid-transition
      const dir = mkdtempSync(join(tmpdir(), 'labhub-faulty-sock-'));
      const sock = join(dir, 'engine.sock');
      let failStops = 0;
      let stopCalls = 0;
      const proxy = createHttpServer((req, res) => {
        if (req.method === 'POST' && /\/containers\/[^/]+\/stop/.test(req.url ?? '')) {
          stopCalls++;
          if (failStops > 0) {
            failStops--;
            res.writeHead(500, { 'Content-Type': 'application/json' });
            res.end(JSON.stringify({ cause: 'container state improper', message: 'container x is running or paused, refusing to clean up: container state improper', response: 500 }));
            return;
          }
        }
        const up = httpRequest({ socketPath: SOCK, method: req.method, path: req.url, headers: req.headers }, (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
        });
        up.on('error', () => res.destroy());
        req.pipe(up);
      });
      await new Promise<void>((r) => proxy.listen(sock, r));
      try {
        const viaProxy = (extra: Record<string, unknown>) => base({ hosts: [{ url: `unix://${sock}` }], ...extra });
        // kept containers (remove: false): two transient failures, then the stop goes through
        const kept = spawner(viaProxy({ remove: false }));
        await kept.s.start(request(kept.user));
        const keptId = String(kept.s.getState().containerId);
        failStops = 2;
        stopCalls = 0;
        await kept.s.stop({ now: true });
        expect(stopCalls).toBe(3);
        expect((await docker.getContainer(keptId).inspect()).State.Running).toBe(false);
        await docker.getContainer(keptId).remove({ force: true });
        // removed containers: stop never succeeds, the forced removal still takes it away
        const removed = spawner(viaProxy({ remove: true }));
        await removed.s.start(request(removed.user));
        const removedId = String(removed.s.getState().containerId);
        failStops = 100;
        await removed.s.stop({ now: true });
        await expect(docker.getContainer(removedId).inspect()).rejects.toThrow(/no such container/i);
        expect(removed.s.getState()).toEqual({});
        // kept, and it never stops: a clear error, state kept for the next try
        const stuck = spawner(viaProxy({ remove: false }));
        await stuck.s.start(request(stuck.user));
        const stuckId = String(stuck.s.getState().containerId);
        failStops = 100;
        await expect(stuck.s.stop({ now: true })).rejects.toThrow(/Could not stop container .*container state improper/);
        expect(stuck.s.getState().containerId).toBe(stuckId); // kept for the next try
        expect((await docker.getContainer(stuckId).inspect()).State.Running).toBe(true);
        failStops = 0;
        await stuck.s.stop({ now: true });
        expect(stuck.s.getState()).toEqual({});
        expect((await docker.getContainer(stuckId).inspect()).State.Running).toBe(false);
        await docker.getContainer(stuckId).remove({ force: true });
      } finally {
        failStops = 0;
        await new Promise<void>((r) => proxy.close(() => r()));
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('web terminal: a login shell in the container with the server environment, resizable, ends on exit/close', async () => {
      const { s, user } = spawner(base({ uid: 1000, gid: 100, home: { type: 'volume', source: `labhub-home-{username}-${RUN}` } }));
      await s.start(request(user));
      const term = await s.terminal({ cols: 80, rows: 24 });
      let out = '';
      term.onData((d) => (out += d));
      const exited = new Promise<number | null>((resolve) => term.onExit(resolve));
      const waitFor = async (re: RegExp) => {
        for (let i = 0; i < 100 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 50));
        expect(out).toMatch(re);
      };
      term.write('echo "term-$((6*7)) $JUPYTERHUB_USER $(id -u) $(pwd)"\n');
      await waitFor(new RegExp(`term-42 ${user} 1000 /home/jovyan`));
      term.resize(100, 30);
      await new Promise((r) => setTimeout(r, 200));
      term.write('stty size\n');
      await waitFor(/30 100/);
      term.write('exit 3\n');
      expect(await exited).toBe(3);
      // close() ends a shell that is still running
      const second = await s.terminal({ cols: 80, rows: 24 });
      const secondExit = new Promise<number | null>((resolve) => second.onExit(resolve));
      second.close();
      await expect(Promise.race([secondExit.then(() => 'exited'), new Promise((r) => setTimeout(() => r('still running'), 10_000))])).resolves.toBe('exited');
      const id = String(s.getState().containerId);
      let shells = '';
      for (let i = 0; i < 50; i++) {
        shells = (await exec(docker, id, ['ps', '-o', 'args'])).out.split('\n').filter((l) => /sh -l/.test(l)).join('\n');
        if (!shells) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(shells).toBe(''); // the shell itself is gone, not just the connection
      await s.stop();
    });

    it('shared ports: portTarget is the container address, reachable from the hub', async () => {
      const { s, user } = spawner(base());
      await s.start(request(user));
      const id = String(s.getState().containerId);
      expect((await exec(docker, id, ['httpd', '-p', '9999', '-h', '/www'])).code).toBe(0); // daemonizes
      const target = s.portTarget(9999);
      const info = await docker.getContainer(id).inspect();
      expect(target).toBe(`http://${Object.values(info.NetworkSettings.Networks)[0].IPAddress}:9999`);
      let status = 0;
      for (let i = 0; i < 50 && !status; i++) status = await fetch(`${target}/`).then((r) => r.status, () => 0);
      expect(status).toBe(404); // busybox httpd answering from inside the container
      // a remote host on the default bridge: container addresses are not routable, so no target
      const remote = new DockerSpawner(ctx, base(), { user, serverName: '' }, { ...s.getState(), host: 'tcp://10.0.0.99:2376' });
      expect(remote.portTarget(9999)).toBeUndefined();
      await s.stop();
      expect(s.portTarget(9999)).toBeUndefined();
    });

    it('stop of a container that is already gone: resolves, and poll says why', async () => {
      const { s, user } = spawner(base());
      await s.start(request(user));
      const state = s.getState();
      await docker.getContainer(String(state.containerId)).remove({ force: true });
      const revived = new DockerSpawner(ctx, base(), { user, serverName: '' }, JSON.parse(JSON.stringify(state)));
      expect(await revived.poll()).toEqual({ status: 'stopped', exitCode: null, reason: `container ${s.name} no longer exists` });
      await revived.stop();
      expect(revived.getState()).toEqual({});
    });

    it('a user-defined network: the hub connects to the container IP; restart policy, Init, extraHost and extraCreate applied', async () => {
      const net = `labhub-test-${RUN}`;
      await docker.createNetwork({ Name: net, Labels: { 'labhub.test': RUN } });
      const { s, user } = spawner(base({ network: net, restartPolicy: 'on-failure', extraHost: { ShmSize: 32 * 1024 * 1024 }, extraCreate: { Labels: { 'labhub.extra': 'yes' } } }));
      const { url } = await s.start(request(user));
      const info = await docker.getContainer(String(s.getState().containerId)).inspect();
      expect(url).toBe(`http://${info.NetworkSettings.Networks[net].IPAddress}:8888`);
      expect(info.HostConfig.ShmSize).toBe(32 * 1024 * 1024);
      expect(info.HostConfig.RestartPolicy?.Name).toBe('on-failure');
      expect(info.HostConfig.Init).toBe(true);
      expect(info.Config.Labels).toMatchObject({ 'labhub.extra': 'yes', 'labhub.user': user });
      let status = 0;
      for (let i = 0; i < 50 && !status; i++) status = await fetch(`${url}/`).then((r) => r.status, () => 0);
      expect(status).toBeGreaterThan(0);
      await s.stop();
    });
  });

}

describe.runIf(run && runPodman)('docker spawner pulls on podman', () => {
  const runId = `podpull-${process.pid}`;
  const docker = new Docker({ socketPath: env?.DOCKER_SOCK ?? '' });
  const podman = new Docker({ socketPath: env?.PODMAN_SOCK ?? '' });
  const ref = `${env?.REGISTRY}/labhub-test/podpull:${runId}`;
  afterAll(async () => {
    await podman.getImage(ref).remove({ force: true }).catch(() => undefined);
    await docker.getImage(ref).remove({ force: true }).catch(() => undefined);
    await cleanupTestObjects(podman, runId);
    await cleanupTestObjects(docker, runId);
    expect(await leftovers(podman, runId)).toEqual([]);
  });

  it('pull progress is reported by layers when the engine gives no byte counts', async () => {
    const maker = await docker.createContainer({ Image: env!.LABHUB_TEST_IMAGE_BB, Cmd: ['sh', '-c', 'head -c 1000000 /dev/urandom > /blob'], Labels: { 'labhub.test': runId } });
    await maker.start();
    await maker.wait();
    await maker.commit({ repo: `${env!.REGISTRY}/labhub-test/podpull`, tag: runId });
    await maker.remove();
    const push = await docker.getImage(ref).push({ authconfig: { serveraddress: env!.REGISTRY } });
    await new Promise((resolve, reject) => docker.modem.followProgress(push, (err) => (err ? reject(err) : resolve(null))));
    const opts = DockerSpawnerSchema.parse({
      kind: 'docker',
      hosts: [{ url: `unix://${env!.PODMAN_SOCK}` }],
      image: ref,
      cmd: ['httpd', '-f', '-p', '8888', '-h', '/www'],
      labels: { 'labhub.test': runId },
      home: { type: 'none' },
      stopTimeoutSeconds: 1,
    });
    const events: ProgressEvent[] = [];
    const user = `pp${process.pid}`;
    const s = new DockerSpawner({ dataDir: '/nonexistent', log, hubId: runId }, opts, { user, serverName: '' });
    await s.start(spawnRequest(user, events));
    const msgs = events.map((e) => e.message);
    expect(msgs.some((m) => /^Pulling .*: (\d+ of \d+ layers|\d+% \()/.test(m)), msgs.join('\n')).toBe(true);
    expect(msgs).toContain(`Pulled ${ref}`);
    await s.stop();
  });
});

describe.runIf(run && runPodman)('docker spawner placement over dockerd + podman', () => {
  const runId = `place-${process.pid}`;
  const docker = new Docker({ socketPath: env?.DOCKER_SOCK ?? '' });
  const podman = new Docker({ socketPath: env?.PODMAN_SOCK ?? '' });
  const started: DockerSpawner[] = [];
  beforeAll(async () => {
    await podman.getImage(`${env!.REGISTRY}/labhub-test/podman-only:${runId}`).remove({ force: true }).catch(() => undefined);
  });
  afterAll(async () => {
    await Promise.allSettled(started.map((s) => s.stop({ now: true })));
    await podman.getImage(`${env!.REGISTRY}/labhub-test/podman-only:${runId}`).remove({ force: true }).catch(() => undefined);
    for (const d of [docker, podman]) {
      await cleanupTestObjects(d, runId);
      expect(await leftovers(d, runId)).toEqual([]);
    }
  });

  it('spreads servers to the least-loaded host, respects capacity, and prefers a host that has the image', async () => {
    const ctx = { dataDir: '/nonexistent', log, hubId: runId };
    const opts = DockerSpawnerSchema.parse({
      kind: 'docker',
      hosts: [
        { url: `unix://${env!.DOCKER_SOCK}`, name: 'dockerd', capacity: 1 },
        { url: `unix://${env!.PODMAN_SOCK}`, name: 'podman', capacity: 1 },
      ],
      image: env!.LABHUB_TEST_IMAGE_BB,
      pullPolicy: 'never',
      cmd: ['httpd', '-f', '-p', '8888', '-h', '/www'],
      labels: { 'labhub.test': runId },
      home: { type: 'none' },
      stopTimeoutSeconds: 1,
    });
    const req = spawnRequest;
    const hosts: string[] = [];
    for (const u of ['pa', 'pb']) {
      const s = new DockerSpawner(ctx, opts, { user: `${u}${process.pid}`, serverName: '' });
      started.push(s);
      await s.start(req(`${u}${process.pid}`, []));
      hosts.push(String(s.getState().host));
    }
    expect(new Set(hosts)).toEqual(new Set([`unix://${env!.DOCKER_SOCK}`, `unix://${env!.PODMAN_SOCK}`]));
    const events: ProgressEvent[] = [];
    const third = new DockerSpawner(ctx, opts, { user: `pc${process.pid}`, serverName: '' });
    const err = await third.start(req(`pc${process.pid}`, events)).catch((e: unknown) => e as SpawnFailure);
    expect(err).toBeInstanceOf(SpawnFailure);
    expect((err as SpawnFailure).message).toBe('All reachable Docker hosts are at capacity (dockerd, podman)');
    expect(events.map((e) => e.message)).toContain('Docker host podman is full (1/1); skipped');
    await Promise.all(started.map((s) => s.stop()));
    // image only on podman: podman wins although dockerd is listed first
    const only = `${env!.REGISTRY}/labhub-test/podman-only:${runId}`;
    await podman.getImage(env!.LABHUB_TEST_IMAGE_BB).tag({ repo: `${env!.REGISTRY}/labhub-test/podman-only`, tag: runId });
    const s = new DockerSpawner(ctx, { ...opts, image: only }, { user: `pd${process.pid}`, serverName: '' });
    started.push(s);
    await s.start(req(`pd${process.pid}`, []));
    expect(s.getState().host).toBe(`unix://${env!.PODMAN_SOCK}`);
    await s.stop();
  });

  it('concurrent spawns see each other: capacity holds and they spread over the hosts', async () => {
    const ctx = { dataDir: '/nonexistent', log, hubId: `${runId}-conc` };
    const opts = DockerSpawnerSchema.parse({
      kind: 'docker',
      hosts: [
        { url: `unix://${env!.DOCKER_SOCK}`, capacity: 2 },
        { url: `unix://${env!.PODMAN_SOCK}`, capacity: 2 },
      ],
      image: env!.LABHUB_TEST_IMAGE_BB,
      pullPolicy: 'never',
      cmd: ['httpd', '-f', '-p', '8888', '-h', '/www'],
      labels: { 'labhub.test': runId },
      home: { type: 'none' },
      stopTimeoutSeconds: 1,
    });
    const spawners = Array.from({ length: 5 }, (_, i) => new DockerSpawner(ctx, opts, { user: `cc${i}x${process.pid}`, serverName: '' }));
    started.push(...spawners);
    const results = await Promise.allSettled(
      spawners.map((s, i) =>
        s.start(spawnRequest(`cc${i}x${process.pid}`)),
      ),
    );
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(failed.map((r) => (r.reason as Error).message)).toEqual([expect.stringMatching(/^All reachable Docker hosts are at capacity/)]);
    const hosts = spawners.map((s) => s.getState().host).filter(Boolean);
    expect(hosts.filter((h) => h === `unix://${env!.DOCKER_SOCK}`)).toHaveLength(2);
    expect(hosts.filter((h) => h === `unix://${env!.PODMAN_SOCK}`)).toHaveLength(2);
    await Promise.all(spawners.map((s) => s.stop()));
  });

  it('keep-and-restart goes back to the host that keeps the container', async () => {
    const ctx = { dataDir: '/nonexistent', log, hubId: runId };
    const base = {
      kind: 'docker',
      image: env!.LABHUB_TEST_IMAGE_BB,
      pullPolicy: 'never',
      cmd: ['httpd', '-f', '-p', '8888', '-h', '/www'],
      labels: { 'labhub.test': runId },
      home: { type: 'none' },
      remove: false,
      stopTimeoutSeconds: 1,
    };
    const dockerd = { url: `unix://${env!.DOCKER_SOCK}` };
    const pod = { url: `unix://${env!.PODMAN_SOCK}` };
    const user = `pk${process.pid}`;
    const req = () => spawnRequest(user);
    const first = new DockerSpawner(ctx, DockerSpawnerSchema.parse({ ...base, hosts: [dockerd, pod] }), { user, serverName: '' });
    started.push(first);
    await first.start(req());
    const kept = first.getState();
    expect(kept.host).toBe(dockerd.url);
    await first.stop();
    // podman is now listed first (and equally loaded): without the kept container it would win
    const second = new DockerSpawner(ctx, DockerSpawnerSchema.parse({ ...base, hosts: [pod, dockerd] }), { user, serverName: '' });
    started.push(second);
    await second.start(req());
    expect(second.getState()).toMatchObject({ host: dockerd.url, containerId: kept.containerId });
    await second.stop();
  });
});

describe.runIf(run)('docker spawner pulls from a private registry (dockerd)', () => {
  const runId = `private-${process.pid}`;
  const docker = new Docker({ socketPath: env?.DOCKER_SOCK ?? '' });
  const dir = mkdtempSync(join(tmpdir(), 'labhub-private-registry-'));
  let registry: ChildProcess | undefined;
  let addr = '';
  const PASSWORD = `reg-${process.pid}-secret`;

  beforeAll(async () => {
    // distribution's htpasswd auth (bcrypt), on a free loopback port, owned by this test
    writeFileSync(join(dir, 'htpasswd'), `labuser:${bcrypt.hashSync(PASSWORD, 8)}\n`);
    const port = await testPort();
    addr = `127.0.0.1:${port}`;
    writeFileSync(
      join(dir, 'config.yml'),
      `version: 0.1\nlog: { level: error }\nstorage: { filesystem: { rootdirectory: ${dir}/data } }\nhttp: { addr: "${addr}" }\nauth: { htpasswd: { realm: labhub-test, path: ${dir}/htpasswd } }\n`,
    );
    registry = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
    let status = 0;
    for (let i = 0; i < 100 && status !== 401; i++) {
      status = await fetch(`http://${addr}/v2/`).then((r) => r.status, () => 0);
      if (status !== 401) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(401);
    writeFileSync(join(dir, 'password'), `${PASSWORD}\n`, { mode: 0o600 });
  });

  afterAll(async () => {
    registry?.kill();
    await docker.getImage(`${addr}/private/bb:${runId}`).remove({ force: true }).catch(() => undefined);
    await cleanupTestObjects(docker, runId);
    expect(await leftovers(docker, runId)).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('without credentials the registry refusal is the failure; with registryAuth (passwordFile) it pulls', async () => {
    const ref = `${addr}/private/bb:${runId}`;
    const maker = await docker.createContainer({ Image: env!.LABHUB_TEST_IMAGE_BB, Cmd: ['sh', '-c', 'echo private > /marker'], Labels: { 'labhub.test': runId } });
    await maker.start();
    await maker.wait();
    await maker.commit({ repo: `${addr}/private/bb`, tag: runId });
    await maker.remove();
    const push = await docker.getImage(ref).push({ authconfig: { username: 'labuser', password: PASSWORD, serveraddress: addr } });
    await new Promise((resolve, reject) => docker.modem.followProgress(push, (err, out) => (err ? reject(err) : (out as Array<{ error?: string }>).find((e) => e.error) ? reject(new Error(JSON.stringify(out))) : resolve(null))));
    await docker.getImage(ref).remove();
    const base = {
      kind: 'docker',
      hosts: [{ url: `unix://${env!.DOCKER_SOCK}` }],
      image: ref,
      cmd: ['httpd', '-f', '-p', '8888', '-h', '/www'],
      labels: { 'labhub.test': runId },
      home: { type: 'none' },
      stopTimeoutSeconds: 1,
    };
    const ctx = { dataDir: '/nonexistent', log, hubId: runId };
    const req = spawnRequest;
    const anon = new DockerSpawner(ctx, DockerSpawnerSchema.parse(base), { user: `pa${process.pid}`, serverName: '' });
    const err = await anon.start(req(`pa${process.pid}`)).catch((e: unknown) => e as SpawnFailure);
    expect(err).toBeInstanceOf(SpawnFailure);
    expect((err as SpawnFailure).message).toMatch(/^Pulling .* failed: .*(auth|unauthorized|credentials)/i);
    const opts = DockerSpawnerSchema.parse({ ...base, registryAuth: { [addr]: { username: 'labuser', passwordFile: join(dir, 'password') } } });
    const events: ProgressEvent[] = [];
    const s = new DockerSpawner(ctx, opts, { user: `pb${process.pid}`, serverName: '' });
    await s.start(req(`pb${process.pid}`, events));
    expect(events.map((e) => e.message)).toContain(`Pulled ${ref}`);
    expect(JSON.stringify(await docker.getContainer(String(s.getState().containerId)).inspect())).not.toContain(PASSWORD);
    await s.stop();
  });
});
