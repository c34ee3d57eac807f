/**
 * The local spawner's CPU/memory limits with real Linux cgroups (v1 here; v2 where the machine has it),
 * which need root: the server process is in its own group with the profile's limits from its first
 * instruction, a process in it that allocates past the memory limit is killed by the kernel, its
 * terminal shares the group, and stop removes the group. 'require' fails a spawn that cannot get
 * limits; 'off' ignores them.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSingleUserEnv, serverPrefix } from '../../hub/env.js';
import { cgroupLayout } from '../../spawners/cgroups.js';
import { LocalSpawnerSchema } from '../../spawners/local-options.js';
import { LocalProcessSpawner } from '../../spawners/local.js';

const REPO = resolve(import.meta.dirname, '..', '..');
const FAKE = resolve(import.meta.dirname, '..', 'fakes', 'fake-singleuser.mjs');
const dataDir = mkdtempSync(join(tmpdir(), 'labhub-local-limits-'));
const warnings: unknown[] = [];
const log = { info() {}, warn: (o: unknown) => void warnings.push(o), error() {}, debug() {} };
const hubId = `t${process.pid}`;
const ctx = { dataDir, log, hubId };
const MiB = 1024 ** 2;

const request = (user: string, limits?: { memBytes?: number; cpus?: number }) => ({
  user,
  serverName: '',
  servicePrefix: serverPrefix(user, ''),
  env: buildSingleUserEnv({ user, serverName: '', apiToken: 'x'.repeat(32), hubApiUrl: 'http://127.0.0.1:1/hub/api' }),
  userOptions: {},
  limits,
  signal: AbortSignal.timeout(15_000),
});

/** The group a process is in, per controller, from /proc/PID/cgroup (v1: "4:memory:/path"; v2: "0::/path"). */
function groupOf(pid: number, controller: 'memory' | 'cpu'): string | undefined {
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, ctrls, path] = line.split(':');
    if (ctrls === '' || ctrls.split(',').includes(controller)) return path;
  }
  return undefined;
}

const layout = cgroupLayout();
const problem = typeof layout === 'string' ? layout : '';
if (problem && process.env.CI !== 'true') console.warn(`[local cgroup limits] SKIPPED: ${problem}`);
const maybe = problem && process.env.CI !== 'true' ? it.skip : it;

describe('local spawner: CPU/memory limits with cgroups', () => {
  // the per-hub level (labhub/<hub id>) stays in production; this test's hub id is its own
  afterAll(() => {
    if (typeof layout === 'string') return;
    for (const root of new Set([layout.memoryRoot, layout.cpuRoot])) {
      try {
        rmdirSync(join(root, 'labhub', hubId));
      } catch {
        /* not created, or still busy */
      }
    }
  });

  maybe('the server runs in its own group with the limits; the kernel enforces memory; stop removes the group', async () => {
    if (typeof layout === 'string') throw new Error(layout);
    const options = LocalSpawnerSchema.parse({ kind: 'local', cmd: [process.execPath, FAKE], stopGraceSeconds: 2, cgroupLimits: 'require' });
    const s = new LocalProcessSpawner(ctx, options, { user: 'limited', serverName: '' });
    const { url } = await s.start(request('limited', { memBytes: 200 * MiB, cpus: 0.5 }));
    const state = s.getState() as { pid: number; cgroup: string[] };
    try {
      for (let i = 0; i < 50 && (await fetch(`${url}/user/limited/api`).then((r) => r.status, () => 0)) !== 200; i++) await new Promise((r) => setTimeout(r, 100));
      const rel = `/labhub/${hubId}/limited`;
      expect(groupOf(state.pid, 'memory')).toBe(rel);
      expect(groupOf(state.pid, 'cpu')).toBe(rel);
      if (layout.version === 1) {
        expect(readFileSync(join(layout.memoryRoot, rel, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(200 * MiB));
        const memsw = join(layout.memoryRoot, rel, 'memory.memsw.limit_in_bytes');
        if (existsSync(memsw)) expect(readFileSync(memsw, 'utf8').trim()).toBe(String(200 * MiB)); // no swapping past the limit
        expect(readFileSync(join(layout.cpuRoot, rel, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('50000');
        expect(readFileSync(join(layout.cpuRoot, rel, 'cpu.cfs_period_us'), 'utf8').trim()).toBe('100000');
      } else {
        expect(readFileSync(join(layout.memoryRoot, rel, 'memory.max'), 'utf8').trim()).toBe(String(200 * MiB));
        const swap = join(layout.memoryRoot, rel, 'memory.swap.max');
        if (existsSync(swap)) expect(readFileSync(swap, 'utf8').trim()).toBe('0');
        expect(readFileSync(join(layout.cpuRoot, rel, 'cpu.max'), 'utf8').trim()).toBe('50000 100000');
      }

      // the terminal is in the same group, and a process there that allocates 400 MiB is killed by the kernel
      const term = await s.terminal({ cols: 100, rows: 30 });
      let out = '';
      term.onData((d) => (out += d));
      term.write(`echo "group=$(grep -E '(memory|^0::)' /proc/self/cgroup | head -1)"; ${process.execPath} -e "const b=[];for(let i=0;i<40;i++){b.push(Buffer.alloc(10*1024*1024,1))}console.log('survived')"; echo "exit=$?"\r`);
      for (let i = 0; i < 200 && !/exit=\d+/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain(`${rel}`);
      expect(out).toMatch(/exit=137/); // SIGKILL from the OOM killer
      expect(out).not.toMatch(/^survived/m);
      term.write('exit\r');
      term.close();
      expect(JSON.stringify(s.getState())).toContain(rel);
    } finally {
      await s.stop();
    }
    for (let i = 0; i < 20 && state.cgroup.some((d) => existsSync(d)); i++) await new Promise((r) => setTimeout(r, 100));
    for (const d of state.cgroup) expect(existsSync(d), d).toBe(false);
  });

  it("'off' ignores limits; without limits nothing is created", async () => {
    for (const [mode, limits] of [['off', { memBytes: 200 * MiB }], ['auto', undefined]] as const) {
      const options = LocalSpawnerSchema.parse({ kind: 'local', cmd: [process.execPath, FAKE], stopGraceSeconds: 2, cgroupLimits: mode });
      const s = new LocalProcessSpawner(ctx, options, { user: `free${mode}`, serverName: '' });
      await s.start(request(`free${mode}`, limits));
      try {
        expect(s.getState()).not.toHaveProperty('cgroup');
        expect(groupOf(s.getState().pid as number, 'memory')).not.toContain('labhub');
      } finally {
        await s.stop();
      }
    }
  });

  maybe("not root: 'require' fails the spawn with the reason; 'auto' starts it without limits and warns", () => {
    // the hub as an unprivileged account (runuser), the real refusal
    const dir = mkdtempSync(join(tmpdir(), 'labhub-limits-nobody-'));
    chmodSync(dir, 0o777);
    const script = `
      const { LocalProcessSpawner } = await import(${JSON.stringify(join(REPO, 'dist/spawners/local.js'))});
      const { LocalSpawnerSchema } = await import(${JSON.stringify(join(REPO, 'dist/spawners/local-options.js'))});
      const warnings = [];
      const ctx = { dataDir: ${JSON.stringify(dir)}, hubId: 'nobodyhub', log: { info() {}, debug() {}, error() {}, warn: (o, m) => warnings.push([o, m]) } };
      const req = (user) => ({ user, serverName: '', servicePrefix: '/user/' + user + '/', env: {}, userOptions: {}, limits: { cpus: 1 }, signal: AbortSignal.timeout(10000) });
      const opts = (mode) => LocalSpawnerSchema.parse({ kind: 'local', cmd: [process.execPath, ${JSON.stringify(FAKE)}], stopGraceSeconds: 1, cgroupLimits: mode });
      const out = {};
      try { await new LocalProcessSpawner(ctx, opts('require'), { user: 'r', serverName: '' }).start(req('r')); out.require = 'started'; } catch (e) { out.require = e.message; }
      const a = new LocalProcessSpawner(ctx, opts('auto'), { user: 'a', serverName: '' });
      await a.start(req('a'));
      out.autoState = a.getState();
      await a.stop();
      out.warnings = warnings;
      console.log(JSON.stringify(out));`;
    const res = JSON.parse(execFileSync('runuser', ['-u', 'nobody', '--', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', cwd: dir, timeout: 30_000 })) as { require: string; autoState: Record<string, unknown>; warnings: unknown[] };
    expect(res.require).toBe('CPU/memory limits cannot be applied: cgroup limits need the hub to run as root');
    expect(res.autoState).not.toHaveProperty('cgroup');
    expect(JSON.stringify(res.warnings)).toContain('server started without its CPU/memory limits (cgroups unavailable)');
  });
});
