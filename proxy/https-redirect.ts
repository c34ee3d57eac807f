/**
 * Plain-HTTP listener that sends every request to the HTTPS address (CHP --redirect-port): the
 * same host, the HTTPS port (omitted when 443), the same path. Shared by labhub-proxy and the hub.
 */
import http from 'node:http';

export function createHttpsRedirect(httpsPort: number): http.Server {
  return http.createServer((req, res) => {
    if (typeof req.headers.host === 'undefined') {
      res.statusCode = 400;
      res.end(`This server is HTTPS-only on port ${httpsPort}, but an HTTP request was made and the host could not be determined from the request.`);
      return;
    }
    let host = req.headers.host.split(':')[0];
    if (httpsPort !== 443) host = `${host}:${httpsPort}`;
    res.writeHead(301, { Location: `https://${host}${req.url}` });
    res.end();
  });
}
