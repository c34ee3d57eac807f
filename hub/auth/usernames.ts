/**
 * Username normalization and validation (JupyterHub normalize_username + validate_username):
 * lowercase, trimmed, limited characters, so names are safe in URLs, paths, container and
 * system-account names.
 */
import { HubError } from '../errors.js';

export const USERNAME_RE = /^[a-z0-9][a-z0-9._@-]{0,63}$/;

export function normalizeUsername(name: string): string {
  return name.trim().toLowerCase();
}

export function validateUsername(name: string): string | null {
  if (!name) return 'username must not be empty';
  if (name.length > 64) return 'username is longer than 64 characters';
  if (!USERNAME_RE.test(name)) return `invalid username '${name}': use lowercase letters, digits and . _ @ - (starting with a letter or digit)`;
  return null;
}

export function requireValidUsername(raw: unknown): string {
  if (typeof raw !== 'string') throw new HubError(400, 'username must be a string');
  const name = normalizeUsername(raw);
  const problem = validateUsername(name);
  if (problem) throw new HubError(400, problem);
  return name;
}

/**
 * The configurable form used by the login pipeline (auth.usernames): normalize (trim, optional
 * lowercase, username_map) then validate (length, pattern, and names that are never safe).
 */
export interface UsernamePolicy {
  normalize(raw: string): string;
  /** null when acceptable, else why not. */
  validate(name: string): string | null;
}

/** Never acceptable, whatever the configured pattern: path tricks, whitespace, control characters. */
const UNSAFE = /[/\\\s\x00-\x1f\x7f<>"'`%?#&:;]|^\.{1,2}$|^[.-]/;

export function usernamePolicy(cfg: { lowercase: boolean; maxLength: number; pattern: string; map: Record<string, string> }): UsernamePolicy {
  const pattern = new RegExp(cfg.pattern);
  return {
    normalize(raw) {
      let name = raw.normalize('NFKC').trim();
      if (cfg.lowercase) name = name.toLowerCase();
      return cfg.map[name] ?? name;
    },
    validate(name) {
      if (!name) return 'username must not be empty';
      if (name.length > cfg.maxLength) return `username is longer than ${cfg.maxLength} characters`;
      if (UNSAFE.test(name)) return `unsafe username '${name}'`;
      if (!pattern.test(name)) return `invalid username '${name}'`;
      return null;
    },
  };
}
