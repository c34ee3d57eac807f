/** One raw HTTP request for tests that send odd paths and bodies: the path goes out byte for byte (unlike fetch). */
import { request } from 'node:http';

export interface RawAnswer {
  status: number;
  contentType: string;
  location?: string;
  setCookie: string[];
  body: string;
}

/** Sends one request on its own connection; an event stream ends after its head; no answer in 10 s is an error. */
export function rawRequest(target: { host: string; port: number }, method: string, path: string, headers: Record<string, string>, body?: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    // an explicit length: Node sends a DELETE's body unframed otherwise, and the server would read it as a second request
    const framed = body === undefined ? headers : { ...headers, 'Content-Length': String(Buffer.byteLength(body)) };
    const req = request({ ...target, method, path, headers: framed, agent: false, timeout: 10_000 }, (res) => {
      const contentType = String(res.headers['content-type'] ?? '');
      const head = { status: res.statusCode ?? 0, contentType, location: res.headers.location, setCookie: res.headers['set-cookie'] ?? [] };
      if (contentType.startsWith('text/event-stream')) {
        resolve({ ...head, body: '' });
        return void res.destroy();
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ ...head, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in 10 s: ${method} ${path}`)));
    req.on('error', reject);
    req.end(body);
  });
}
