/**
 * Runs the real `labhub` CLI (dist/hub/main.js) as a child process on free ports with a temporary
 * data dir, the way a user runs it. Used by integration tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { testPort, testPortPair } from './test-ports.js';

export const REPO = resolve(import.meta.dirname, '..', '..');
export const LABHUB_BIN = join(REPO, 'dist', 'hub', 'main.js');

export interface HubProcess {
  child: ChildProcess;
  publicUrl: string;
  hubUrl: string;
  dataDir: string;
  port: number;
  hubPort: number;
  output: () => string;
  /** Stops the hub (SIGTERM by default, SIGKILL for crash tests) and waits for exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartHubOptions {
  dataDir?: string;
  port?: number;
  hubPort?: number;
  args?: string[];
  env?: Record<string, string>;
  adminPassword?: string;
}

export async function startHubProcess(o: StartHubOptions = {}): Promise<HubProcess> {
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'labhub-test-'));
  const port = o.port ?? (await testPortPair());
  const hubPort = o.hubPort ?? (await testPort());
  const child = spawn(process.execPath, [LABHUB_BIN, '--port', String(port), '--hub-port', String(hubPort), '--data-dir', dataDir, '--log-level', 'warn', ...(o.args ?? [])], {
    env: { ...process.env, LABHUB_ADMIN_PASSWORD: o.adminPassword ?? 'admin-test-password', ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`hub did not start within 45 s:\n${out}`)), 45_000);
    const check = () => {
      if (out.includes('LabHub is running at')) {
        clearTimeout(timer);
        resolveReady();
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hub exited with ${code} before starting:\n${out}`));
    });
  });
  return {
    child,
    publicUrl: `http://127.0.0.1:${port}`,
    hubUrl: `http://127.0.0.1:${hubPort}`,
    dataDir,
    port,
    hubPort,
    output: () => out,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolveExit) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolveExit(child.exitCode);
        child.once('exit', (code) => resolveExit(code));
        child.kill(signal);
      }),
  };
}

/** Runs `labhub <args>` to completion. */
export function runLabhub(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [LABHUB_BIN, ...args], { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('exit', (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** A REST call to a running hub with a token (JSON body when given). */
export function hubApi(hub: HubProcess, token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${hub.publicUrl}/hub/api${path}`, { method, headers: { Authorization: `token ${token}`, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
}

/** A new API token for `user`, made with `labhub token` against the hub's data directory. */
export async function hubToken(hub: HubProcess, user: string): Promise<string> {
  return (await runLabhub(['token', user, '--data-dir', hub.dataDir])).stdout.trim();
}

export { isAlive as isPidAlive } from "../../spawners/process-info.js";
