/**
 * Engines for Docker spawner tests, brought up by test/setup/docker.sh (writes /tmp/labhub-ci/docker.env).
 * In CI (CI=true) a missing engine fails loudly; elsewhere the suite is skipped with a printed reason.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';

export const DOCKER_ENV_FILE = process.env.LABHUB_DOCKER_ENV ?? '/tmp/labhub-ci/docker.env';

export interface DockerTestEnv {
  DOCKER_SOCK: string;
  PODMAN_SOCK: string;
  /** tcp://127.0.0.1:port — Podman's API over plain TCP on loopback */
  PODMAN_TCP: string;
  /** tcp://127.0.0.1:port — the same dockerd over TCP with TLS client certificates (DOCKER_TLS_DIR: ca.pem, cert.pem, key.pem) */
  DOCKER_TLS_URL: string;
  DOCKER_TLS_DIR: string;
  REGISTRY: string;
  LABHUB_TEST_IMAGE_BB: string;
  LABHUB_TEST_IMAGE_JUPYTER: string;
}

export function readDockerEnv(): DockerTestEnv | null {
  if (!existsSync(DOCKER_ENV_FILE)) return null;
  const env: Record<string, string> = {};
  for (const line of readFileSync(DOCKER_ENV_FILE, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2];
  }
  return env as unknown as DockerTestEnv;
}

/** TLS client files for DOCKER_TLS_URL, as the spawner's `tls` option takes them. */
export function tlsFiles(dir: string): { ca: string; cert: string; key: string } {
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
}

/** A client for a unix socket path or a tcp://host:port URL (TLS when tlsDir is given). */
export function engineClient(sockOrUrl: string, tlsDir?: string): Docker {
  if (sockOrUrl.startsWith('tcp://')) {
    const u = new URL(sockOrUrl.replace(/^tcp:/, 'http:'));
    if (tlsDir) {
      const f = tlsFiles(tlsDir);
      return new Docker({ host: u.hostname, port: Number(u.port), protocol: 'https', ca: readFileSync(f.ca), cert: readFileSync(f.cert), key: readFileSync(f.key) });
    }
    return new Docker({ host: u.hostname, port: Number(u.port), protocol: 'http' });
  }
  return new Docker({ socketPath: sockOrUrl });
}

/** Pings the engine (unix socket path or tcp:// URL); null when it answers, else why not. */
export async function engineProblem(sock: string | undefined, tlsDir?: string): Promise<string | null> {
  if (!sock) return 'no socket configured';
  if (!sock.startsWith('tcp://') && !existsSync(sock)) return `socket ${sock} does not exist`;
  try {
    await engineClient(sock, tlsDir).ping();
    return null;
  } catch (err) {
    return `engine at ${sock} does not answer: ${(err as Error).message}`;
  }
}

/**
 * Decides whether a suite that needs `what` runs: returns true to run; false (with a printed reason)
 * to skip outside CI; throws in CI so a missing engine can't pass silently.
 */
export function requireEngine(what: string, problem: string | null): boolean {
  if (!problem) return true;
  const msg = `${what}: ${problem} (run test/setup/docker.sh)`;
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`[CI] ${msg}`);
  console.warn(`SKIPPING ${msg}`);
  return false;
}

/** Removes every container and volume carrying label labhub.test=<runId> (afterAll). Returns what it removed. */
export async function cleanupTestObjects(docker: Docker, runId: string): Promise<{ containers: number; volumes: number }> {
  const filters = JSON.stringify({ label: [`labhub.test=${runId}`] });
  const containers = await docker.listContainers({ all: true, filters } as object);
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
  const vols = (await docker.listVolumes({ filters } as object)).Volumes ?? [];
  await Promise.all(vols.map((v) => docker.getVolume(v.Name).remove({ force: true } as object).catch(() => undefined)));
  return { containers: containers.length, volumes: vols.length };
}

/** Leftovers with label labhub.test=<runId> (must be none after cleanup). */
export async function leftovers(docker: Docker, runId: string): Promise<string[]> {
  const filters = JSON.stringify({ label: [`labhub.test=${runId}`] });
  const containers = await docker.listContainers({ all: true, filters } as object);
  const vols = (await docker.listVolumes({ filters } as object)).Volumes ?? [];
  return [...containers.map((c) => `container ${c.Names[0]}`), ...vols.map((v) => `volume ${v.Name}`)];
}

/** Docker's multiplexed attach stream (8-byte frame headers) → text. */
export function demux(raw: Buffer): string {
  let out = '';
  for (let i = 0; i + 8 <= raw.length; ) {
    const n = raw.readUInt32BE(i + 4);
    out += raw.subarray(i + 8, i + 8 + n).toString();
    i += 8 + n;
  }
  return out;
}

/** `docker exec` a command in a container (stdout + stderr), bounded by timeoutMs. */
export async function dockerExec(docker: Docker, id: string, cmd: string[], timeoutMs = 30_000): Promise<{ code: number; out: string }> {
  const e = await docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await e.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', resolve);
    setTimeout(resolve, timeoutMs).unref();
  });
  return { code: (await e.inspect()).ExitCode ?? -1, out: demux(Buffer.concat(chunks)) };
}
