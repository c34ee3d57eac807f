/**
 * The apptainer spawner against the shared spawner contract and its own specifics.
 *
 * Apptainer itself is NOT installed here (not in Debian 12, not on npm): `binary` points at
 * test/fakes/fake-apptainer.mjs, a clearly labelled STAND-IN that checks and interprets the same
 * `exec` arguments and environment rules and then runs the command directly. What these tests prove
 * is the spawner's side: argv construction, environment hand-off (token never on a command line),
 * lifecycle (process group, state, restart re-attach, stop). Nothing here proves real Apptainer accepts
 * the argv; see docs/hpc.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApptainerSpawnerSchema } from '../../spawners/apptainer-options.js';
import { ApptainerSpawner, apptainerExecArgv, envPrefixFor } from '../../spawners/apptainer.js';
import { SpawnFailure } from '../../spawners/spawn-failure.js';
import { lookupSystemUser } from '../../spawners/system-user.js';
import { buildSingleUserEnv, serverPrefix } from '../../hub/env.js';
import { runSpawnerContract } from './spawner.contract.js';

const FAKES = resolve(import.meta.dirname, '..', 'fakes');
const FAKE_APPTAINER = join(FAKES, 'fake-apptainer.mjs');
const FAKE_SINGLEUSER = join(FAKES, 'fake-singleuser.mjs');
const dataDir = mkdtempSync(join(tmpdir(), 'labhub-apptainer-contract-'));
const image = join(dataDir, 'lab.sif');
writeFileSync(image, 'not really a SIF: the stand-in only checks that it exists\n');
const fakeLog = join(dataDir, 'fake-apptainer.log');
const log = { info() {}, warn() {}, error() {}, debug() {} };
const ctx = { dataDir, log, hubId: 'test' };
const TOKEN = 'tok'.repeat(12);
const options = ApptainerSpawnerSchema.parse({
  kind: 'apptainer',
  binary: FAKE_APPTAINER,
  image,
  cmd: [process.execPath, FAKE_SINGLEUSER],
  runAs: 'hub',
  bind: [`${dataDir}:/data`],
  stopGraceSeconds: 2,
});

const request = (id: { user: string; serverName: string }) => ({
  user: id.user,
  serverName: id.serverName,
  servicePrefix: serverPrefix(id.user, id.serverName),
  env: buildSingleUserEnv({ user: id.user, serverName: id.serverName, apiToken: TOKEN, hubApiUrl: 'http://127.0.0.1:1/hub/api' }),
  userOptions: {},
});

// The spawner gives the runtime a minimal environment, so the stand-in's log file is set by a tiny
// wrapper script used as `binary`.
const wrapperBin = join(dataDir, 'apptainer');
writeFileSync(wrapperBin, `#!/bin/sh\nFAKE_APPTAINER_LOG='${fakeLog}' exec '${FAKE_APPTAINER}' "$@"\n`, { mode: 0o755 });
const logged = { ...options, binary: wrapperBin };

runSpawnerContract({ name: 'apptainer (with the fake-apptainer STAND-IN, not real Apptainer)', create: (id, state) => new ApptainerSpawner(ctx, logged, id, state), request });
const instanceMode = { ...logged, mode: 'instance' as const };
runSpawnerContract({ name: 'apptainer instance mode (with the fake-apptainer STAND-IN, not real Apptainer)', create: (id, state) => new ApptainerSpawner(ctx, instanceMode, id, state), request });

function readLog(): Array<{ pid: number; argv: string[]; binds: string[]; flags: string[]; image: string; cmd: string[]; envNames: string[] }> {
  if (!existsSync(fakeLog)) return [];
  return readFileSync(fakeLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** Opens the web terminal, runs one line, returns what the pty printed; then exits the shell. */
async function terminalRun(s: ApptainerSpawner, line: string, until: RegExp): Promise<string> {
  const term = await s.terminal({ cols: 90, rows: 25 });
  let out = '';
  term.onData((d) => (out += d));
  const exited = new Promise<number | null>((r) => term.onExit(r));
  term.write(`${line}\r`);
  for (let i = 0; i < 100 && !until.test(out); i++) await new Promise((r) => setTimeout(r, 100));
  term.write('exit\r');
  expect(await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 10_000))])).not.toBe('timeout');
  return out;
}

/** Starts a server, runs `fn` with it, and always stops it. */
async function withServer<T>(opts: typeof logged, user: string, fn: (s: ApptainerSpawner) => Promise<T>, limits?: { memBytes?: number; cpus?: number }): Promise<T> {
  const s = new ApptainerSpawner(ctx, opts, { user, serverName: '' });
  await s.start({ ...request({ user, serverName: '' }), limits, signal: AbortSignal.timeout(10_000) });
  try {
    return await fn(s);
  } finally {
    await s.stop();
  }
}

describe('apptainer argv construction (pure)', () => {
  it('builds exec with cleanenv/contain/nv, binds home and extra paths, and hides secrets from argv', () => {
    const run = ApptainerSpawnerSchema.parse({ kind: 'apptainer', image: 'docker://quay.io/jupyter/base-notebook:latest', nv: true, contain: true, bind: ['/shared/{username}:/data:ro', '/scratch'], extraArgs: ['--no-home'] });
    const env = buildSingleUserEnv({ user: 'alice', serverName: '', apiToken: TOKEN, hubApiUrl: 'http://hub:8081/hub/api' });
    const { args, hiddenEnv } = apptainerExecArgv({ run, username: 'alice', home: '/home/alice', env, extraCmdArgs: ['--allow-root'] });
    expect(args.slice(0, 4)).toEqual(['exec', '--cleanenv', '--contain', '--nv']);
    expect(args).toEqual(expect.arrayContaining(['--bind', '/home/alice', '--bind', '/shared/alice:/data:ro', '--bind', '/scratch', '--pwd', '/home/alice']));
    expect(args).toContain('--env');
    expect(args).toContain('JUPYTERHUB_USER=alice');
    expect(args.slice(-4)).toEqual(['--no-home', 'docker://quay.io/jupyter/base-notebook:latest', 'jupyterhub-singleuser', '--allow-root']);
    expect(args.join(' ')).not.toContain(TOKEN);
    expect(hiddenEnv.APPTAINERENV_JUPYTERHUB_API_TOKEN).toBe(TOKEN);
    expect(hiddenEnv.APPTAINERENV_JPY_API_TOKEN).toBe(TOKEN);
    // JSON lists contain commas, which `--env a=b,c=d` would split: they travel hidden too
    expect(hiddenEnv.APPTAINERENV_JUPYTERHUB_OAUTH_ACCESS_SCOPES).toContain(',');
    expect(envPrefixFor('/opt/bin/singularity')).toBe('SINGULARITYENV_');
    expect(envPrefixFor('apptainer')).toBe('APPTAINERENV_');
  });
});

describe('apptainer spawner with the stand-in', () => {
  it('the token reaches the server but is on no command line; binds and image are passed', async () => {
    const id = { user: 'argvcheck', serverName: '' };
    const s = new ApptainerSpawner(ctx, logged, id);
    const { url } = await s.start({ ...request(id), signal: AbortSignal.timeout(10_000) });
    try {
      let body: Record<string, string> | undefined;
      for (let i = 0; i < 50 && !body; i++) {
        body = await fetch(`${url}/user/argvcheck/whoami`).then((r) => r.json() as Promise<Record<string, string>>).catch(() => undefined);
        if (!body) await new Promise((r) => setTimeout(r, 100));
      }
      const home = join(dataDir, 'homes', 'argvcheck');
      expect(body).toMatchObject({ user: 'argvcheck', home, cwd: home });
      const entry = readLog().find((e) => e.argv.includes('JUPYTERHUB_USER=argvcheck'));
      expect(entry).toBeDefined();
      expect(entry!.image).toBe(image);
      expect(entry!.binds).toEqual([home, dataDir + ':/data']);
      expect(entry!.flags).toContain('--cleanenv');
      expect(entry!.envNames).toEqual(expect.arrayContaining(['JUPYTERHUB_API_TOKEN', 'JUPYTERHUB_SERVICE_URL', 'JUPYTERHUB_OAUTH_ACCESS_SCOPES']));
      expect(entry!.envNames).not.toContain('FAKE_APPTAINER_LOG'); // --cleanenv: host env stays out
      // no process of this server shows the token on its command line (what `ps` shows)
      const pid = s.getState().pid as number;
      const cmdlines = [pid, entry!.pid].map((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8'));
      for (const c of cmdlines) expect(c).not.toContain(TOKEN);
      expect(cmdlines.join(' ')).toContain('exec');
    } finally {
      await s.stop();
    }
  });

  it('web terminal: a login shell in a container of the same image, binds and home, on a pty', async () => {
    const s = await withServer(logged, 'termuser', async (s) => {
      const before = readLog().length;
      const out = await terminalRun(s, 'echo "[$JUPYTERHUB_USER|$HOME|$PWD|$TERM]"; stty size', /\[termuser\|.*\]\s[\s\S]*25 90/);
      const home = join(dataDir, 'homes', 'termuser');
      expect(out).toContain(`[termuser|${home}|${home}|xterm-256color]`);
      expect(out).toMatch(/25 90/);
      const entry = readLog().slice(before).find((e) => e.cmd?.[0] === '/bin/bash');
      expect(entry?.cmd, 'the shell went through apptainer exec').toEqual(['/bin/bash', '-l']);
      expect(entry!.argv[0]).toBe('exec');
      expect(entry!.image).toBe(image);
      expect(entry!.binds).toEqual([home, dataDir + ':/data']);
      expect(entry!.envNames).not.toContain('JUPYTERHUB_API_TOKEN'); // the shell gets no server token
      return s;
    });
    await expect(s.terminal({ cols: 80, rows: 24 })).rejects.toThrow(/not running/);
  });

  it('web terminal, instance mode: the shell is exec\'d into the server\'s own instance', async () => {
    await withServer(instanceMode, 'terminst', async (s) => {
      const before = readLog().length;
      const out = await terminalRun(s, 'echo "[$JUPYTERHUB_USER]"', /\[terminst\]/);
      expect(out).toContain('[terminst]');
      const entry = readLog().slice(before).find((e) => e.cmd?.[0] === '/bin/bash');
      expect(entry?.argv).toContain('instance://labhub-terminst');
      expect(entry!.argv).not.toContain('--bind'); // the instance has them
    });
  });

  it("a profile's CPU/memory limits become --memory/--cpus: on exec, and on instance start in instance mode", async () => {
    type Entry = { argv: string[]; limits?: Record<string, string>; instanceStart?: string; cmd?: string[] };
    /** The stand-in's log lines since `before`, once the server's own exec line is there (it logs when it runs). */
    const entriesSince = async (before: number): Promise<Entry[]> => {
      let entries: Entry[] = [];
      for (let i = 0; i < 100 && !entries.some((e) => e.cmd?.length); i++) {
        entries = readLog().slice(before) as Entry[];
        if (!entries.some((e) => e.cmd?.length)) await new Promise((r) => setTimeout(r, 50));
      }
      expect(entries.some((e) => e.cmd?.length), 'the server was exec\'d').toBe(true);
      return entries;
    };
    const limits = { memBytes: 512 * 1024 * 1024, cpus: 1.5 };
    for (const [mode, opts] of [['exec', logged], ['instance', instanceMode]] as const) {
      const before = readLog().length;
      const entries = await withServer(opts, `lim${mode}`, () => entriesSince(before), limits);
      const withLimits = entries.filter((e) => e.limits && Object.keys(e.limits).length);
      expect(withLimits, `${mode}: ${JSON.stringify(entries)}`).toHaveLength(1);
      expect(withLimits[0].limits).toEqual({ memory: String(512 * 1024 * 1024), cpus: '1.5' });
      if (mode === 'instance') expect(withLimits[0].instanceStart).toBe(`labhub-lim${mode}`); // fixed for the instance, not per exec
      else expect(withLimits[0].argv[0]).toBe('exec');
    }
    // no limits in the profile: the server's exec carries no flags
    const before = readLog().length;
    const entries = await withServer(logged, 'nolimits', () => entriesSince(before));
    const exec = entries.find((e) => e.cmd?.length)!;
    expect(exec.argv[0]).toBe('exec');
    expect(exec.argv).not.toContain('--memory');
    expect(exec.argv).not.toContain('--cpus');
  });

  it("instance mode: 'instance start' gets the container flags, the server is exec'd into instance://NAME, stop stops the instance", async () => {
    const id = { user: 'inst', serverName: 'lab' };
    const s = new ApptainerSpawner(ctx, instanceMode, id);
    const { url } = await s.start({ ...request(id), signal: AbortSignal.timeout(10_000) });
    try {
      expect(await fetch(`${url}/user/inst/lab/api`).then((r) => r.status, () => 0).then(async (st) => {
        for (let i = 0; i < 50 && st !== 200; i++) {
          await new Promise((r) => setTimeout(r, 100));
          st = await fetch(`${url}/user/inst/lab/api`).then((r) => r.status, () => 0);
        }
        return st;
      })).toBe(200);
      const started = readLog();
      const startEntry = started.find((e) => (e as { instanceStart?: string }).instanceStart === 'labhub-inst-lab');
      expect(startEntry, JSON.stringify(started.slice(-3))).toBeDefined();
      expect(startEntry!.argv.slice(0, 2)).toEqual(['instance', 'start']);
      expect(startEntry!.argv.slice(-2)).toEqual([image, 'labhub-inst-lab']);
      expect(startEntry!.binds).toEqual([join(dataDir, 'homes', 'inst'), `${dataDir}:/data`]);
      const execEntry = started.find((e) => e.argv.includes('instance://labhub-inst-lab'));
      expect(execEntry!.argv[0]).toBe('exec');
      expect(execEntry!.argv).not.toContain('--bind'); // fixed at instance start
      expect(execEntry!.argv.join(' ')).not.toContain(TOKEN);
      expect(s.getState()).toMatchObject({ instance: 'labhub-inst-lab' });
    } finally {
      await s.stop();
    }
    const entries = readLog();
    expect(entries.some((e) => (e as { instanceStop?: string }).instanceStop === 'labhub-inst-lab')).toBe(true);
    const list = JSON.parse(execFileSync(FAKE_APPTAINER, ['instance', 'list', '--json'], { encoding: 'utf8' })) as { instances: Array<{ instance: string }> };
    expect(list.instances.map((x) => x.instance)).not.toContain('labhub-inst-lab');
  });

  it('instance mode: cancelled while `instance start` runs (slow pull) → no instance and no server left', async () => {
    const slowBin = join(dataDir, 'apptainer-slow');
    writeFileSync(slowBin, `#!/bin/sh\nFAKE_APPTAINER_START_DELAY_MS=1500 FAKE_APPTAINER_LOG='${fakeLog}' exec '${FAKE_APPTAINER}' "$@"\n`, { mode: 0o755 });
    const s = new ApptainerSpawner(ctx, { ...instanceMode, binary: slowBin }, { user: 'instcancel', serverName: '' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const err = await s.start({ ...request({ user: 'instcancel', serverName: '' }), signal: ac.signal }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/Spawn cancelled \(instance labhub-instcancel stopped\)/);
    expect(s.getState()).toEqual({});
    const list = JSON.parse(execFileSync(FAKE_APPTAINER, ['instance', 'list', '--json'], { encoding: 'utf8' })) as { instances: Array<{ instance: string }> };
    expect(list.instances.map((x) => x.instance)).not.toContain('labhub-instcancel');
    expect(readLog().some((e) => e.argv.includes('instance://labhub-instcancel'))).toBe(false); // the server was never exec'd
  });

  it('instance mode: a failing instance start (missing bind source) is a clear spawn error and leaves nothing running', async () => {
    const s = new ApptainerSpawner(ctx, { ...instanceMode, bind: ['/nonexistent/src:/x'] }, { user: 'instfail', serverName: '' });
    const err = await s.start({ ...request({ user: 'instfail', serverName: '' }), signal: AbortSignal.timeout(10_000) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpawnFailure);
    expect((err as Error).message).toMatch(/instance start failed: .*mount source \/nonexistent\/src doesn't exist/);
    expect(s.getState()).toEqual({});
  });

  it('a missing image fails the way apptainer does and the output is kept for the error page', async () => {
    const bad = { ...logged, image: join(dataDir, 'missing.sif') };
    const s = new ApptainerSpawner(ctx, bad, { user: 'noimage', serverName: '' });
    await s.start({ ...request({ user: 'noimage', serverName: '' }), signal: AbortSignal.timeout(10_000) });
    // the exit code arrives with the child's 'exit' event, a moment after /proc shows it gone
    let poll = await s.poll();
    for (let i = 0; i < 200 && (poll.status === 'running' || poll.exitCode === null); i++) {
      await new Promise((r) => setTimeout(r, 100));
      poll = await s.poll();
    }
    expect(poll).toMatchObject({ status: 'stopped', exitCode: 255 });
    expect(s.recentLogs().join('\n')).toContain('could not open image');
    await s.stop();
  });

  it('rejects a malformed image reference and a missing binary with clear errors', async () => {
    const s1 = new ApptainerSpawner(ctx, { ...logged, image: 'not an image' }, { user: 'badref', serverName: '' });
    await expect(s1.start({ ...request({ user: 'badref', serverName: '' }), signal: AbortSignal.timeout(5000) })).rejects.toThrow(/invalid image/);
    const s2 = new ApptainerSpawner(ctx, { ...logged, binary: '/nonexistent/apptainer' }, { user: 'nobin', serverName: '' });
    const err = await s2.start({ ...request({ user: 'nobin', serverName: '' }), signal: AbortSignal.timeout(5000) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpawnFailure);
    expect((err as Error).message).toMatch(/could not start \/nonexistent\/apptainer.*ENOENT/);
  });

  it("runAs 'user' for an account that does not exist is refused before anything runs", async () => {
    const s = new ApptainerSpawner(ctx, { ...logged, runAs: 'user' }, { user: 'no-such-account-xyz', serverName: '' }, undefined, true);
    await expect(s.start({ ...request({ user: 'no-such-account-xyz', serverName: '' }), signal: AbortSignal.timeout(5000) })).rejects.toThrow(/no system account 'no-such-account-xyz'/);
  });
});

describe("apptainer spawner: runAs 'user' (runuser, real system account from test/setup/slurm.sh)", () => {
  const su = lookupSystemUser('labhubhpc');
  const missing = su ? '' : "system account 'labhubhpc' missing: run test/setup/slurm.sh as root";
  if (missing && process.env.CI !== 'true') console.warn(`[apptainer runAs user] SKIPPED: ${missing}`);
  const maybe = missing && process.env.CI !== 'true' ? it.skip : it;
  maybe('the runtime and the server run as the account, in its home (owned by it), with the token hidden', async () => {
    if (!su) throw new Error(missing);
    // everything the account must reach lives in a world-traversable directory
    const base = mkdtempSync(join('/tmp/labhub-ci', 'apptainer-runas-'));
    chmodSync(base, 0o755);
    const img = join(base, 'lab.sif');
    writeFileSync(img, 'stand-in image\n', { mode: 0o644 });
    const bin = join(base, 'apptainer');
    writeFileSync(bin, `#!/bin/sh\nexec '${FAKE_APPTAINER}' "$@"\n`, { mode: 0o755 });
    const o = { ...options, binary: bin, image: img, bind: [], homeTemplate: `${base}/homes/{username}`, runAs: 'user' as const };
    mkdirSync(join(base, 'homes'), { mode: 0o755 });
    const id = { user: 'labhubhpc', serverName: '' };
    const s = new ApptainerSpawner(ctx, o, id, undefined, true);
    const { url } = await s.start({ ...request(id), signal: AbortSignal.timeout(10_000) });
    try {
      let body: Record<string, string> | undefined;
      for (let i = 0; i < 50 && !body; i++) {
        body = await fetch(`${url}/user/labhubhpc/whoami`).then((r) => r.json() as Promise<Record<string, string>>).catch(() => undefined);
        if (!body) await new Promise((r) => setTimeout(r, 100));
      }
      const home = join(base, 'homes', 'labhubhpc');
      expect(body).toMatchObject({ user: 'labhubhpc', home, cwd: home });
      expect(statSync(home).uid).toBe(su.uid);
      const pids = execFileSync('pgrep', ['-u', 'labhubhpc', '-f', 'fake-singleuser'], { encoding: 'utf8' }).trim().split('\n').map(Number);
      expect(pids.length).toBeGreaterThan(0);
      for (const pid of pids) expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(TOKEN);
      // the process the hub started is runuser (root), its child runs as the account
      expect(readFileSync(`/proc/${s.getState().pid as number}/cmdline`, 'utf8').split('\0').slice(0, 4)).toEqual(['runuser', '-u', 'labhubhpc', '--']);
      // the web terminal's shell runs as the account too
      expect(await terminalRun(s, 'echo "[who=$(id -un)]"', /\[who=\w+\]/)).toContain('[who=labhubhpc]');
    } finally {
      await s.stop();
      rmSync(base, { recursive: true, force: true });
    }
    expect(spawnSync('pgrep', ['-u', 'labhubhpc', '-f', 'fake-singleuser', '-c'], { encoding: 'utf8' }).stdout.trim()).toBe('0'); // all gone after stop
  });
});
