/**
 * Prometheus metrics with JupyterHub's names (jupyterhub/metrics.py), served at /hub/metrics.
 * Gauges that describe the database are computed at scrape time, so they are never stale.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from '../proxy/default-metrics.js';

export class HubMetrics {
  readonly registry = new Registry();
  readonly requestDuration: Histogram<'method' | 'handler' | 'code'>;
  readonly spawnDuration: Histogram<'status' | 'spawner'>;
  readonly stopDuration: Histogram<'status' | 'spawner'>;
  readonly pollDuration: Histogram<'status'>;
  readonly checkRoutesDuration: Histogram;
  readonly proxyAddDuration: Histogram<'status'>;
  readonly proxyDeleteDuration: Histogram<'status'>;
  readonly runningServers: Gauge<'spawner'>;
  readonly totalUsers: Gauge;
  readonly activeUsers: Gauge<'period'>;
  readonly startupDuration: Gauge;
  readonly spawnThrottled: Counter;
  readonly orphans: Gauge<'kind'>;

  constructor(prefix = 'jupyterhub_') {
    const r = this.registry;
    const buckets = [0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 180, 300, 600, Infinity];
    this.requestDuration = new Histogram({ name: `${prefix}request_duration_seconds`, help: 'Request duration for all HTTP requests', labelNames: ['method', 'handler', 'code'], registers: [r] });
    this.spawnDuration = new Histogram({ name: `${prefix}server_spawn_duration_seconds`, help: 'Time taken for server spawning operation', labelNames: ['status', 'spawner'], buckets, registers: [r] });
    this.stopDuration = new Histogram({ name: `${prefix}server_stop_seconds`, help: 'Time taken for server stopping operation', labelNames: ['status', 'spawner'], registers: [r] });
    this.pollDuration = new Histogram({ name: `${prefix}server_poll_duration_seconds`, help: 'Time taken to poll if server is running', labelNames: ['status'], registers: [r] });
    this.checkRoutesDuration = new Histogram({ name: `${prefix}check_routes_duration_seconds`, help: 'Time taken to validate all routes in proxy', registers: [r] });
    this.proxyAddDuration = new Histogram({ name: `${prefix}proxy_add_duration_seconds`, help: 'Duration for adding user routes to proxy', labelNames: ['status'], registers: [r] });
    this.proxyDeleteDuration = new Histogram({ name: `${prefix}proxy_delete_duration_seconds`, help: 'Duration for deleting user routes from proxy', labelNames: ['status'], registers: [r] });
    this.runningServers = new Gauge({ name: `${prefix}running_servers`, help: 'The number of user servers currently running', labelNames: ['spawner'], registers: [r] });
    this.totalUsers = new Gauge({ name: `${prefix}total_users`, help: 'Total number of users', registers: [r] });
    this.activeUsers = new Gauge({ name: `${prefix}active_users`, help: 'Number of users who were active in the given time period', labelNames: ['period'], registers: [r] });
    this.startupDuration = new Gauge({ name: `${prefix}hub_startup_duration_seconds`, help: 'Time taken for Hub to start', registers: [r] });
    this.orphans = new Gauge({ name: 'labhub_orphan_workloads', help: 'Containers, VMs and batch jobs of this hub that its database does not account for, at the last check', labelNames: ['kind'], registers: [r] });
    this.spawnThrottled = new Counter({ name: `${prefix}spawn_throttled_total`, help: 'Spawn requests refused with 429 (concurrent spawn or active server limit)', registers: [r] });
    collectProcessMetrics(r, 'labhub_process_');
  }
}
