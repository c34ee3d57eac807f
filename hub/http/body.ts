/**
 * Request bodies for the API: read with a size limit (raw-body), then parsed as JupyterHub's
 * get_json_body does — JSON whatever the Content-Type says, since many scripts omit it — except
 * HTML form posts, which are parsed as forms. An empty body is undefined (the router hands handlers {}
 * and tells them it was empty: JupyterHub refuses a few writes without one).
 */
import type { IncomingMessage } from 'node:http';
import { parse as parseForm } from 'node:querystring';
import getRawBody from 'raw-body';
import { HubError } from '../errors.js';

export async function readBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = req.headers['content-length'];
  if (declared === '0' || (declared === undefined && req.headers['transfer-encoding'] === undefined)) return undefined;
  let text: string;
  try {
    text = await getRawBody(req, { limit, length: declared, encoding: 'utf8' });
  } catch (err) {
    const type = (err as { type?: string }).type;
    if (type === 'entity.too.large') throw new HubError(413, 'Request body too large');
    throw new HubError(400, 'Could not read the request body');
  }
  if (text.trim() === '') return undefined;
  if ((req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return { ...parseForm(text) };
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HubError(400, 'Invalid JSON in request body');
  }
}
