// Small helpers shared by the benchmark scripts (loopback only).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** `--name N` from the command line as a number, or `def`. */
export function numberOption(name, def, argv = process.argv.slice(2)) {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(argv[i + 1]);
}

/** A port the kernel reports free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** User and system CPU time of a process in ms (/proc, clock ticks of 10 ms). */
export function processCpu(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const user = Number(f[11]) * 10;
  const system = Number(f[12]) * 10;
  return { user, system, total: user + system };
}
