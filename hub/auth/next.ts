/**
 * `next` validation: only same-site paths, so a login link can never send the browser elsewhere
 * (no scheme, host, protocol-relative `//x` or `/\x`, backslashes, control characters or
 * whitespace; percent-encoded slashes are left encoded, so they stay part of a path).
 */
export function safeNext(next: unknown, fallback = '/hub/home'): string {
  if (typeof next !== 'string' || next === '' || next.length > 2048) return fallback;
  if (!next.startsWith('/') || next.startsWith('//')) return fallback;
  if (/[\\\x00-\x20\x7f]/.test(next)) return fallback;
  let decoded: string;
  try {
    decoded = decodeURIComponent(next);
  } catch {
    return fallback;
  }
  // "/%2F%2Fevil.com" or "/%5Cevil.com" would become protocol-relative if anything decoded it again.
  if (decoded.startsWith('//') || /[\\\x00-\x1f\x7f]/.test(decoded)) return fallback;
  try {
    const u = new URL(next, 'http://labhub.invalid');
    if (u.origin !== 'http://labhub.invalid') return fallback;
    const out = u.pathname + u.search + u.hash;
    return out.startsWith('//') ? fallback : out;
  } catch {
    return fallback;
  }
}
