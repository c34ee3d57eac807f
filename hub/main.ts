#!/usr/bin/env -S node --max-semi-space-size=4
/**
 * `labhub` process entry: argv → loadConfig() → startHub(); signals → graceful close.
 * Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage.
 */
import { Command, InvalidArgumentError } from 'commander';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, checkConfigFile, describeConfig, loadConfig, type CliOverrides } from '../config/load.js';
import { startHub } from './app.js';
import { migrate, openDb } from './db/db.js';
import { TokenRepo } from './db/tokens.js';
import { UserRepo } from './db/users.js';
import { isKnownScope } from './scopes.js';
import { systemClock, isoNow } from './clock.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(HERE, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

function int(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`${name} must be a port number (0-65535)`);
    return n;
  };
}

function fail(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`labhub: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(1);
}

interface GlobalOpts {
  config?: string;
  ip?: string;
  port?: number;
  hubIp?: string;
  hubPort?: number;
  db?: string;
  dataDir?: string;
  logLevel?: string;
}

function overrides(o: GlobalOpts): CliOverrides {
  return { ip: o.ip, port: o.port, hubIp: o.hubIp, hubPort: o.hubPort, db: o.db, dataDir: o.dataDir, logLevel: o.logLevel };
}

const program = new Command('labhub')
  .description('LabHub: a JupyterHub-compatible multi-user hub')
  .version(VERSION, '-V, --version')
  .option('-c, --config <file>', 'YAML configuration file (env LABHUB_CONFIG)')
  .option('--ip <ip>', 'public IP of the proxy (default 127.0.0.1)')
  .option('--port <port>', 'public port of the proxy (default 8000)', int('--port'))
  .option('--hub-ip <ip>', 'IP the hub listens on (default 127.0.0.1)')
  .option('--hub-port <port>', 'port the hub listens on (default 8081)', int('--hub-port'))
  .option('--db <file>', 'SQLite database file (default <data-dir>/labhub.sqlite)')
  .option('--data-dir <dir>', 'where secrets, the database, homes and logs live (default .)')
  .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
  .showHelpAfterError()
  .action(async (opts: GlobalOpts) => {
    let loaded;
    try {
      loaded = loadConfig({ env: process.env, file: opts.config, cli: overrides(opts) });
    } catch (err) {
      fail(err);
    }
    try {
      const running = await startHub(loaded, { onShutdown: () => process.exit(0) });
      process.stdout.write(`LabHub is running at ${running.publicUrl}/ (hub ${running.hubUrl})\n`);
      let closing = false;
      const shutdown = (signal: string) => {
        if (closing) return;
        closing = true;
        process.stdout.write(`Received ${signal}, shutting down (${loaded.config.operations.stopServersOnShutdown ? 'stopping servers' : 'servers keep running'})\n`);
        running.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
    } catch (err) {
      fail(err);
    }
  });

const configCmd = program.command('config').description('configuration tools');
configCmd
  .command('check <file>')
  .description('validate a configuration file; prints every problem with its key path')
  .action((file: string) => {
    try {
      checkConfigFile(file);
      process.stdout.write(`${file}: OK\n`);
    } catch (err) {
      fail(err);
    }
  });
configCmd
  .command('docs')
  .description('print the configuration reference (Markdown table)')
  .action(() => {
    process.stdout.write('| Key | Type | Default | Description |\n|---|---|---|---|\n');
    for (const r of describeConfig()) process.stdout.write(`| \`${r.path}\` | ${r.type} | ${r.default ? `\`${r.default}\`` : ''} | ${r.description.replace(/\|/g, '\\|')} |\n`);
  });

program
  .command('token <user>')
  .description('print a new API token for USER (like `jupyterhub token`)')
  .option('--note <note>', 'note shown on the token page', 'Requested via labhub token')
  .option('--expires-in <seconds>', 'lifetime in seconds (default: never expires)')
  .option('--scopes <list>', 'comma-separated scopes (default: inherit the user’s permissions)')
  .action((userName: string, o: { note: string; expiresIn?: string; scopes?: string }) => {
    let loaded;
    try {
      loaded = loadConfig({ env: process.env, file: program.opts<GlobalOpts>().config, cli: overrides(program.opts<GlobalOpts>()) });
    } catch (err) {
      fail(err);
    }
    const scopes = o.scopes ? o.scopes.split(',').map((s) => s.trim()).filter(Boolean) : ['inherit'];
    const unknown = scopes.filter((s) => s !== 'inherit' && !isKnownScope(s));
    if (unknown.length) {
      process.stderr.write(`labhub token: unknown scopes: ${unknown.join(', ')}\n`);
      process.exit(2);
    }
    let expiresIn: number | undefined;
    if (o.expiresIn !== undefined) {
      expiresIn = Number(o.expiresIn);
      if (!Number.isFinite(expiresIn) || expiresIn <= 0) {
        process.stderr.write('labhub token: --expires-in must be a positive number of seconds\n');
        process.exit(2);
      }
    }
    const { config } = loaded;
    const dbFile = config.db ?? join(config.dataDir, 'labhub.sqlite');
    if (!existsSync(dbFile)) {
      process.stderr.write(`labhub token: no database at ${dbFile} (start the hub once first, or pass --db/--data-dir)\n`);
      process.exit(1);
    }
    const db = openDb(dbFile);
    try {
      const user = new UserRepo(db).byName(userName);
      if (!user) {
        process.stderr.write(`labhub token: no such user: ${userName}\n`);
        process.exit(1);
      }
      const now = isoNow(systemClock);
      const { token } = new TokenRepo(db).create({ kind: 'api', userId: user.id, note: o.note, scopes, expiresAt: expiresIn ? new Date(Date.now() + expiresIn * 1000).toISOString() : null, now });
      process.stdout.write(`${token}\n`);
    } finally {
      db.close();
    }
  });

/** The database file of the configuration (global options and config file apply). */
function dbFileOf(): string {
  let loaded;
  try {
    loaded = loadConfig({ env: process.env, file: program.opts<GlobalOpts>().config, cli: overrides(program.opts<GlobalOpts>()) });
  } catch (err) {
    fail(err);
  }
  return loaded.config.db ?? join(loaded.config.dataDir, 'labhub.sqlite');
}

const dbCmd = program.command('db').description('database maintenance');
dbCmd
  .command('backup <file>')
  .description("copy the database to FILE with SQLite's online backup (safe while the hub runs)")
  .action(async (file: string) => {
    const dbFile = dbFileOf();
    if (!existsSync(dbFile)) fail(new Error(`no database at ${dbFile}`));
    if (existsSync(file)) fail(new Error(`${file} exists; refusing to overwrite it`));
    const db = openDb(dbFile, { migrate: false });
    try {
      await db.backup(file);
      chmodSync(file, 0o600);
      const version = db.pragma('user_version', { simple: true }) as number;
      process.stdout.write(`backed up ${dbFile} (schema version ${version}) to ${file}\n`);
    } catch (err) {
      fail(err);
    } finally {
      db.close();
    }
  });
dbCmd
  .command('upgrade')
  .description('apply pending schema migrations (back up first; the hub also does this at start)')
  .action(() => {
    const dbFile = dbFileOf();
    if (!existsSync(dbFile)) fail(new Error(`no database at ${dbFile}`));
    const db = openDb(dbFile, { migrate: false });
    try {
      const { from, to } = migrate(db);
      process.stdout.write(from === to ? `database is up to date (schema version ${to})\n` : `upgraded database from schema version ${from} to ${to}\n`);
    } catch (err) {
      fail(err);
    } finally {
      db.close();
    }
  });

program.parseAsync(process.argv).catch(fail);
