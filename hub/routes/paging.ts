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

export function parsePaging(req: PagedRequest, _total: number): Paging {
  const paginated = (req.headers.accept ?? '').includes(PAGINATION_TYPE);
  const offset = req.query.offset === undefined ? 0 : Number(req.query.offset);
  if (!Number.isInteger(offset) || offset < 0) throw new HubError(400, `Invalid offset: ${String(req.query.offset)}; offset and limit must be integers`);
  // As JupyterHub: unpaginated clients get the max page by default; limits are clamped to 1..max.
  const raw = req.query.limit === undefined ? (paginated ? DEFAULT_LIMIT : MAX_LIMIT) : Number(req.query.limit);
  if (!Number.isInteger(raw)) throw new HubError(400, `Invalid limit: ${String(req.query.limit)}; offset and limit must be integers`);
  const limit = Math.min(MAX_LIMIT, Math.max(1, Math.abs(raw)));
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
