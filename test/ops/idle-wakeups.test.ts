/**
 * An idle hub (and a standalone proxy with metrics on) must not keep waking up: a lab leaves its hub
 * running for months, mostly idle. prom-client's default event-loop monitor woke the main thread
 * 100 times a second. Counted from the kernel's voluntary context switches of the main thread
 * (a count, not a speed), over a few seconds with no requests.
 */
import { readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { runLabhub, startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { testPort } from '../helpers/test-ports.js';
import { ensureBuilt, startProxyProcess, TOKEN, type RunningProxy } from '../proxy/helpers.js';

const WINDOW_S = 3;
/** The event-loop monitor at 100 ms is 10 a second; headroom for GC and the odd housekeeping timer. */
const MAX_PER_SECOND = 30;

function mainThreadSwitches(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
  return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)![1]);
}

async function idleWakeupsPerSecond(pid: number): Promise<number> {
  await sleep(1500); // let start-up work (first GC, deferred loads) settle
  const before = mainThreadSwitches(pid);
  await sleep(WINDOW_S * 1000);
  return (mainThreadSwitches(pid) - before) / WINDOW_S;
}

describe('idle processes sleep', () => {
  let hub: HubProcess | undefined;
  let proxy: RunningProxy | undefined;
  afterAll(async () => {
    await hub?.stop();
    await proxy?.stop();
    if (hub) rmSync(hub.dataDir, { recursive: true, force: true });
  });

  it('an idle hub wakes its main thread at most a few times a second', async () => {
    hub = await startHubProcess();
    const perSecond = await idleWakeupsPerSecond(hub.child.pid!);
    expect(perSecond).toBeLessThan(MAX_PER_SECOND);
    // the metrics the monitor feeds are still there
    const token = (await runLabhub(['token', 'admin', '--data-dir', hub.dataDir])).stdout.trim();
    const metrics = await (await fetch(`${hub.hubUrl}/hub/metrics`, { headers: { Authorization: `token ${token}` } })).text();
    expect(metrics).toMatch(/labhub_process_nodejs_eventloop_lag_p99_seconds \d/);
  });

  it('an idle labhub-proxy with --metrics-port too', async () => {
    ensureBuilt();
    const metricsPort = await testPort();
    proxy = await startProxyProcess('labhub', ['--metrics-ip', '127.0.0.1', '--metrics-port', String(metricsPort)], { CONFIGPROXY_AUTH_TOKEN: TOKEN });
    const perSecond = await idleWakeupsPerSecond(proxy.proc.pid!);
    expect(perSecond).toBeLessThan(MAX_PER_SECOND);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/nodejs_eventloop_lag_p99_seconds \d/);
  });
});
