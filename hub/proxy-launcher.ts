/**
 * Brings up the proxy the configuration asks for. The hub only ever talks to it through the
 * configurable-http-proxy REST API, so all three modes look the same afterwards:
 * - inprocess: LabHub's proxy inside this process (default);
 * - subprocess: a CHP-compatible command (labhub-proxy, or configurable-http-proxy itself) started
 *   with CHP's flags, as JupyterHub does, and stopped with the hub;
 * - external: someone else runs it; we only need its API URL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { format } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { proxyApiPort, type Config } from '../config/schema.js';
import { startProxy } from '../proxy/proxy.js';
import { createHttpsRedirect } from '../proxy/https-redirect.js';
import { createSecureContext } from 'node:tls';
import { HubError } from './errors.js';
import { Subdomains } from './subdomains.js';
import type { Logger } from './log.js';

export interface RunningProxy {
  publicUrl: string;
  apiUrl: string;
  close(): Promise<void>;
  /**
   * Mode 'subprocess' only: the hub owns the process. A proxy that exits on its own is started
   * again at once (then `onRestart` callbacks run, so the hub restores the routes); restart()
   * replaces a hung one.
   */
  restart?(): Promise<void>;
  onRestart?(cb: () => void): void;
  pid?(): number | undefined;
}

const HERE = dirname(fileURLToPath(import.meta.url));

function proxyLogAdapter(log: Logger) {
  // the proxy logs printf-style ("Adding route %s -> %s", a, b)
  return {
    debug: (msg: string, ...a: unknown[]) => log.debug(format(msg, ...a)),
    info: (msg: string, ...a: unknown[]) => log.info(format(msg, ...a)),
    warn: (msg: string, ...a: unknown[]) => log.warn(format(msg, ...a)),
    error: (msg: string, ...a: unknown[]) => log.error(format(msg, ...a)),
  };
}

function isListening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Stops the proxy a previous hub process started (pid file), if it still runs and is a proxy. */
async function stopStaleProxy(pidFile: string, apiPort: number, log: Logger): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  const alive = () => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
    } catch {
      return false;
    }
  };
  // only a process that is our proxy (its command line has our API port): pids get reused
  const ours = () => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(`--api-port ${apiPort}`);
    } catch {
      return false;
    }
  };
  if (!Number.isInteger(pid) || pid <= 1 || !alive() || !ours()) return void rmSync(pidFile, { force: true });
  log.warn({ pid }, 'stopping the proxy left behind by a previous hub process');
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 60 && alive(); i++) await sleep(50);
  if (alive()) process.kill(pid, 'SIGKILL');
  // a killed process always goes, but on a loaded machine that can take seconds; its listening
  // sockets close only then, so starting the new proxy earlier would find the ports taken
  for (let i = 0; i < 400 && alive(); i++) await sleep(25);
  if (alive()) throw new HubError(500, `the proxy left behind by a previous hub process (pid ${pid}) did not exit after SIGKILL`);
  rmSync(pidFile, { force: true });
}

async function waitForPort(host: string, port: number, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new HubError(500, `proxy command exited with code ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new HubError(500, `proxy did not listen on ${host}:${port} within ${timeoutMs / 1000} s`);
}

/** The key and certificate of `ssl`, read and checked now: a bad file stops the start with a clear message (never its content). */
function readTls(config: Config): { key: Buffer; cert: Buffer } | undefined {
  if (!config.ssl) return undefined;
  const read = (key: 'keyFile' | 'certFile') => {
    try {
      return readFileSync(config.ssl![key]);
    } catch (err) {
      throw new HubError(500, `ssl.${key}: cannot read ${config.ssl![key]}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  const tls = { key: read('keyFile'), cert: read('certFile') };
  try {
    createSecureContext(tls);
  } catch (err) {
    // OpenSSL's reason only (e.g. "key values mismatch"), not the PEM text
    throw new HubError(500, `ssl: the key and certificate cannot be used together: ${(err as Error).message}`);
  }
  return tls;
}

export async function startProxyFor(config: Config, authToken: string, hubTarget: string, log: Logger): Promise<RunningProxy> {
  const p = config.proxy;
  const apiPort = proxyApiPort(config);
  const errorTarget = `${hubTarget}/hub/error`;
  // shared ports on subdomains (config refuses subdomainHost with an external proxy)
  const subdomains = config.subdomainHost ? new Subdomains(config.subdomainHost) : undefined;
  const hostRouteDomain = subdomains?.domain;
  // a user's host without a route (server stopped, or not yet routed) goes to the hub, which knows why
  const hostRouteFallback = subdomains?.hubOrigin;
  if (p.mode === 'external') {
    if (!p.apiUrl) throw new HubError(500, "proxy.apiUrl is required when proxy.mode is 'external'");
    return { publicUrl: `http://${config.ip}:${config.port}`, apiUrl: p.apiUrl, close: async () => undefined };
  }
  if (p.mode === 'inprocess') {
    // the table outlives the hub process: after a restart users reach running servers at once,
    // while the hub re-polls every spawner (slow for VMs and batch jobs) before re-checking routes
    const storagePath = p.persistRoutes ? join(config.dataDir, 'labhub-proxy-routes.sqlite') : undefined;
    const ssl = readTls(config);
    const started = await startProxy({ ip: config.ip, port: config.port, apiIp: p.apiIp, apiPort, authToken, errorTarget, hostRouteDomain, hostRouteFallback, storagePath, ssl, xfwd: true, log: proxyLogAdapter(log) });
    const redirect = config.ssl?.redirectPort !== undefined ? createHttpsRedirect(started.proxy.proxyPort) : undefined;
    if (redirect) {
      await new Promise<void>((resolve, reject) => {
        redirect.once('error', (err) => reject(new HubError(500, `ssl.redirectPort ${config.ssl!.redirectPort}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)));
        redirect.listen(config.ssl!.redirectPort, config.ip, () => resolve());
      }).catch(async (err) => {
        await started.close();
        throw err;
      });
      log.info({ port: config.ssl!.redirectPort }, 'plain HTTP redirected to https');
    }
    const close = async () => {
      if (redirect) await new Promise<void>((resolve) => redirect.close(() => resolve()));
      await started.close();
    };
    return { publicUrl: started.publicUrl, apiUrl: started.apiUrl, close };
  }
  if (config.port === 0 || apiPort === 0) throw new HubError(500, "proxy.mode 'subprocess' needs fixed ports (port and proxy.apiPort)");
  // 'labhub-proxy' resolves to our own compiled binary so it works without a global install.
  const ours = p.command[0] === 'labhub-proxy';
  const [cmd, ...cmdArgs] = ours ? [process.execPath, join(HERE, '..', 'proxy', 'main.js'), ...p.command.slice(1)] : p.command;
  // Our proxy keeps its table in a file: restarted (crash, hung, or replaced after a hub kill -9) it
  // serves every route at once instead of 404-ing users until the hub has re-added them all.
  const storage = ours && p.persistRoutes ? ['--storage-path', join(config.dataDir, 'labhub-proxy-routes.sqlite')] : [];
  // CHP's own flags: the proxy process reads the files (checked here first, for a clear message)
  readTls(config);
  const tlsArgs = config.ssl ? ['--ssl-key', config.ssl.keyFile, '--ssl-cert', config.ssl.certFile, ...(config.ssl.redirectPort !== undefined ? ['--redirect-port', String(config.ssl.redirectPort)] : [])] : [];
  const args = [...cmdArgs, ...storage, ...tlsArgs, '--ip', config.ip, '--port', String(config.port), '--api-ip', p.apiIp, '--api-port', String(apiPort), '--error-target', errorTarget, '--log-level', 'info', ...(hostRouteDomain && hostRouteFallback ? ['--host-route-domain', hostRouteDomain, '--host-route-fallback', hostRouteFallback] : [])];
  let closing = false;
  const restartCallbacks: Array<() => void> = [];
  // A proxy left behind by a hub that was killed (kill -9 does not take its children along) still
  // holds the ports: stop it first, as JupyterHub does with its proxy pid file.
  const pidFile = join(config.dataDir, 'labhub-proxy.pid');
  await stopStaleProxy(pidFile, apiPort, log);
  const launch = async (): Promise<ChildProcess> => {
    // a port someone else listens on would make waitForPort succeed for a proxy that is exiting
    for (const [host, port] of [[config.ip, config.port], [p.apiIp, apiPort]] as const) {
      if (await isListening(host, port)) throw new HubError(500, `proxy port ${host}:${port} is already in use by another process`);
    }
    const child = spawn(cmd, args, { env: { ...process.env, CONFIGPROXY_AUTH_TOKEN: authToken }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (b: Buffer) => log.info({ proxy: b.toString().trim() }, 'proxy output'));
    child.stderr?.on('data', (b: Buffer) => log.warn({ proxy: b.toString().trim() }, 'proxy output'));
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (e) => reject(new HubError(500, `could not start proxy command ${cmd}: ${e.message}`)));
    });
    try {
      await waitForPort(config.ip, config.port, 10_000, child);
      await waitForPort(p.apiIp, apiPort, 10_000, child);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    if (child.pid) writeFileSync(pidFile, `${child.pid}\n`, { mode: 0o600 });
    child.once('exit', (code, signal) => {
      if (closing || child !== current) return;
      log.error({ code, signal, event: 'proxy-died', by: 'system' }, 'proxy exited; restarting it');
      void relaunch();
    });
    return child;
  };
  let relaunching: Promise<void> | null = null;
  const relaunch = (): Promise<void> =>
    (relaunching ??= (async () => {
      for (let attempt = 1; attempt <= 20 && !closing; attempt++) {
        try {
          // the old process may still hold the ports for a moment
          current = await launch();
          log.warn({ pid: current.pid, attempt }, 'proxy restarted');
          for (const cb of restartCallbacks) cb();
          return;
        } catch (err) {
          log.error({ err: String(err), attempt }, 'proxy restart failed');
          await sleep(Math.min(5000, 200 * attempt));
        }
      }
    })().finally(() => (relaunching = null)));
  let current = await launch();
  const stopChild = async (child: ChildProcess) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await Promise.race([new Promise((r) => child.once('exit', r)), sleep(3000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  return {
    publicUrl: `${config.ssl ? 'https' : 'http'}://${config.ip}:${config.port}`,
    apiUrl: `http://${p.apiIp}:${apiPort}`,
    close: async () => {
      closing = true;
      await stopChild(current);
      rmSync(pidFile, { force: true });
    },
    restart: async () => {
      const old = current;
      current = null as unknown as ChildProcess; // its exit must not trigger a second relaunch
      await stopChild(old);
      await relaunch();
    },
    onRestart: (cb) => restartCallbacks.push(cb),
    pid: () => current?.pid,
  };
}
