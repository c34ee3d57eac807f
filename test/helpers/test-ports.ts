/**
 * Ports for tests that must name a port before something listens on it (a hub child process, a
 * config file holding the public URL). The kernel's listen(0) picks from the ephemeral range
 * (32768–60999 here), the same range every outgoing connection takes its local port from; under a
 * full parallel suite a probed-then-released port was taken by someone else before the hub bound
 * it (CI: "listen EADDRINUSE"). So test ports come from below that range, in a slice of its own
 * for each vitest worker, and are never handed out twice by one worker.
 */
import { createServer } from 'node:net';

const FIRST = 12_000;
const SLICE = 2_500; // 8 worker slices fit below 32768
const handedOut = new Set<number>();

function workerSlice(): number {
  const id = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 1);
  return Number.isInteger(id) && id > 0 ? (id - 1) % 8 : 0;
}

export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** A free port (also free on 0.0.0.0, for servers containers reach) no other worker can pick. */
export async function testPort(count = 1): Promise<number> {
  const start = FIRST + workerSlice() * SLICE;
  const offset = Math.floor(Math.random() * SLICE);
  for (let i = 0; i < SLICE; i++) {
    const port = start + ((offset + i) % (SLICE - count + 1));
    const run = Array.from({ length: count }, (_, k) => port + k);
    if (run.some((p) => handedOut.has(p))) continue;
    let free = true;
    for (const p of run) if (!(await portIsFree(p, '0.0.0.0')) || !(await portIsFree(p))) free = false;
    if (!free) continue;
    for (const p of run) handedOut.add(p);
    return port;
  }
  throw new Error(`no free test port in ${start}–${start + SLICE - 1}`);
}

/** A free port whose successor is free too: LabHub's proxy API listens on port + 1 by default. */
export function testPortPair(): Promise<number> {
  return testPort(2);
}
