/**
 * Hub secrets: the cookie-signing secret, the auth-state encryption keys and the proxy API token.
 * Each comes from the environment, else from a file; when neither exists it is generated and
 * persisted with mode 0600 so the next start (and every running server's cookies) still works.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { EnvSecrets } from '../config/load.js';
import { HubError } from './errors.js';

export interface HubSecrets {
  cookieSecret: string;
  /** First key encrypts; all keys decrypt (rotation). 32-byte keys. */
  cryptKeys: Buffer[];
  proxyAuthToken: string;
}

function readOrCreate(file: string, generate: () => string): string {
  if (existsSync(file)) {
    const mode = statSync(file).mode & 0o077;
    if (mode !== 0) chmodSync(file, 0o600); // never leave a secret group/world readable
    const value = readFileSync(file, 'utf8').trim();
    if (!value) throw new HubError(500, `secret file ${file} is empty`);
    return value;
  }
  const value = generate();
  writeFileSync(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
  return value;
}

/** Accepts 32-byte keys as 64 hex chars or base64 (JupyterHub's JUPYTERHUB_CRYPT_KEY format). */
export function parseCryptKey(text: string): Buffer {
  const t = text.trim();
  const buf = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (buf.length !== 32) throw new HubError(500, 'LABHUB_CRYPT_KEY: each key must be 32 bytes (64 hex chars or base64)');
  return buf;
}

export function resolveSecrets(config: Config, env: EnvSecrets): HubSecrets {
  const dir = config.dataDir;
  const cookieSecret = env.cookieSecret ?? readOrCreate(config.cookieSecretFile ?? join(dir, 'labhub_cookie_secret'), () => randomBytes(32).toString('hex'));
  const cryptText = env.cryptKeys?.length
    ? env.cryptKeys
    : readOrCreate(config.cryptKeyFile ?? join(dir, 'labhub_crypt_key'), () => randomBytes(32).toString('hex')).split(';');
  const proxyAuthToken = env.proxyAuthToken ?? readOrCreate(config.proxyAuthTokenFile ?? join(dir, 'labhub_proxy_token'), () => randomBytes(32).toString('hex'));
  return { cookieSecret, cryptKeys: cryptText.filter((k) => k.trim()).map(parseCryptKey), proxyAuthToken };
}
