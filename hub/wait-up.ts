/**
 * Readiness check as JupyterHub's wait_for_http_server: GET the URL without following redirects;
 * any status below 500 means up; 5xx and connection errors are retried with backoff until the deadline.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** `isGone` lets the caller stop waiting as soon as the process behind the URL has died. */
export async function waitForHttpServer(url: string, timeoutMs: number, signal?: AbortSignal, isGone?: () => Promise<boolean>): Promise<{ status: number; version: string | null }> {
  const deadline = Date.now() + timeoutMs;
  let delay = 50;
  let lastError = 'no response';
  while (Date.now() < deadline) {
    signal?.throwIfAborted();
    try {
      const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(Math.max(100, Math.min(5000, deadline - Date.now()))) });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status < 500) return { status: res.status, version: res.headers.get('x-jupyterhub-version') };
      lastError = `HTTP ${res.status}`;
    } catch (err) {
      lastError = (err as Error).cause ? String(((err as Error).cause as Error).message ?? (err as Error).cause) : (err as Error).message;
    }
    if (isGone && (await isGone())) throw new ServerGoneError(`server process exited before it answered at ${url}`);
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), undefined, { signal }).catch(() => undefined);
    delay = Math.min(delay * 2, 1000);
  }
  throw new Error(`server at ${url} did not respond within ${Math.round(timeoutMs / 1000)} s (${lastError})`);
}

export class ServerGoneError extends Error {}
