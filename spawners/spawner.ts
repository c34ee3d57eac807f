/**
 * The whole spawner plugin API (after JupyterHub's Spawner: start/stop/poll + state).
 *
 * Spawners never see the database, tokens store or proxy: the hub's ServerManager builds the
 * environment, owns timeouts and readiness, and routes the proxy. A spawner only turns a
 * SpawnRequest into a running process/container/job/VM and reports where it listens.
 */
export type SpawnerState = Record<string, unknown>;

export type PollResult =
  | { status: 'running' }
  | { status: 'stopped'; exitCode: number | null; reason?: string };

export interface ProgressEvent {
  /** 0..100 */
  progress: number;
  message: string;
  html_message?: string;
}

export interface ResourceLimits {
  memBytes?: number;
  cpus?: number;
  gpus?: number;
}

export interface SpawnRequest {
  user: string;
  serverName: string;
  /** The JupyterHub environment contract (PROTOCOL.md B1), already built by the hub. */
  env: Record<string, string>;
  /** Where the hub will expect the server's HTTP prefix (e.g. /user/alice/). */
  servicePrefix: string;
  limits?: ResourceLimits;
  /** Validated user options (profile choice etc.). */
  userOptions: Record<string, unknown>;
  /** The user's groups, from the hub's database (never from user input): per-group mounts and limits. */
  groups?: string[];
  /** Aborted by the hub on start timeout or cancel. */
  signal: AbortSignal;
  /** Report progress; shown on the spawn-pending page. */
  onProgress?: (event: ProgressEvent) => void;
  /**
   * Resolves when the server itself reports where it listens (POST /hub/api/batchspawner or
   * …/server/report with its own token). For placements where the host is only known once the
   * workload runs (Slurm node, VM): the spawner starts the workload, then awaits this.
   */
  waitForAddressReport?: (signal: AbortSignal) => Promise<{ host: string; port: number }>;
  /**
   * A single-use URL (valid for the spawn) that returns `env` as JSON once: for workloads whose
   * launch data is visible to others (EC2 user-data, instance metadata), so the token is never
   * written there. GET it with no credentials; a second GET gets 404.
   */
  bootstrapUrl?: () => string;
  /**
   * Persists the spawner's state at once (the hub saves it to the database). Call it as soon as
   * something exists (process, container, job, instance), before start() returns: a hub killed
   * mid-start then finds it on restart and cleans it up instead of orphaning it.
   */
  onState?: (state: SpawnerState) => void;
}

export interface StartResult {
  /** scheme://host:port where the hub and proxy reach the server (no path). */
  url: string;
}

export interface Spawner {
  readonly kind: string;
  start(req: SpawnRequest): Promise<StartResult>;
  /** Resolves when the server is really gone. Idempotent. */
  stop(opts?: { now?: boolean }): Promise<void>;
  /** never-started or unknown ⇒ stopped; still starting ⇒ running. */
  poll(): Promise<PollResult>;
  /** JSON-serialisable; persisted by the hub after start/stop. `{}` once stopped. */
  getState(): SpawnerState;
  /** Last lines of the server's own output, for error pages. */
  recentLogs?(): string[];
  /**
   * Opens an interactive shell in the server's environment (web terminal): a pty for local
   * processes, `docker exec` with a TTY for containers, a step in the job for Slurm.
   */
  terminal?(opts: { cols: number; rows: number }): Promise<TerminalSession>;
  /**
   * Where another port of this server is reached from the proxy (shared ports), when that is not
   * the server's own host (e.g. a container's internal address). Default: the server URL's host.
   */
  portTarget?(port: number): string | undefined;
}

/** A running interactive shell. Output arrives through onData; close() ends it. */
export interface TerminalSession {
  write(data: string): void;
  resize(cols: number, rows: number): void;
  onData(cb: (data: string) => void): void;
  onExit(cb: (code: number | null) => void): void;
  close(): void;
}

export interface SpawnerContext {
  /** Directory the hub owns (homes, logs). */
  dataDir: string;
  log: { info(obj: unknown, msg?: string): void; warn(obj: unknown, msg?: string): void; error(obj: unknown, msg?: string): void; debug(obj: unknown, msg?: string): void };
  /** Identifier of this hub, used to label resources. */
  hubId: string;
}

export interface SpawnerFactory<O> {
  kind: string;
  create(ctx: SpawnerContext, options: O, identity: { user: string; serverName: string }, state?: SpawnerState): Spawner;
  /** For kinds whose workloads outlive the hub and cost resources (containers, VMs): find and remove them. */
  inventory?: WorkloadInventory<O>;
}

/** A container or VM on an engine, labelled or tagged as created by this hub (ctx.hubId). */
export interface Workload {
  kind: string;
  /** The engine's id (container id, instance id). */
  id: string;
  user: string;
  server: string;
  /** The engine's word for its state (running, exited, stopped, pending, …). */
  state: string;
  /** Whether it uses compute right now (a stopped VM or exited container still holds disk). */
  running: boolean;
  /** Where it lives: Docker host URL, AWS region. */
  where: string;
  created: string | null;
}

export interface WorkloadInventory<O> {
  /** Every workload this hub created at the place `options` points to. */
  list(ctx: SpawnerContext, options: O): Promise<Workload[]>;
  /** Removes one for good (container removed with its anonymous volumes, VM terminated). */
  remove(ctx: SpawnerContext, options: O, workload: Workload): Promise<void>;
  /** Names the place `options` point to: profiles on the same hosts/region are listed once. */
  placeKey(options: O): string;
  /** The workload id a server's saved spawner state names, if any. */
  idInState(state: SpawnerState): string | undefined;
}
