/**
 * JupyterHub pagination (apihandlers/base.py): `offset`/`limit`; clients that send
 * `Accept: application/jupyterhub-pagination+json` get {items, _pagination}, others a bare list
 * whose default limit is the maximum page (200), exactly as JupyterHub answers them.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { HubError } from '../errors.js';

export const PAGINATION_TYPE = 'application/jupyterhub-pagination+json';
export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;

/** What paging reads from a request and writes to a response (Express's or the API router's). */
export interface PagedRequest {
  headers: IncomingHttpHeaders;
  query: Record<string, unknown>;
  originalUrl: string;
}
export interface PagedResponse {
  type(contentType: string): unknown;
  json(value: unknown): void;
}

export interface Paging {
  offset: number;
  limit: number;
  paginated: boolean;
}

// What Python's int() accepts, as JupyterHub parses offset and limit: optional sign, digits, surrounding spaces.
const INTEGER = /^\s*[+-]?\d+\s*$/;

export function parsePaging(req: PagedRequest, _total: number): Paging {
  const paginated = (req.headers.accept ?? '').includes(PAGINATION_TYPE);
  const integer = (name: 'offset' | 'limit', fallback: number): number => {
    const v = req.query[name];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || !INTEGER.test(v) || !Number.isSafeInteger(Number(v))) throw new HubError(400, `Invalid ${name}: ${String(v)}; offset and limit must be integers`);
    // JupyterHub takes the absolute value of both
    return Math.abs(Number(v));
  };
  const offset = integer('offset', 0);
  // As JupyterHub: unpaginated clients get the max page by default; limits are clamped to 1..max.
  const limit = Math.min(MAX_LIMIT, Math.max(1, integer('limit', paginated ? DEFAULT_LIMIT : MAX_LIMIT)));
  return { offset, limit, paginated };
}

/** Sends one page whose items are already JSON text (`total` is the count over all pages). */
export function sendJsonPage(req: PagedRequest, res: PagedResponse & { jsonText(text: string): void }, paging: Paging, total: number, items: string[]): void {
  const list = `[${items.join(',')}]`;
  if (!paging.paginated) return void res.jsonText(list);
  res.type(PAGINATION_TYPE);
  res.jsonText(`{"items":${list},"_pagination":${JSON.stringify(paginationOf(req, paging, total))}}`);
}

function paginationOf(req: PagedRequest, paging: Paging, total: number): Record<string, unknown> {
  const nextOffset = paging.offset + paging.limit;
  const url = new URL(req.originalUrl, 'http://x');
  url.searchParams.set('offset', String(nextOffset));
  url.searchParams.set('limit', String(paging.limit));
  return { offset: paging.offset, limit: paging.limit, total, next: nextOffset < total ? { offset: nextOffset, limit: paging.limit, url: `${url.pathname}${url.search}` } : null };
}

/** Sends one page of `all`, mapping only the items on the page. */
export function sendPage<T>(req: PagedRequest, res: PagedResponse, all: readonly T[], toModel: (item: T) => unknown): void {
  const paging = parsePaging(req, all.length);
  const items = all.slice(paging.offset, paging.offset + paging.limit).map(toModel);
  if (!paging.paginated) return void res.json(items);
  res.type(PAGINATION_TYPE);
  res.json({ items, _pagination: paginationOf(req, paging, all.length) });
}
