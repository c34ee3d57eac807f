/**
 * AWS Query protocol helpers for the fake EC2 server: form-encoded params → nested objects
 * (`Filter.1.Value.2=x` → {Filter: {1: {Value: {2: 'x'}}}}) and EC2-style XML responses.
 */
export type Params = { [k: string]: string | Params };

export function parseQuery(body: string): Params {
  const out: Params = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const parts = key.split('.');
    let node = out;
    for (const p of parts.slice(0, -1)) {
      if (typeof node[p] !== 'object') node[p] = {};
      node = node[p] as Params;
    }
    node[parts[parts.length - 1]] = value;
  }
  return out;
}

/** `{1: a, 2: b}` → [a, b] (in index order); anything else → []. */
export function list<T = string | Params>(v: string | Params | undefined): T[] {
  if (!v || typeof v !== 'object') return [];
  return Object.keys(v)
    .filter((k) => /^\d+$/.test(k))
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => v[k] as T);
}

export function str(v: string | Params | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function obj(v: string | Params | undefined): Params {
  return v && typeof v === 'object' ? v : {};
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Objects become elements, arrays become <name><item>…</item></name> (EC2's list shape). */
export function toXml(name: string, v: unknown): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return `<${name}>${v.map((x) => toXml('item', x)).join('')}</${name}>`;
  if (v instanceof Date) return `<${name}>${v.toISOString()}</${name}>`;
  if (typeof v === 'object') {
    return `<${name}>${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => toXml(k, x))
      .join('')}</${name}>`;
  }
  return `<${name}>${esc(String(v))}</${name}>`;
}

export const EC2_NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export function responseXml(action: string, requestId: string, body: Record<string, unknown>): string {
  const inner = Object.entries(body)
    .map(([k, v]) => toXml(k, v))
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${EC2_NS}"><requestId>${requestId}</requestId>${inner}</${action}Response>`;
}

export function errorXml(code: string, message: string, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${esc(code)}</Code><Message>${esc(message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`;
}
