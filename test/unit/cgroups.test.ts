/**
 * spawners/cgroups.ts's cgroup v2 file protocol against a directory laid out like a v2 mount (this machine
 * mounts the memory and cpu controllers as v1, where test/contract/local-limits.test.ts uses the real
 * kernel): controllers handed down level by level, memory.max and cpu.max written, the join command.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCgroup, joinThenExec, limitsText } from '../../spawners/cgroups.js';

describe('cgroups', () => {
  it('v2: enables memory+cpu on each level down to the group, then writes memory.max and cpu.max', () => {
    const root = mkdtempSync(join(tmpdir(), 'fake-cgroup2-'));
    writeFileSync(join(root, 'cgroup.subtree_control'), 'cpuset io'); // what a fresh v2 root may hand down
    // a real cgroupfs creates cgroup.subtree_control in every new group; a plain directory does not, so
    // pre-create the levels' files the way the kernel would
    const levels = [join(root, 'labhub'), join(root, 'labhub', 'hub1')];
    for (const l of levels) {
      execFileSync('mkdir', ['-p', l]);
      writeFileSync(join(l, 'cgroup.subtree_control'), '');
    }
    // the kernel creates memory.swap.max when it accounts swap
    execFileSync('mkdir', ['-p', join(root, 'labhub', 'hub1', 'ann--lab')]);
    writeFileSync(join(root, 'labhub', 'hub1', 'ann--lab', 'memory.swap.max'), 'max');
    const dirs = createCgroup('hub1', 'ann--lab', { memBytes: 512 * 1024 ** 2, cpus: 1.5 }, { version: 2, memoryRoot: root, cpuRoot: root });
    expect(dirs).toEqual([join(root, 'labhub', 'hub1', 'ann--lab')]);
    for (const l of [root, ...levels]) expect(readFileSync(join(l, 'cgroup.subtree_control'), 'utf8')).toBe('+memory +cpu');
    expect(readFileSync(join(dirs[0], 'memory.max'), 'utf8')).toBe(String(512 * 1024 ** 2));
    expect(readFileSync(join(dirs[0], 'cpu.max'), 'utf8')).toBe('150000 100000');
    expect(readFileSync(join(dirs[0], 'memory.swap.max'), 'utf8')).toBe('0');
  });

  it('v1: memory and cpu hierarchies, quota from CPUs (unlimited when only memory is set)', () => {
    const mem = mkdtempSync(join(tmpdir(), 'fake-mem-'));
    const cpu = mkdtempSync(join(tmpdir(), 'fake-cpu-'));
    const dirs = createCgroup('hub1', 'bob', { memBytes: 1024 ** 3 }, { version: 1, memoryRoot: mem, cpuRoot: cpu });
    expect(dirs).toEqual([join(mem, 'labhub', 'hub1', 'bob'), join(cpu, 'labhub', 'hub1', 'bob')]);
    expect(readFileSync(join(dirs[0], 'memory.limit_in_bytes'), 'utf8')).toBe(String(1024 ** 3));
    expect(readFileSync(join(dirs[1], 'cpu.cfs_quota_us'), 'utf8')).toBe('-1');
  });

  it('no usable cgroups: the reason is the error', () => {
    expect(() => createCgroup('hub1', 'x', { cpus: 1 }, 'cgroup limits need the hub to run as root')).toThrow('cgroup limits need the hub to run as root');
  });

  it('the join command writes its own pid into every group, then execs the server with its arguments intact', () => {
    const a = mkdtempSync(join(tmpdir(), 'fake-grp-a-'));
    const b = mkdtempSync(join(tmpdir(), 'fake-grp-b-'));
    const argv = joinThenExec([a, b], ['/bin/sh', '-c', 'echo "pid=$$ args=$1|$2"', 'x', 'one two', "it's"]);
    const out = execFileSync(argv[0], argv.slice(1), { encoding: 'utf8' });
    const pid = /pid=(\d+)/.exec(out)![1];
    expect(out.trim()).toBe(`pid=${pid} args=one two|it's`);
    expect(readFileSync(join(a, 'cgroup.procs'), 'utf8').trim()).toBe(pid); // the same process: exec, not a child
    expect(readFileSync(join(b, 'cgroup.procs'), 'utf8').trim()).toBe(pid);
    expect(limitsText({ cpus: 1, memBytes: 512 * 1024 ** 2 })).toBe('1 CPU, 512 MiB memory');
  });
});
