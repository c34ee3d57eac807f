/**
 * The Slurm spawner against the shared spawner contract and its own specifics, on the REAL one-node
 * Slurm cluster from test/setup/slurm.sh (slurmctld + slurmd + munge). A tiny HTTP endpoint in this
 * file plays the hub's POST /hub/api/batchspawner (the hub-side handler is exercised end to end in
 * test/integration/slurm-hub.test.ts); the job runs the real wrapper spawners/scripts/labhub-batch-singleuser
 * and test/fakes/fake-singleuser.mjs as the server.
 */
import { createServer, type Server } from 'node:http';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { lookup } from 'node:dns/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatSlurmTime, parseSlurmTime, SlurmSpawnerSchema, type SlurmSpawnerConfig } from '../../spawners/slurm-options.js';
import { ConfigSchema } from '../../config/schema.js';
import { envFileContent, renderBatchScript, resolveJobRequest, SlurmSpawner, sbatchDirectives } from '../../spawners/slurm.js';
import { sshArgv } from '../../spawners/slurm-commands.js';
import type { ProgressEvent, SpawnRequest } from '../../spawners/spawner.js';
import { SpawnFailure } from '../../spawners/spawn-failure.js';
import { lookupSystemUser } from '../../spawners/system-user.js';
import { buildSingleUserEnv, serverPrefix } from '../../hub/env.js';
import { runSpawnerContract } from './spawner.contract.js';
import { holdQueue, jobState, loadSlurmEnv, slurmCmd } from '../helpers/slurm-env.js';

const FAKE_SINGLEUSER = resolve(import.meta.dirname, '..', 'fakes', 'fake-singleuser.mjs');
const FAKE_APPTAINER = resolve(import.meta.dirname, '..', 'fakes', 'fake-apptainer.mjs'); // STAND-IN, not Apptainer
const { env: slurm, reason } = loadSlurmEnv();
const dataDir = mkdtempSync(join(tmpdir(), 'labhub-slurm-contract-'));
const logs: Array<{ level: string; obj: unknown; msg?: string }> = [];
const rec = (level: string) => (obj: unknown, msg?: string) => void logs.push({ level, obj, msg });
const ctx = { dataDir, log: { info: rec('info'), warn: rec('warn'), error: rec('error'), debug() {} }, hubId: 'test' };

function options(extra: Record<string, unknown> = {}): SlurmSpawnerConfig {
  return SlurmSpawnerSchema.parse({
    kind: 'slurm',
    workload: { kind: 'local', cmd: [process.execPath, FAKE_SINGLEUSER] },
    runAs: 'hub',
    bindIp: '127.0.0.1',
    time: '00:10:00',
    queuePollSeconds: 0.5,
    commandEnv: { SLURM_CONF: slurm?.SLURM_CONF ?? '' },
    ...extra,
  });
}

// --- a stand-in for the hub's address-report endpoint (token → waiting spawn) ---
const waiting = new Map<string, (a: { host: string; port: number }) => void>();
let hubApi = '';
let reportServer: Server | undefined;
let n = 0;

function request(id: { user: string; serverName: string }, userOptions: Record<string, unknown> = {}, progress?: ProgressEvent[]): Omit<SpawnRequest, 'signal'> {
  const token = `tok${process.pid}x${n++}${'t'.repeat(24)}`;
  return {
    user: id.user,
    serverName: id.serverName,
    servicePrefix: serverPrefix(id.user, id.serverName),
    env: buildSingleUserEnv({ user: id.user, serverName: id.serverName, apiToken: token, hubApiUrl: hubApi }),
    userOptions,
    onProgress: progress ? (e) => progress.push(e) : undefined,
    waitForAddressReport: (signal) =>
      new Promise((res, rej) => {
        waiting.set(token, res);
        signal.addEventListener('abort', () => rej(new Error('aborted')), { once: true });
      }),
  };
}

async function startReportServer(): Promise<void> {
  reportServer = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const token = /^token (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const w = waiting.get(token);
      if (req.method !== 'POST' || req.url !== '/hub/api/batchspawner' || !w) return void res.writeHead(409).end('{}');
      waiting.delete(token);
      const b = JSON.parse(body) as { port: number; host?: string };
      w({ host: b.host ?? (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''), port: b.port });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => reportServer!.listen(0, '127.0.0.1', r));
  const addr = reportServer.address();
  hubApi = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hub/api`;
}

async function waitUp(url: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const status = await fetch(url).then((r) => r.status, () => 0);
    if (status) return status;
    await new Promise((r) => setTimeout(r, 100));
  }
  return 0;
}

const started: SlurmSpawner[] = [];
const track = (s: SlurmSpawner) => (started.push(s), s);

if (!slurm) {
  if (process.env.CI === 'true') {
    describe('slurm spawner', () => {
      it('needs the Slurm test cluster (CI=true: not skipped)', () => {
        throw new Error(`Slurm test cluster unavailable: ${reason}`);
      });
    });
  } else {
    console.warn(`[slurm contract] SKIPPED: ${reason}`);
    describe.skip(`slurm spawner (skipped: ${reason})`, () => it('needs slurm', () => undefined));
  }
} else {
  const s = slurm;
  beforeAll(startReportServer);
  afterAll(async () => {
    await Promise.allSettled(started.map((x) => x.stop({ now: true })));
    await new Promise<void>((r) => (reportServer ? reportServer.close(() => r()) : r()));
  });

  runSpawnerContract({
    name: 'slurm (real one-node cluster)',
    create: (id, state) => track(new SlurmSpawner(ctx, options(), id, state)),
    request: (id) => request(id),
    startTimeoutMs: 45_000,
  });

  describe('slurm spawner specifics (real cluster)', () => {
    it('progress: queued (position, reason) → running on node → starting server; wall time shown; token never in Slurm', async () => {
      const id = { user: 'progress', serverName: '' };
      const events: ProgressEvent[] = [];
      // --begin keeps the job PENDING (reason BeginTime) for a few seconds: the queue phase is observable
      const sp = track(new SlurmSpawner(ctx, options({ extraDirectives: ['--begin=now+4'] }), id));
      const req = request(id, { time: '30' }, events);
      const { url } = await sp.start({ ...req, signal: AbortSignal.timeout(45_000) });
      const msgs = events.map((e) => e.message);
      const iQueued = msgs.findIndex((m) => /queued \(position \d+, reason BeginTime\)/.test(m));
      const iRunning = msgs.findIndex((m) => /running on node \S+ \(time limit 00:30:00, ends \d{4}-/.test(m));
      const iStarting = msgs.indexOf('starting server');
      expect(iQueued, msgs.join('\n')).toBeGreaterThan(0);
      expect(iRunning).toBeGreaterThan(iQueued);
      expect(iStarting).toBeGreaterThan(iRunning);
      expect(msgs[0]).toContain('time 00:30:00');
      expect(await waitUp(`${url}${req.servicePrefix}api`)).toBe(200); // the wrapper reports before the server listens
      const state = sp.getState() as { jobId: string; envFile: string; logFile: string };
      const token = req.env.JUPYTERHUB_API_TOKEN;
      // the token is in no Slurm record, and the env file was deleted by the job
      expect(slurmCmd(s, ['scontrol', 'show', 'job', '-dd', state.jobId])).not.toContain(token);
      const script = slurmCmd(s, ['scontrol', 'write', 'batch_script', state.jobId, '-']);
      expect(script).toContain('labhub-batch-singleuser');
      expect(script).not.toContain(token);
      expect(existsSync(state.envFile)).toBe(false);
      // no process on this machine shows the token on its command line (what `ps` shows)
      for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
        let cmdline = '';
        try {
          cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        } catch {
          continue;
        }
        expect(cmdline, `pid ${pid}`).not.toContain(token);
      }
      expect(readdirSync(join(dataDir, 'homes', 'progress', '.labhub')).filter((f) => f.endsWith('.env'))).toEqual([]);
      expect(readFileSync(state.logFile, 'utf8')).toContain('reported port');
      await sp.stop();
      expect(['CANCELLED', 'COMPLETED', '']).toContain(jobState(s, state.jobId));
    });

    it('a job cancelled while queued: start rejects, stop scancels, nothing left', async () => {
      const resv = `labhub-test-${process.pid}`;
      const release = await holdQueue(s, resv);
      try {
        const id = { user: 'queued', serverName: '' };
        const events: ProgressEvent[] = [];
        const sp = track(new SlurmSpawner(ctx, options(), id));
        const ac = new AbortController();
        const p = sp.start({ ...request(id, { reservation: resv }, events), signal: ac.signal });
        for (let i = 0; i < 100 && !events.some((e) => e.message.includes('reason Reservation')); i++) await new Promise((r) => setTimeout(r, 100));
        expect(events.map((e) => e.message).join('\n')).toMatch(/queued \(position \d+, reason Reservation\)/);
        const jobId = (sp.getState() as { jobId: string }).jobId;
        expect(jobState(s, jobId)).toBe('PENDING');
        ac.abort();
        await expect(p).rejects.toThrow(/cancelled/i);
        await sp.stop();
        expect(jobState(s, jobId)).toBe('CANCELLED');
        expect(sp.getState()).toEqual({});
      } finally {
        release();
      }
    });

    it('cancelled while sbatch runs: the job just submitted is scancelled by start itself, nothing is left', async () => {
      const id = { user: 'racecancel', serverName: '' };
      const sp = track(new SlurmSpawner(ctx, options({ extraDirectives: ['--begin=now+30'] }), id));
      const ac = new AbortController();
      const req = request(id);
      let wroteEnv = false;
      // abort right after the env file is written, i.e. while sbatch is being started
      const p = sp.start({
        ...req,
        onProgress: (e) => {
          if (e.message.startsWith('Submitting')) setImmediate(() => setImmediate(() => ((wroteEnv = true), ac.abort())));
        },
        signal: ac.signal,
      });
      const err = await p.catch((e: unknown) => e);
      expect(wroteEnv).toBe(true);
      expect((err as Error).message).toMatch(/cancel/i);
      expect(sp.getState()).toEqual({});
      const ours = slurmCmd(s, ['squeue', '-h', '-t', 'PENDING,RUNNING', '-n', 'labhub-racecancel', '-o', '%i']).trim();
      expect(ours).toBe('');
      // a job was really submitted and then cancelled by start() itself
      expect(logs.some((l) => l.msg === 'slurm job cancelled' && (l.obj as { user: string }).user === 'racecancel')).toBe(true);
      expect((err as Error).message).toMatch(/Spawn cancelled \(job \d+ cancelled\)/);
    });

    it('a job left queued by a crashed hub (same job name, no state) is cancelled by the next start', async () => {
      const id = { user: 'orphan', serverName: '' };
      const orphan = slurmCmd(s, ['sbatch', '--parsable', '-J', 'labhub-orphan', '--begin=now+1hour', '-o', '/dev/null', '--wrap', 'sleep 600']).trim();
      const other = slurmCmd(s, ['sbatch', '--parsable', '-J', 'labhub-orphan-lab', '--begin=now+1hour', '-o', '/dev/null', '--wrap', 'sleep 600']).trim();
      try {
        expect(jobState(s, orphan)).toBe('PENDING');
        const events: ProgressEvent[] = [];
        const sp = track(new SlurmSpawner(ctx, options(), id));
        await sp.start({ ...request(id, {}, events), signal: AbortSignal.timeout(45_000) });
        expect(events.map((e) => e.message)).toContain(`Cancelled leftover job ${orphan} of an earlier, interrupted start`);
        expect(jobState(s, orphan)).toBe('CANCELLED');
        expect(jobState(s, other)).toBe('PENDING'); // another server's job (named server 'lab') is not touched
        await sp.stop();
      } finally {
        slurmCmd(s, ['scancel', orphan, other]);
      }
    });

    it("reportHost 'hostname': the hub routes to the node's name as the job reports it", async () => {
      const id = { user: 'byname', serverName: '' };
      const sp = track(new SlurmSpawner(ctx, options({ reportHost: 'hostname' }), id));
      const { url } = await sp.start({ ...request(id), signal: AbortSignal.timeout(45_000) });
      expect(new URL(url).hostname).toBe(hostname());
      expect(sp.getState()).toMatchObject({ host: hostname() });
      const resolvable = await lookup(hostname()).then((a) => a.address === '127.0.0.1', () => false);
      if (resolvable) expect(await waitUp(`${url}/user/byname/api`)).toBe(200); // the server binds 127.0.0.1 (bindIp)
      await sp.stop();
    });

    it('a job killed outside (scancel) → poll reports stopped with the job state', async () => {
      const id = { user: 'killed', serverName: '' };
      const sp = track(new SlurmSpawner(ctx, options(), id));
      await sp.start({ ...request(id), signal: AbortSignal.timeout(45_000) });
      const jobId = (sp.getState() as { jobId: string }).jobId;
      expect((await sp.poll()).status).toBe('running');
      slurmCmd(s, ['scancel', jobId]);
      let poll = await sp.poll();
      for (let i = 0; i < 60 && poll.status === 'running'; i++) {
        await new Promise((r) => setTimeout(r, 250));
        poll = await sp.poll();
      }
      expect(poll).toMatchObject({ status: 'stopped' });
      expect((poll as { reason: string }).reason).toMatch(new RegExp(`job ${jobId} (CANCELLED|COMPLETING|COMPLETED|is no longer known)`));
      await sp.stop();
    });

    it('web terminal: a shell inside the running job (srun --overlap --pty) runs commands on the node', async () => {
      const id = { user: 'term', serverName: '' };
      const sp = track(new SlurmSpawner(ctx, options(), id));
      await sp.start({ ...request(id), signal: AbortSignal.timeout(45_000) });
      const jobId = (sp.getState() as { jobId: string }).jobId;
      const term = await sp.terminal({ cols: 100, rows: 30 });
      let out = '';
      term.onData((d) => (out += d));
      const exited = new Promise<number | null>((r) => term.onExit(r));
      term.write('echo job=$SLURM_JOB_ID; stty size\r');
      for (let i = 0; i < 100 && !(out.includes(`job=${jobId}`) && /30 100/.test(out)); i++) await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain(`job=${jobId}`);
      expect(out).toMatch(/30 100/);
      term.write('exit\r');
      expect(await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 10_000))])).not.toBe('timeout');
      await sp.stop();
    });

    it('warns in the log before the job reaches its time limit', async () => {
      const id = { user: 'walltime', serverName: '' };
      const sp = track(new SlurmSpawner(ctx, options({ time: '3', warnBeforeEndMinutes: 5 }), id));
      await sp.start({ ...request(id), signal: AbortSignal.timeout(45_000) });
      const before = logs.length;
      expect((await sp.poll()).status).toBe('running');
      await sp.poll(); // warns once, not on every poll
      const warns = logs.slice(before).filter((l) => l.level === 'warn');
      expect(warns).toHaveLength(1);
      expect(warns[0].msg).toMatch(/reaches its time limit in \d+:\d+.*stopped at \d{4}-/);
      await sp.stop();
    });

    it('the job hits its time limit (1 min): warning first, then Slurm ends it and poll reports stopped (TIMEOUT)', { timeout: 200_000 }, async () => {
      const id = { user: 'timeout', serverName: '' };
      const sp = track(new SlurmSpawner(ctx, options({ time: '1', warnBeforeEndMinutes: 1 }), id));
      const { url } = await sp.start({ ...request(id), signal: AbortSignal.timeout(45_000) });
      const jobId = (sp.getState() as { jobId: string }).jobId;
      let poll = await sp.poll();
      for (let i = 0; i < 360 && poll.status === 'running'; i++) {
        await new Promise((r) => setTimeout(r, 500));
        poll = await sp.poll();
      }
      expect(poll).toMatchObject({ status: 'stopped' });
      expect((poll as { reason: string }).reason).toMatch(new RegExp(`job ${jobId} (TIMEOUT|COMPLETING)`));
      expect(logs.some((l) => l.level === 'warn' && String(l.msg).includes(`Slurm job ${jobId} reaches its time limit`))).toBe(true);
      await sp.stop();
      expect(jobState(s, jobId)).toBe('TIMEOUT');
      await expect(fetch(`${url}/user/timeout/api`)).rejects.toThrow();
    });

    it('bad input: unknown partition and time over the maximum are refused before sbatch; sbatch errors are reported verbatim', async () => {
      const strict = options({ partitions: { debug: { maxTime: '1:00:00' }, short: { maxTime: '00:30:00' } }, maxTime: '2:00:00' });
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ partition: 'gpu-huge' }, /Unknown partition 'gpu-huge': choose one of debug, short/],
        [{ partition: 'short', time: '1:00:00' }, /Time limit 01:00:00 is over the maximum 00:30:00 for partition short/],
        [{ time: '3:00:00' }, /Time limit 03:00:00 is over the maximum 02:00:00 allowed here/],
        [{ time: 'soon' }, /Invalid time limit 'soon'/],
        [{ cpus: 'many' }, /Invalid value for 'cpus'|Invalid number of cpus/],
        [{ account: 'other' }, /The option 'account' cannot be chosen here/],
        [{ partition: 'a b' }, /Invalid value for 'partition'/],
      ];
      for (const [uo, re] of cases) {
        const sp = new SlurmSpawner(ctx, strict, { user: 'badinput', serverName: '' });
        const events: ProgressEvent[] = [];
        const err = await sp.start({ ...request({ user: 'badinput', serverName: '' }, uo, events), signal: AbortSignal.timeout(10_000) }).catch((e: unknown) => e);
        expect(err, JSON.stringify(uo)).toBeInstanceOf(SpawnFailure);
        expect((err as Error).message).toMatch(re);
        expect(events).toEqual([]); // nothing submitted
        expect(sp.getState()).toEqual({});
      }
      // what only Slurm knows: a partition it does not have, a time over the partition's MaxTime
      const loose = options();
      for (const [uo, re] of [
        [{ partition: 'nope' }, /^sbatch failed: .*Invalid partition name specified/],
        [{ partition: 'short', time: '2:00:00' }, /^sbatch failed: .*Requested time limit is invalid/],
      ] as const) {
        const sp = new SlurmSpawner(ctx, loose, { user: 'sbatcherr', serverName: '' });
        const err = await sp.start({ ...request({ user: 'sbatcherr', serverName: '' }, uo), signal: AbortSignal.timeout(20_000) }).catch((e: unknown) => e);
        expect((err as Error).message).toMatch(re);
        expect((err as SpawnFailure).reason).toBe('sbatch');
        expect(sp.getState()).toEqual({});
      }
      expect(readdirSync(join(dataDir, 'homes', 'sbatcherr', '.labhub')).filter((f) => f.endsWith('.env'))).toEqual([]); // env file removed on failure
    });

    it('a server that exits at once: start fails with the job output', async () => {
      const id = { user: 'crash', serverName: '' };
      const sp = track(new SlurmSpawner(ctx, options({ workload: { kind: 'local', cmd: ['/nonexistent/server'] } }), id));
      const err = await sp.start({ ...request(id), signal: AbortSignal.timeout(45_000) }).catch((e: unknown) => e);
      // the wrapper reports first, so the hub may get the address; the server then never answers. Either the
      // report arrived (start resolves) or the job ended first: both must be visible, never a hang.
      if (err instanceof Error) expect(err.message).toMatch(/Batch job \d+ (completed|failed).*before the server started/i);
      else expect((await (async () => { for (let i = 0; i < 40; i++) { if ((await sp.poll()).status === 'stopped') return 'stopped'; await new Promise((r) => setTimeout(r, 250)); } return 'running'; })())).toBe('stopped');
      expect(sp.recentLogs().join('\n')).toContain('could not start /nonexistent/server');
      await sp.stop();
    });

    it('apptainer workload in the job (fake-apptainer STAND-IN): exec argv built on the node side, contract env via APPTAINERENV_, token on no command line', async () => {
      const id = { user: 'sifjob', serverName: '' };
      const image = join(dataDir, 'lab.sif');
      writeFileSync(image, 'stand-in image\n');
      const fakeLog = join(dataDir, 'fake-apptainer-slurm.log');
      const bin = join(dataDir, 'apptainer');
      writeFileSync(bin, `#!/bin/sh\nFAKE_APPTAINER_LOG='${fakeLog}' exec '${FAKE_APPTAINER}' "$@"\n`, { mode: 0o755 });
      const o = options({ workload: { kind: 'apptainer', binary: bin, image, cmd: [process.execPath, FAKE_SINGLEUSER], bind: [`${dataDir}:/data`] } });
      const sp = track(new SlurmSpawner(ctx, o, id));
      const req = request(id);
      const { url } = await sp.start({ ...req, signal: AbortSignal.timeout(45_000) });
      expect(await waitUp(`${url}${req.servicePrefix}api`)).toBe(200);
      const who = (await (await fetch(`${url}${req.servicePrefix}whoami`)).json()) as Record<string, string>;
      expect(who).toMatchObject({ user: 'sifjob', home: join(dataDir, 'homes', 'sifjob') });
      const entry = readFileSync(fakeLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { pid: number; argv: string[]; envNames: string[]; binds: string[]; image: string }).at(-1)!;
      expect(entry.image).toBe(image);
      expect(entry.argv[0]).toBe('exec');
      expect(entry.argv).toContain('--cleanenv');
      expect(entry.binds).toEqual([join(dataDir, 'homes', 'sifjob'), `${dataDir}:/data`]);
      // with --cleanenv only the APPTAINERENV_ copies reach the server, the service URL (picked on the node) included
      expect(entry.envNames).toEqual(expect.arrayContaining(['JUPYTERHUB_API_TOKEN', 'JUPYTERHUB_SERVICE_URL', 'JUPYTERHUB_SERVICE_PREFIX']));
      expect(entry.envNames).not.toContain('LABHUB_BIND_IP');
      expect(readFileSync(`/proc/${entry.pid}/cmdline`, 'utf8')).not.toContain(req.env.JUPYTERHUB_API_TOKEN);
      const jobId = (sp.getState() as { jobId: string }).jobId;
      expect(slurmCmd(s, ['scontrol', 'write', 'batch_script', jobId, '-'])).toContain(`${bin} exec --cleanenv`);
      await sp.stop();
    });

    it("runAs 'user': sbatch through runuser; env file 0600 owned by the account; job and server run as it (not root)", async () => {
      const su = lookupSystemUser(s.systemUser);
      expect(su, `system account ${s.systemUser} (created by test/setup/slurm.sh)`).not.toBeNull();
      const id = { user: s.systemUser, serverName: '' };
      const sp = track(new SlurmSpawner(ctx, options({ runAs: 'user', homeTemplate: `${s.homes}/{username}`, extraDirectives: ['--begin=now+8'] }), id));
      const req = request(id);
      const p = sp.start({ ...req, signal: AbortSignal.timeout(45_000) });
      p.catch(() => undefined);
      for (let i = 0; i < 100 && !(sp.getState() as { jobId?: string }).jobId; i++) await new Promise((r) => setTimeout(r, 50));
      const state = sp.getState() as { jobId: string; envFile: string };
      // while the job waits (BeginTime), the env file exists: the account's, mode 0600
      const st = statSync(state.envFile);
      expect(st.uid).toBe(su!.uid);
      expect(st.mode & 0o777).toBe(0o600);
      expect(slurmCmd(s, ['squeue', '-h', '-j', state.jobId, '-o', '%u']).trim()).toBe(s.systemUser);
      const { url } = await p;
      expect(await waitUp(`${url}${req.servicePrefix}api`)).toBe(200);
      expect(existsSync(state.envFile)).toBe(false);
      const pids = execFileSync('pgrep', ['-u', s.systemUser, '-f', 'fake-singleuser'], { encoding: 'utf8' }).trim().split('\n');
      expect(pids.length).toBeGreaterThan(0);
      await sp.stop();
      expect(['CANCELLED', 'COMPLETED', '']).toContain(jobState(s, state.jobId));
    });

    it('the hub refuses the address report → the job ends and start fails with the wrapper\'s message', async () => {
      const id = { user: 'refused', serverName: '' };
      const sp = track(new SlurmSpawner(ctx, options(), id));
      const req = request(id);
      // a token the stand-in hub does not know: it answers 409 like LabHub does for a server not waiting
      const bad = { ...req, env: { ...req.env, JUPYTERHUB_API_TOKEN: 'not-a-known-token' } };
      const err = await sp.start({ ...bad, signal: AbortSignal.timeout(45_000) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SpawnFailure);
      expect((err as Error).message).toMatch(/Batch job \d+ failed.*could not report the address to the hub: hub answered 409/);
      await sp.stop();
    });

    it('SSH mode: the same lifecycle with sbatch/squeue/scancel run through ssh to 127.0.0.1 (real sshd, key auth)', async () => {
      const id = { user: 'viassh', serverName: '' };
      const viaSsh = options({ ssh: { host: s.sshHost, port: s.sshPort, user: s.sshUser, keyFile: s.sshKey, knownHostsFile: s.sshKnownHosts } });
      const events: ProgressEvent[] = [];
      const sp = track(new SlurmSpawner(ctx, viaSsh, id));
      const req = request(id, {}, events);
      const { url } = await sp.start({ ...req, signal: AbortSignal.timeout(45_000) });
      expect(events[0].message).toContain(`via ${s.sshUser}@${s.sshHost}:${s.sshPort}`);
      expect(await waitUp(`${url}${req.servicePrefix}api`)).toBe(200);
      const jobId = (sp.getState() as { jobId: string }).jobId;
      const revived = track(new SlurmSpawner(ctx, viaSsh, id, JSON.parse(JSON.stringify(sp.getState()))));
      expect((await revived.poll()).status).toBe('running');
      await revived.stop();
      expect(['CANCELLED', 'COMPLETED', '']).toContain(jobState(s, jobId));
      // a wrong key is a clear error, not a hang
      const bad = new SlurmSpawner(ctx, options({ ssh: { host: s.sshHost, port: s.sshPort, user: s.sshUser, keyFile: '/nonexistent/key', knownHostsFile: s.sshKnownHosts } }), { user: 'badkey', serverName: '' });
      await expect(bad.start({ ...request({ user: 'badkey', serverName: '' }), signal: AbortSignal.timeout(20_000) })).rejects.toThrow(/could not write the job's environment file[\s\S]*Permission denied/);
    });
  });
}

describe('slurm command construction (pure)', () => {
  it('renders #SBATCH directives from options and user options', () => {
    const o = SlurmSpawnerSchema.parse({ kind: 'slurm', partition: 'gpu', account: 'proj1', qos: 'high', memory: '8G', cpus: 4, gpus: 1, userOptionKeys: ['time', 'gres'], extraDirectives: ['--constraint=ib'] });
    const job = resolveJobRequest(o, { time: '2-00:00:00', gres: 'gpu:a100:2', colour: 'ignored-unknown-key' });
    const d = sbatchDirectives(job, { jobName: 'labhub-alice', comment: 'labhub:0a1b2c:alice:', output: '/h/.labhub/x-%j.log', chdir: '/h', directives: o.extraDirectives });
    expect(d).toEqual([
      '#SBATCH --job-name=labhub-alice',
      '#SBATCH --comment=labhub:0a1b2c:alice:',
      '#SBATCH --output=/h/.labhub/x-%j.log',
      '#SBATCH --chdir=/h',
      '#SBATCH --time=2-00:00:00',
      '#SBATCH --partition=gpu',
      '#SBATCH --account=proj1',
      '#SBATCH --qos=high',
      '#SBATCH --mem=8G',
      '#SBATCH --cpus-per-task=4',
      '#SBATCH --gres=gpu:a100:2',
      '#SBATCH --constraint=ib',
    ]);
  });

  it('parses and formats Slurm times; validates the whole spawner config through the hub config schema', () => {
    expect(parseSlurmTime('90')).toBe(5400);
    expect(parseSlurmTime('1:30')).toBe(90);
    expect(parseSlurmTime('2:00:00')).toBe(7200);
    expect(parseSlurmTime('1-12')).toBe(129600);
    expect(parseSlurmTime('1-00:00:30')).toBe(86430);
    expect(parseSlurmTime('soon')).toBeNull();
    expect(formatSlurmTime(86430)).toBe('1-00:00:30');
    expect(formatSlurmTime(5400)).toBe('01:30:00');
    const bad = ConfigSchema.safeParse({ spawner: { kind: 'slurm', time: 'soon', partition: 'a b', workload: { kind: 'apptainer' } } });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['spawner.time', 'spawner.partition', 'spawner.workload.image']));
    const good = ConfigSchema.parse({ spawner: { kind: 'slurm', workload: { kind: 'apptainer', image: 'docker://x/y:1' } } });
    expect(good.spawner).toMatchObject({ kind: 'slurm', time: '8:00:00', runAs: 'auto', workload: { kind: 'apptainer', binary: 'apptainer', cleanenv: true } });
  });

  it('renders a custom batch script template; unknown placeholders stay as they are', () => {
    const out = renderBatchScript('#!/bin/sh\n{{directives}}\n. {{envFile}}\n{{prologue}}\n{{command}}\n{{nope}}\n', { directives: '#SBATCH --time=01:00:00', envFile: "'/h/x.env'", prologue: 'module load py', command: 'python3 w jupyterhub-singleuser', epilogue: '', user: 'alice' });
    expect(out).toBe("#!/bin/sh\n#SBATCH --time=01:00:00\n. '/h/x.env'\nmodule load py\npython3 w jupyterhub-singleuser\n{{nope}}\n");
    expect(envFileContent({ A: "it's", B: 'x y' })).toBe("A='it'\\''s'\nB='x y'\n");
  });

  it('profile limits become the request; profile-normalized options are not read as Slurm values; user options win when allowed', () => {
    const o = SlurmSpawnerSchema.parse({ kind: 'slurm', cpus: 1, memory: '1G' });
    expect(resolveJobRequest(o, {}, { cpus: 3.5, memBytes: 16 * 1024 ** 3, gpus: 2 })).toMatchObject({ cpus: 4, memory: '16384M', gpus: 2 });
    // a profile option named 'time' holds a choice slug ('8h'); the profile already set spawner.time
    expect(resolveJobRequest(o, { profile: 'hpc-gpu', time: '8h' })).toMatchObject({ timeSeconds: 8 * 3600 });
    expect(resolveJobRequest(o, { cpus: 8, memory: '2G' }, { cpus: 2, memBytes: 1024 ** 3 })).toMatchObject({ cpus: 8, memory: '2G' });
  });

  it('builds the ssh argv: key, known_hosts, strict checking, quoted remote words, env via env(1)', () => {
    const argv = sshArgv(
      { binary: 'ssh', host: 'login1', port: 2222, user: 'alice', keyFile: '/keys/alice', knownHostsFile: '/etc/labhub/known_hosts', extraArgs: ['-o', 'ConnectTimeout=5'] },
      ['sh', '-c', 'umask 077 && cat > "$1"', 'sh', "/home/alice/it's.env"],
      { SLURM_CONF: '/etc/slurm/slurm.conf' },
    );
    expect(argv.slice(0, 5)).toEqual(['ssh', '-p', '2222', '-i', '/keys/alice']);
    expect(argv).toEqual(expect.arrayContaining(['BatchMode=yes', 'UserKnownHostsFile=/etc/labhub/known_hosts', 'StrictHostKeyChecking=yes', '-l', 'alice', 'login1', '--']));
    expect(argv.at(-1)).toBe(`env SLURM_CONF=/etc/slurm/slurm.conf sh -c 'umask 077 && cat > "$1"' sh '/home/alice/it'\\''s.env'`);
  });
});
