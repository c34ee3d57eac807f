#!/usr/bin/env node
/**
 * `labhub-proxy`: a drop-in for the `configurable-http-proxy` executable (same flags, environment,
 * stdout lines, pid file and signal behaviour; PROTOCOL.md A1). JupyterHub can use it with
 * `c.ConfigurableHTTPProxy.command = ['labhub-proxy']`.
 */
import fs from 'node:fs';
import { createHttpsRedirect } from './https-redirect.js';
import { createRequire } from 'node:module';
import { parseCli } from './cli.js';
import { defaultLogger, type ProxyLogger } from './log.js';
import { createProxy } from './proxy.js';

const require = createRequire(import.meta.url);
function version(): string {
  for (const p of ['../package.json', '../../package.json']) {
    try {
      return (require(p) as { version: string }).version;
    } catch {
      /* try next */
    }
  }
  return '0.0.0';
}

async function main(): Promise<void> {
  let log: ProxyLogger = defaultLogger('info');
  const cli = parseCli(process.argv, process.env, () => log, version());
  log = defaultLogger(cli.logLevel);
  const { options } = cli;
  options.log = log;

  if (options.autoRewrite) log.info('AutoRewrite of Location headers enabled.');
  if (options.changeOrigin) log.info('Change Origin of host headers enabled.');
  if (options.protocolRewrite) log.info('ProtocolRewrite enabled. Rewriting to ' + options.protocolRewrite);
  if (!options.ssl && cli.redirectPort) {
    log.error('HTTPS redirection specified but certificates not provided.');
    process.exit(1);
  }
  if (options.errorTarget && options.errorPath) {
    log.error('Cannot specify both error-target and error-path. Pick one.');
    process.exit(1);
  }
  if (!options.authToken) log.warn('REST API is not authenticated.');

  process.on('SIGINT', () => {
    log.warn('Interrupted');
    process.exit(2);
  });
  process.on('SIGTERM', () => {
    log.warn('Terminated');
    process.exit(2);
  });

  const proxy = createProxy(options);
  try {
    await proxy.listen();
  } catch (e) {
    log.error('Failed to start: %s', e);
    process.exit(1);
  }
  process.on('exit', () => {
    // persist pending activity timestamps of a SQLite store
    void proxy.routes.close?.();
  });

  const where = (sock: string | undefined, ip: string | undefined, port: number) => sock ?? `${ip ?? ''}:${port}`;
  log.info(
    'Proxying %s://%s to %s',
    options.ssl ? 'https' : 'http',
    where(options.socket, options.ip, proxy.proxyPort),
    options.defaultTarget || '(no default)',
  );
  log.info('Proxy API at %s://%s/api/routes', options.apiSsl ? 'https' : 'http', where(options.apiSocket, options.apiIp, proxy.apiPort));
  if (proxy.metricsServer) {
    log.info('Serve metrics at %s://%s/metrics', 'http', where(options.metricsSocket, options.metricsIp, proxy.metricsPort));
  }

  if (cli.pidFile) {
    const pidFile = cli.pidFile;
    log.info('Writing pid %s to %s', process.pid, pidFile);
    fs.writeFileSync(pidFile, String(process.pid));
    process.on('exit', () => {
      log.debug('Removing %s', pidFile);
      try {
        fs.unlinkSync(pidFile);
      } catch {
        /* already gone */
      }
    });
  }

  // HTTP → HTTPS redirection (CHP: only when listening on a port other than 80)
  if (cli.redirectPort && options.port && options.port !== 80) {
    const redirectPort = cli.redirectTo ? cli.redirectTo : options.port;
    const server = createHttpsRedirect(redirectPort)
      .listen(cli.redirectPort, () => {
        const a = server.address();
        log.info(`Added HTTP to HTTPS redirection from ${typeof a === 'object' && a ? a.port : cli.redirectPort} to ${redirectPort}`);
      });
  }

  process.on('uncaughtException', (e) => {
    log.error('Uncaught Exception: ' + e.message);
    if (e.stack) log.error(e.stack);
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
