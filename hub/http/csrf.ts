/**
 * CSRF protection for cookie-authenticated writes (JupyterHub 4.1+ style `_xsrf`): the token is an
 * HMAC of a per-browser nonce cookie and the login, so it cannot be forged from another origin.
 * Token-authenticated API calls are exempt, as in JupyterHub. A mismatched Origin is rejected too.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { IncomingHttpHeaders } from 'node:http';
import { HubError } from '../errors.js';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    if (!(k in out)) {
      try {
        out[k] = decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        out[k] = part.slice(i + 1).trim();
      }
    }
  }
  return out;
}

export class Csrf {
  constructor(
    private readonly secret: string,
    private readonly secure: boolean,
    /** the nonce cookie's name and path (hub-cookies.ts) */
    private readonly cookie: { name: string; path: string },
  ) {}

  tokenFor(nonce: string, binding: string): string {
    return createHmac('sha256', this.secret).update(`xsrf|${nonce}|${binding}`).digest('base64url');
  }

  /** Ensures the nonce cookie exists and exposes req.xsrfToken for templates. */
  issue(): RequestHandler {
    return (req, res, next) => {
      let nonce = parseCookies(req.headers.cookie)[this.cookie.name];
      if (!nonce || !/^[A-Za-z0-9_-]{16,64}$/.test(nonce)) {
        nonce = randomBytes(18).toString('base64url');
        res.cookie(this.cookie.name, nonce, { httpOnly: true, sameSite: 'lax', secure: this.secure, path: this.cookie.path });
      }
      (req as Request & { xsrfNonce?: string }).xsrfNonce = nonce;
      req.xsrfToken = this.tokenFor(nonce, req.session?.cookieId ?? '');
      next();
    };
  }

  /** Rotates the nonce (at login and logout), so a token seen before login is useless after. */
  rotate(req: Request, res: Response): void {
    const nonce = randomBytes(18).toString('base64url');
    res.cookie(this.cookie.name, nonce, { httpOnly: true, sameSite: 'lax', secure: this.secure, path: this.cookie.path });
    (req as Request & { xsrfNonce?: string }).xsrfNonce = nonce;
    req.xsrfToken = this.tokenFor(nonce, req.session?.cookieId ?? '');
  }

  /** Rejects unsafe cookie-authenticated requests without a valid token. */
  check(): RequestHandler {
    return (req: Request, _res: Response, next: NextFunction) => {
      if (SAFE.has(req.method) || req.identity?.via === 'token') return next();
      try {
        this.verify(req.headers, xsrfField(req.body) ?? (typeof req.query._xsrf === 'string' ? req.query._xsrf : undefined), req.xsrfToken);
        next();
      } catch (err) {
        next(err);
      }
    };
  }

  /**
   * The check itself, for any HTTP layer: a foreign Origin is refused, and the token sent (header,
   * else `formValue` from the body or query) must match `expected`.
   */
  verify(headers: IncomingHttpHeaders, formValue: string | undefined, expected: string | undefined): void {
    const origin = headers.origin;
    if (origin && origin !== 'null') {
      let host: string | undefined;
      try {
        host = new URL(origin).host;
      } catch {
        host = undefined;
      }
      const allowed = [headers.host, headers['x-forwarded-host']].filter(Boolean);
      if (!host || !allowed.includes(host)) throw new HubError(403, 'Cross-origin request refused');
    }
    const sent = (headers['x-xsrftoken'] as string | undefined) ?? (headers['x-csrftoken'] as string | undefined) ?? formValue;
    if (!sent || !expected || !safeEqual(sent, expected)) throw new HubError(403, "'_xsrf' argument missing or incorrect");
  }

  /** The token a cookie-authenticated request must carry: from its nonce cookie and login. */
  expectedFor(cookieHeader: string | undefined, binding: string): string | undefined {
    const nonce = parseCookies(cookieHeader)[this.cookie.name];
    return nonce ? this.tokenFor(nonce, binding) : undefined;
  }
}

/** `_xsrf` from a parsed form or JSON body, if any. */
export function xsrfField(body: unknown): string | undefined {
  const v = typeof body === 'object' && body ? (body as Record<string, unknown>)._xsrf : undefined;
  return typeof v === 'string' ? v : undefined;
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
