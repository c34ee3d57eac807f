/** A dockerode client for a configured Docker host (unix socket, npipe, tcp with optional TLS). */
import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import type { DockerHostConfig } from './docker-options.js';

export function dockerClient(h: Pick<DockerHostConfig, 'url' | 'tls'>): Docker {
  const u = h.url;
  if (u.startsWith('unix://')) return new Docker({ socketPath: u.slice('unix://'.length) });
  if (u.startsWith('npipe:')) return new Docker({ socketPath: u });
  const url = new URL(u.replace(/^tcp:/, h.tls ? 'https:' : 'http:'));
  const read = (f?: string) => (f ? readFileSync(f) : undefined);
  return new Docker({
    protocol: url.protocol === 'https:' ? 'https' : 'http',
    host: url.hostname,
    port: Number(url.port || (url.protocol === 'https:' ? 2376 : 2375)),
    ca: read(h.tls?.ca),
    cert: read(h.tls?.cert),
    key: read(h.tls?.key),
    ...(h.tls && h.tls.verify === false ? { rejectUnauthorized: false } : {}),
  } as Docker.DockerOptions);
}
