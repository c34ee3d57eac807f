/**
 * URL helpers with CHP / http-proxy-3 semantics and a fast path for ordinary request URLs.
 *
 * CHP runs `new URL(req.url, base)` for every request (routing key) and http-proxy-3 does it again
 * for the upstream path. Both only change a URL that has dot segments, backslashes, a leading '//',
 * a fragment or characters that need percent-encoding; `isPlain` detects the common case where the
 * WHATWG parser would return the input unchanged, so we can skip it.
 */

// chars the WHATWG URL parser would encode or interpret in a path/query, dot segments, '//' start
const NEEDS_URL_PARSER = /[^\x21-\x7e]|["<>`{}\\#'^|]|\/\.|%2e|^\/\//i;

function isPlain(url: string): boolean {
  return url.charCodeAt(0) === 47 && !NEEDS_URL_PARSER.test(url);
}

/** CHP targetForReq: decodeURIComponent(new URL(url, base).pathname). Throws URIError on a bad escape. */
export function routingPath(url: string): string {
  let pathname: string;
  if (isPlain(url)) {
    const q = url.indexOf('?');
    pathname = q === -1 ? url : url.slice(0, q);
  } else {
    pathname = new URL(url, 'http://example.com').pathname;
  }
  return pathname.indexOf('%') === -1 ? pathname : decodeURIComponent(pathname);
}

/** http-proxy-3 common.getPath: pathname + search of a request URL. */
export function getPath(url: string): string {
  if (url === '' || url.startsWith('?')) return url;
  if (isPlain(url)) {
    // an empty query ('/a?') has no search in WHATWG terms: http-proxy-3 sends '/a'
    const q = url.indexOf('?');
    return q === url.length - 1 ? url.slice(0, q) : url;
  }
  const u = new URL(url.startsWith('//') ? `http://base.invalid${url}` : url, 'http://base.invalid');
  return `${u.pathname}${u.search}`;
}

/**
 * http-proxy-3 urlJoin(targetPath, reqPath): concatenate without doubling the slash at the seam,
 * and merge query strings with '&'.
 */
export function urlJoin(a: string, b: string): string {
  let qa = '';
  let qb = '';
  let i = a.indexOf('?');
  if (i !== -1) {
    qa = a.slice(i + 1);
    a = a.slice(0, i);
  }
  i = b.indexOf('?');
  if (i !== -1) {
    qb = b.slice(i + 1);
    b = b.slice(0, i);
  }
  let out = '';
  for (const seg of [a, b]) {
    if (!seg) continue;
    if (out.endsWith('/')) out += seg.startsWith('/') ? seg.slice(1) : seg;
    else out += seg.startsWith('/') ? seg : '/' + seg;
  }
  const q = qa && qb ? `${qa}&${qb}` : qa || qb;
  return q ? `${out}?${q}` : out;
}

/** http-proxy-3 getPort: the port in the Host header, else 80/443. */
export function forwardedPort(host: string | undefined, encrypted: boolean): string {
  if (host) {
    const m = /:(\d+)/.exec(host);
    if (m) return m[1];
  }
  return encrypted ? '443' : '80';
}

/** CHP parseHost: Host header without port (undefined stays undefined, as in CHP). */
export function hostWithoutPort(host: string | undefined): string | undefined {
  if (!host) return host;
  const i = host.indexOf(':');
  return i === -1 ? host : host.slice(0, i);
}

/** For logs: URL without its query. */
export function logUrl(url: string | undefined): string | undefined {
  if (!url) return url;
  const i = url.indexOf('?');
  return i === -1 ? url : url.slice(0, i);
}
