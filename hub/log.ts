/** Structured JSON logs (pino). Secrets are redacted by path so they never reach a log line. */
import { pino, type Logger, type DestinationStream } from 'pino';
import { requestMixin } from './request-context.js';

export type { Logger };

export const REDACT_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'authToken',
  '*.authToken',
  'secret',
  '*.secret',
  'client_secret',
  '*.client_secret',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'env.JUPYTERHUB_API_TOKEN',
  'env.JPY_API_TOKEN',
  'env.CONFIGPROXY_AUTH_TOKEN',
  'authState',
  '*.authState',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { app: 'labhub' }, mixin: requestMixin, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}
