/** Typed request context filled by the auth middleware. */
import type { Identity } from '../access.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      identity?: Identity;
      /** The value to put in forms and X-XSRFToken for cookie-authenticated writes. */
      xsrfToken?: string;
    }
  }
}

declare module 'express-session' {
  interface SessionData {
    userId?: number;
    cookieId?: string;
    /** jupyterhub-session-id: OAuth tokens issued in this login carry it and die with it. */
    hubSessionId?: string;
  }
}

export {};
