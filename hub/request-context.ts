/**
 * Request ids: every request gets one (a sane incoming X-Request-Id is kept, else a new one), it is
 * echoed in the X-Request-Id response header, and every log line written while the request is
 * handled carries it as `reqId` (pino mixin reading AsyncLocalStorage), with no logger plumbing.
 * The same context tells the audit log who is acting (currentActor) without passing it around.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { RequestHandler } from 'express';

export const requestContext = new AsyncLocalStorage<{ reqId: string; req?: { identity?: { name: string } } }>();

/** Who is making the current request (user or service name), once authenticated; undefined outside requests. */
export function currentActor(): string | undefined {
  return requestContext.getStore()?.req?.identity?.name;
}

/** The pino mixin: adds reqId to log lines written inside a request. */
export function requestMixin(): Record<string, unknown> {
  const ctx = requestContext.getStore();
  return ctx ? { reqId: ctx.reqId } : {};
}

const SANE = /^[A-Za-z0-9._:-]{1,64}$/;

export function requestIds(): RequestHandler {
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const reqId = typeof incoming === 'string' && SANE.test(incoming) ? incoming : randomBytes(8).toString('hex');
    res.setHeader('X-Request-Id', reqId);
    requestContext.run({ reqId, req: req as { identity?: { name: string } } }, () => next());
  };
}
