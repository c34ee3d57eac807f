/**
 * Bounded concurrency for the reconciliation loops (a tiny p-limit): with 10,000 servers the poll
 * and route loops never have more than `limit` spawner polls or proxy calls in flight.
 */
export async function mapLimit<T, R>(items: Iterable<T>, limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const list = [...items];
  const out = new Array<R>(list.length);
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const i = next++;
      out[i] = await fn(list[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, list.length)) }, worker));
  return out;
}

/** A random factor in [1 - spread/2, 1 + spread/2] (default ±10 %), so timers of many hubs don't align. */
export function jitter(spread = 0.2): number {
  return 1 + (Math.random() - 0.5) * spread;
}
