/**
 * Images built by test/setup/images.sh (writes /tmp/labhub-ci/images.env) on the dockerd of
 * test/setup/docker.sh. In CI a missing engine or image fails loudly; elsewhere the suite is skipped
 * with a printed reason.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import Docker from 'dockerode';
import { demux, engineProblem, readDockerEnv, requireEngine, type DockerTestEnv } from '../helpers/docker-env.js';

export const IMAGES_ENV_FILE = process.env.LABHUB_IMAGES_ENV ?? '/tmp/labhub-ci/images.env';

export interface ImagesEnv {
  LABHUB_IMAGE_COMMON: string;
  LABHUB_IMAGE_JUPYTERLAB: string;
  LABHUB_IMAGE_CODE_SERVER: string;
}

/** Whether Debian's shellcheck is installed (test/setup/images.sh installs it); in CI its absence is an error. */
export function shellcheckReady(what: string): boolean {
  try {
    execFileSync('shellcheck', ['--version']);
    return true;
  } catch {
    if (process.env.CI === 'true' || process.env.CI === '1') throw new Error('[CI] shellcheck is not installed (run test/setup/images.sh)');
    console.warn(`SKIPPING shellcheck of ${what}: not installed (run test/setup/images.sh)`);
    return false;
  }
}

export function readImagesEnv(): ImagesEnv | null {
  if (!existsSync(IMAGES_ENV_FILE)) return null;
  const env: Record<string, string> = {};
  for (const line of readFileSync(IMAGES_ENV_FILE, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2];
  }
  return env as unknown as ImagesEnv;
}

/** Decides whether a suite runs: dockerd answers and the named images exist there. */
export async function requireImages(what: string, names: Array<keyof ImagesEnv>): Promise<{ run: boolean; docker: DockerTestEnv | null; images: ImagesEnv | null }> {
  const docker = readDockerEnv();
  const images = readImagesEnv();
  let problem = await engineProblem(docker?.DOCKER_SOCK);
  if (!problem && !images) problem = `${IMAGES_ENV_FILE} missing (run test/setup/images.sh)`;
  if (!problem) {
    const d = new Docker({ socketPath: docker!.DOCKER_SOCK });
    for (const n of names) {
      const image = images![n];
      if (!image) {
        problem = `${n} is empty in ${IMAGES_ENV_FILE} (run test/setup/images.sh)`;
        break;
      }
      const ok = await d
        .getImage(image)
        .inspect()
        .then(() => true)
        .catch(() => false);
      if (!ok) {
        problem = `image ${image} is not on dockerd (run test/setup/images.sh)`;
        break;
      }
    }
  }
  return { run: requireEngine(what, problem), docker, images };
}

/** Runs a command to its end in a new container (removed afterwards); returns its exit code and output. */
export async function runToEnd(
  docker: Docker,
  o: { image: string; cmd: string[]; entrypoint?: string[]; user?: string; env?: Record<string, string>; mounts?: Array<{ Type: 'volume'; Source: string; Target: string }>; init?: boolean; labels: Record<string, string>; timeoutMs?: number },
): Promise<{ code: number; out: string }> {
  const c = await docker.createContainer({
    Image: o.image,
    Cmd: o.cmd,
    ...(o.entrypoint ? { Entrypoint: o.entrypoint } : {}),
    ...(o.user ? { User: o.user } : {}),
    Env: Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`),
    Labels: o.labels,
    HostConfig: { Init: o.init ?? true, NetworkMode: 'none', Mounts: o.mounts ?? [] },
  } as Docker.ContainerCreateOptions);
  try {
    await c.start();
    const timeout = o.timeoutMs ?? 60_000;
    const res = (await Promise.race([c.wait(), new Promise((_, rej) => setTimeout(() => rej(new Error(`container did not finish in ${timeout} ms`)), timeout).unref())])) as { StatusCode: number };
    const out = demux((await c.logs({ stdout: true, stderr: true })) as unknown as Buffer);
    return { code: res.StatusCode, out };
  } finally {
    await c.remove({ force: true }).catch(() => undefined);
  }
}

export { demux };
