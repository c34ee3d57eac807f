/** Minimal types for passport-github2 0.1.x (no @types package is maintained for it). */
declare module 'passport-github2' {
  import type { Strategy as PassportStrategy } from 'passport';
  export interface GitHubProfile {
    id: string;
    username?: string;
    displayName?: string;
    emails?: Array<{ value: string; primary?: boolean; verified?: boolean }>;
    _json: Record<string, unknown>;
  }
  export interface GitHubStrategyOptions {
    clientID: string;
    clientSecret: string;
    callbackURL?: string;
    authorizationURL?: string;
    tokenURL?: string;
    userProfileURL?: string;
    userEmailURL?: string;
    scope?: string[] | string;
    state?: boolean;
    allRawEmails?: boolean;
    userAgent?: string;
    name?: string;
  }
  export type VerifyCallback = (err: unknown, user?: unknown, info?: unknown) => void;
  export class Strategy implements PassportStrategy {
    name: string;
    constructor(options: GitHubStrategyOptions, verify: (accessToken: string, refreshToken: string | undefined, params: Record<string, unknown>, profile: GitHubProfile, done: VerifyCallback) => void);
    authenticate(req: unknown, options?: unknown): void;
  }
}
