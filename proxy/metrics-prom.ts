/** prom-client registry with CHP's metric names (lib/metrics.js), plus node default metrics. */
import client from 'prom-client';
import type { ProxyMetrics } from './metrics.js';
import { collectProcessMetrics } from './default-metrics.js';

export function createMetrics(): ProxyMetrics {
  const register = new client.Registry();
  collectProcessMetrics(register);
  const counter = (name: string, help: string) => new client.Counter({ name, help, registers: [register] });
  const labelled = (name: string, help: string) =>
    new client.Counter({ name, help, labelNames: ['status'], registers: [register] });
  const summary = (name: string, help: string) => new client.Summary({ name, help, registers: [register] });
  const requestsProxy = labelled('requests_proxy', 'Count of proxy requests');
  const requestsApi = labelled('requests_api', 'Count of API requests');
  return {
    enabled: true,
    apiRouteGetCount: counter('api_route_get', 'Count of API route get requests'),
    apiRouteAddCount: counter('api_route_add', 'Count of API route add requests'),
    apiRouteDeleteCount: counter('api_route_delete', 'Count of API route delete requests'),
    findTargetForReqSummary: summary('find_target_for_req', 'Summary of find target requests'),
    lastActivityUpdatingSummary: summary('last_activity_updating', 'Summary of last activity updating requests'),
    requestsWsCount: counter('requests_ws', 'Count of websocket requests'),
    requestsWebCount: counter('requests_web', 'Count of web requests'),
    requestsProxyCount: { labels: (s) => requestsProxy.labels(String(s)) },
    requestsApiCount: { labels: (s) => requestsApi.labels(String(s)) },
    async render(res) {
      const body = await register.metrics();
      res.writeHead(200, { 'Content-Type': register.contentType });
      res.end(body);
    },
  };
}

