/**
 * CHP's command line (bin/configurable-http-proxy, PROTOCOL.md A1) → ProxyOptions.
 * The library never reads argv or the environment; this module does, for main.ts.
 */
import fs from 'node:fs';
import type https from 'node:https';
import { Command, Option } from 'commander';
import type { ProxyLogger } from './log.js';
import type { ProxyOptions } from './proxy.js';

export interface CliResult {
  options: ProxyOptions;
  logLevel: string;
  pidFile?: string;
  redirectPort?: number;
  redirectTo?: number;
}

function collectHeader(value: string, previous: Record<string, string>): Record<string, string> {
  value = value.trim();
  const colon = value.indexOf(':');
  if (colon <= 0) {
    console.error('A colon was expected in custom header: ' + value);
    process.exit(1);
  }
  previous[value.slice(0, colon).trim()] = value.slice(colon + 1).trim();
  return previous;
}

const int = (v: string) => parseInt(v, 10);

export function buildCommand(version: string): Command {
  return new Command()
    .name('labhub-proxy')
    .version(version)
    .option('--ip <ip-address>', 'Public-facing IP of the proxy')
    .option('--port <n>', 'Public-facing port of the proxy (defaults to 8000)', int)
    .addOption(new Option('--socket <path>', 'Path to a UNIX domain socket for the proxy to listen on').conflicts(['port', 'ip']))
    .option('--ssl-key <keyfile>', 'SSL key to use, if any')
    .option('--ssl-cert <certfile>', 'SSL certificate to use, if any')
    .option('--ssl-ca <ca-file>', 'SSL certificate authority, if any')
    .option('--ssl-request-cert', 'Request SSL certs to authenticate clients')
    .option('--ssl-reject-unauthorized', 'Reject unauthorized SSL connections (only meaningful if --ssl-request-cert is given)')
    .option('--ssl-protocol <ssl-protocol>', 'Set specific SSL protocol, e.g. TLSv1_2, SSLv3')
    .option('--ssl-ciphers <ciphers>', '`:`-separated ssl cipher list. Default excludes RC4')
    .option('--ssl-allow-rc4', 'Allow RC4 cipher for SSL (disabled by default)')
    .option('--ssl-dhparam <dhparam-file>', 'SSL Diffie-Helman Parameters pem file, if any')
    .option('--api-ip <ip>', 'Inward-facing IP for API requests', 'localhost')
    .option('--api-port <n>', 'Inward-facing port for API requests (defaults to --port=value+1)', int)
    .addOption(new Option('--api-socket <path>', 'Path to a UNIX domain socket for the API server').conflicts(['api-port', 'api-ip']))
    .option('--api-ssl-key <keyfile>', 'SSL key to use, if any, for API requests')
    .option('--api-ssl-cert <certfile>', 'SSL certificate to use, if any, for API requests')
    .option('--api-ssl-ca <ca-file>', 'SSL certificate authority, if any, for API requests')
    .option('--api-ssl-request-cert', 'Request SSL certs to authenticate clients for API requests')
    .option('--api-ssl-reject-unauthorized', 'Reject unauthorized SSL connections (only meaningful if --api-ssl-request-cert is given)')
    .option('--client-ssl-key <keyfile>', 'SSL key to use, if any, for proxy to client requests')
    .option('--client-ssl-cert <certfile>', 'SSL certificate to use, if any, for proxy to client requests')
    .option('--client-ssl-ca <ca-file>', 'SSL certificate authority, if any, for proxy to client requests')
    .option('--client-ssl-request-cert', 'Request SSL certs to authenticate clients for API requests')
    .option('--client-ssl-reject-unauthorized', 'Reject unauthorized SSL connections (only meaningful if --client-ssl-request-cert is given)')
    .option('--default-target <host>', 'Default proxy target (proto://host[:port])')
    .option('--error-target <host>', 'Alternate server for handling proxy errors (proto://host[:port])')
    .option('--error-path <path>', 'Alternate server for handling proxy errors (proto://host[:port])')
    .option('--redirect-port <redirect-port>', 'Redirect HTTP requests on this port to the server on HTTPS', int)
    .option('--redirect-to <port>', 'Redirect HTTP requests from --redirect-port to this port', int)
    .option('--pid-file <pid-file>', 'Write our PID to a file')
    .option('--no-x-forward', "Don't add 'X-forward-' headers to proxied requests")
    .option('--no-prepend-path', 'Avoid prepending target paths to proxied requests')
    .option('--no-include-prefix', "Don't include the routing prefix in proxied requests")
    .option('--auto-rewrite', 'Rewrite the Location header host/port in redirect responses')
    .option('--change-origin', 'Changes the origin of the host header to the target URL')
    .option('--protocol-rewrite <proto>', 'Rewrite the Location header protocol in redirect responses to the specified protocol')
    .option(
      '--custom-header <header>',
      'Custom header to add to proxied requests. Use same option for multiple headers (--custom-header k1:v1 --custom-header k2:v2)',
      collectHeader,
      {},
    )
    .option('--insecure', 'Disable SSL cert verification')
    .option('--host-routing', 'Use host routing (host as first level of path)')
    .option('--host-route-domain <domain>', 'LabHub: route requests for hosts under this domain by host (routes /<host>/…), all others by path')
    .option('--host-route-fallback <url>', 'LabHub: redirect GET/HEAD requests for such a host that match no route to this origin, same path')
    .option('--metrics-ip <ip>', 'IP for metrics server', '')
    .option('--metrics-port <n>', 'Port of metrics server. Defaults to no metrics server', int)
    .addOption(new Option('--metrics-socket <path>', 'Path to a UNIX domain socket for the metrics server').conflicts(['metrics-port', 'metrics-ip']))
    .option('--log-level <loglevel>', 'Log level (debug, info, warn, error)', 'info')
    .option('--timeout <n>', 'Timeout (in millis) when proxy drops connection for a request.', int)
    .option('--proxy-timeout <n>', 'Timeout (in millis) when proxy receives no response from target.', int)
    .option('--storage-backend <storage-class>', "Define an external storage class ('memory', 'sqlite' or a module). Defaults to in-MemoryStore.")
    .option('--storage-path <file>', 'LabHub: SQLite file for persistent routes (implies --storage-backend sqlite)')
    .option('--keep-alive-timeout <timeout>', 'Set timeout (in milliseconds) for Keep-Alive connections', int);
}

const DEFAULT_CIPHERS = (rc4: string) =>
  [
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'DHE-RSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-SHA256',
    'DHE-RSA-AES128-SHA256',
    'ECDHE-RSA-AES256-SHA384',
    'DHE-RSA-AES256-SHA384',
    'ECDHE-RSA-AES256-SHA256',
    'DHE-RSA-AES256-SHA256',
    'HIGH',
    rc4,
    '!aNULL',
    '!eNULL',
    '!EXPORT',
    '!DES',
    '!RC4',
    '!MD5',
    '!PSK',
    '!SRP',
    '!CAMELLIA',
  ].join(':');

function loadCaChain(file: string): Buffer[] {
  const ca: Buffer[] = [];
  let cert: string[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    cert.push(line);
    if (/-END CERTIFICATE-/.test(line)) {
      ca.push(Buffer.from(cert.join('\n')));
      cert = [];
    }
  }
  return ca;
}

type Args = Record<string, unknown>;

export function parseCli(argv: string[], env: NodeJS.ProcessEnv, log: () => ProxyLogger, version = '0.0.0'): CliResult & { args: Args } {
  const cmd = buildCommand(version);
  cmd.parse(argv);
  const a = cmd.opts() as Args;
  const s = (k: string) => a[k] as string | undefined;
  const ciphers = s('sslCiphers') ?? DEFAULT_CIPHERS(a.sslAllowRc4 ? 'RC4' : '!RC4');
  const options: ProxyOptions = {};

  const tlsBlock = (prefix: 'ssl' | 'apiSsl' | 'clientSsl', passEnv?: string): https.ServerOptions => {
    const o: https.ServerOptions = {};
    if (s(`${prefix}Key`)) {
      o.key = fs.readFileSync(s(`${prefix}Key`)!);
      if (passEnv && env[passEnv]) o.passphrase = env[passEnv];
    }
    if (s(`${prefix}Cert`)) o.cert = fs.readFileSync(s(`${prefix}Cert`)!);
    if (s(`${prefix}Ca`)) o.ca = prefix === 'ssl' ? fs.readFileSync(s('sslCa')!) : loadCaChain(s(`${prefix}Ca`)!);
    if (s('sslDhparam')) o.dhparam = fs.readFileSync(s('sslDhparam')!);
    if (s('sslProtocol')) o.secureProtocol = `${s('sslProtocol')}_method`;
    o.ciphers = ciphers;
    o.honorCipherOrder = true;
    o.requestCert = !!a[`${prefix}RequestCert`];
    o.rejectUnauthorized = !!a[`${prefix}RejectUnauthorized`];
    return o;
  };
  if (s('sslKey') || s('sslCert')) options.ssl = tlsBlock('ssl', 'CONFIGPROXY_SSL_KEY_PASSPHRASE');
  if (s('apiSslKey') || s('apiSslCert')) options.apiSsl = tlsBlock('apiSsl', 'CONFIGPROXY_API_SSL_KEY_PASSPHRASE');
  if (s('clientSslKey') || s('clientSslCert') || s('clientSslCa')) {
    const c = tlsBlock('clientSsl');
    options.clientSsl = { key: c.key as Buffer, cert: c.cert as Buffer, ca: c.ca as Buffer[] };
  }

  options.defaultTarget = s('defaultTarget');
  options.errorTarget = s('errorTarget');
  options.errorPath = s('errorPath');
  options.hostRouting = !!a.hostRouting;
  options.hostRouteDomain = s('hostRouteDomain');
  options.hostRouteFallback = s('hostRouteFallback');
  options.authToken = env.CONFIGPROXY_AUTH_TOKEN || undefined;
  options.headers = a.customHeader as Record<string, string>;
  options.timeout = a.timeout as number | undefined;
  options.proxyTimeout = a.proxyTimeout as number | undefined;
  options.keepAliveTimeout = a.keepAliveTimeout as number | undefined;
  options.enableMetrics = !!a.metricsPort || !!a.metricsSocket;
  options.insecure = !!a.insecure;
  options.xfwd = a.xForward as boolean;
  options.prependPath = a.prependPath as boolean;
  options.includePrefix = a.includePrefix as boolean;
  options.autoRewrite = !!a.autoRewrite;
  options.changeOrigin = !!a.changeOrigin;
  options.protocolRewrite = s('protocolRewrite');
  options.storageBackend = s('storageBackend');
  options.storagePath = s('storagePath') ?? env.LABHUB_PROXY_STORAGE_PATH;

  // listen addresses (CHP parseListenOptions)
  if (s('socket')) options.socket = s('socket');
  else {
    // CHP: parseInt(port) || 8000. LabHub also accepts an explicit 0 (any free port; the
    // "Proxying" line reports the bound one), and then binds the API to a free port too.
    options.port = a.port === 0 ? 0 : (a.port as number) || 8000;
    let ip = s('ip');
    if (ip === '*') {
      log().warn("Interpreting ip='*' as all-interfaces. Preferred usage is 0.0.0.0 for all IPv4 or '' for all-interfaces.");
      ip = '';
    }
    options.ip = ip;
  }
  if (s('apiSocket')) options.apiSocket = s('apiSocket');
  else {
    options.apiPort = a.apiPort ? (a.apiPort as number) : options.port ? options.port + 1 : a.port === 0 ? 0 : 8001;
    options.apiIp = s('apiIp');
  }
  if (s('metricsSocket')) options.metricsSocket = s('metricsSocket');
  else if (a.metricsPort) {
    options.metricsPort = a.metricsPort as number;
    options.metricsIp = s('metricsIp');
  }
  return {
    args: a,
    options,
    logLevel: String(a.logLevel ?? 'info'),
    pidFile: s('pidFile'),
    redirectPort: a.redirectPort as number | undefined,
    redirectTo: a.redirectTo as number | undefined,
  };
}
