/**
 * The one error type of the hub. Domain code throws; http/error-handler.ts is the only place that
 * turns errors into responses (JSON {status, message} for the API, an HTML page for browsers).
 * `message` is what the user sees; `logMessage` (optional) is what goes to the log.
 */
export interface HubErrorOptions {
  code?: string;
  logMessage?: string;
  /** Trusted HTML shown on error pages instead of the escaped message. */
  htmlMessage?: string;
  headers?: Record<string, string>;
  cause?: unknown;
}

export class HubError extends Error {
  readonly code: string;
  readonly logMessage?: string;
  readonly htmlMessage?: string;
  readonly headers?: Record<string, string>;

  constructor(
    readonly status: number,
    message: string,
    opts: HubErrorOptions = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = 'HubError';
    this.code = opts.code ?? defaultCode(status);
    this.logMessage = opts.logMessage;
    this.htmlMessage = opts.htmlMessage;
    this.headers = opts.headers;
  }
}

/** A failed spawn; `reason` classifies it (image, capacity, timeout, exited, ...). */
export class SpawnError extends HubError {
  constructor(
    message: string,
    readonly reason: string,
    opts: HubErrorOptions & { status?: number } = {},
  ) {
    super(opts.status ?? 500, message, { code: `SPAWN_${reason.toUpperCase()}`, ...opts });
    this.name = 'SpawnError';
  }
}

function defaultCode(status: number): string {
  switch (status) {
    case 400: return 'BAD_REQUEST';
    case 401: return 'UNAUTHORIZED';
    case 403: return 'FORBIDDEN';
    case 404: return 'NOT_FOUND';
    case 405: return 'METHOD_NOT_ALLOWED';
    case 409: return 'CONFLICT';
    case 413: return 'PAYLOAD_TOO_LARGE';
    case 424: return 'SERVER_NOT_RUNNING';
    case 429: return 'TOO_MANY_REQUESTS';
    default: return status >= 500 ? 'INTERNAL' : 'ERROR';
  }
}

export const notFound = (what = 'Not Found') => new HubError(404, what);
export const badRequest = (message: string) => new HubError(400, message);
export const forbidden = (message = 'Forbidden') => new HubError(403, message);
