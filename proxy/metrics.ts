/**
 * Prometheus metrics with CHP's names (lib/metrics.js). When metrics are off a null object is used,
 * so call sites never branch. prom-client itself lives in metrics-prom.ts and is only loaded when
 * metrics are enabled (it costs ~10 MB RSS).
 */
import http from 'node:http';

export interface Counter {
  inc(): void;
}
export interface LabelledCounter {
  labels(status: string | number): Counter;
}
export interface Timer {
  startTimer(): () => void;
}

export interface ProxyMetrics {
  apiRouteGetCount: Counter;
  apiRouteAddCount: Counter;
  apiRouteDeleteCount: Counter;
  findTargetForReqSummary: Timer;
  lastActivityUpdatingSummary: Timer;
  requestsWsCount: Counter;
  requestsWebCount: Counter;
  requestsProxyCount: LabelledCounter;
  requestsApiCount: LabelledCounter;
  readonly enabled: boolean;
  render(res: http.ServerResponse): Promise<void>;
}

const noopCounter: Counter = { inc() {} };
const noopTimer: Timer = { startTimer: () => () => {} };

export const noMetrics: ProxyMetrics = {
  enabled: false,
  apiRouteGetCount: noopCounter,
  apiRouteAddCount: noopCounter,
  apiRouteDeleteCount: noopCounter,
  findTargetForReqSummary: noopTimer,
  lastActivityUpdatingSummary: noopTimer,
  requestsWsCount: noopCounter,
  requestsWebCount: noopCounter,
  requestsProxyCount: { labels: () => noopCounter },
  requestsApiCount: { labels: () => noopCounter },
  async render() {},
};

/** GET /metrics → exposition; anything else → 404 "Not Found" (CHP handleMetrics). */
export function metricsHandler(metrics: ProxyMetrics) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (req.url === '/metrics') {
      metrics.render(res).catch(() => res.destroy());
      return;
    }
    res.writeHead(404);
    res.end(http.STATUS_CODES[404]);
  };
}
