/** A free TCP port on an address, chosen by the kernel (JupyterHub random_port). */
import { createServer } from 'node:net';

/**
 * Ports handed out recently, with when. The kernel may pick the same port again as soon as our
 * probe socket closes; two spawns starting at the same moment would then race for it (one fails
 * with "address in use" — seen once in 3,000 soak spawns). A port is not handed out twice within
 * this window in one process.
 */
const recent = new Map<number, number>();
const RECENT_MS = 120_000;

function probe(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const now = Date.now();
  for (const [p, t] of recent) if (now - t > RECENT_MS) recent.delete(p);
  let port = await probe(host);
  for (let i = 0; i < 20 && recent.has(port); i++) port = await probe(host);
  recent.set(port, now);
  return port;
}
