/**
 * prom-client's process and Node metrics, shared by the hub and the proxy. prom-client samples the
 * event-loop delay with a libuv timer every `eventLoopMonitoringPrecision` ms (default 10): an idle
 * hub woke its main thread 100 times a second for it (≈1% of a core, forever). At 100 ms the loop
 * wakes 10 times a second, and any stall of 100 ms or more is still always recorded.
 */
import { collectDefaultMetrics, type Registry } from 'prom-client';

export const EVENT_LOOP_MONITORING_MS = 100;

export function collectProcessMetrics(register: Registry, prefix?: string): void {
  collectDefaultMetrics({ register, ...(prefix ? { prefix } : {}), eventLoopMonitoringPrecision: EVENT_LOOP_MONITORING_MS });
}
