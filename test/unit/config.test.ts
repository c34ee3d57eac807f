import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConfigFile, ConfigError, loadConfig } from '../../config/load.js';

function tmpFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'labhub-cfg-'));
  const file = join(dir, 'labhub.yaml');
  writeFileSync(file, text);
  return file;
}

describe('config', () => {
  it('has working defaults with nothing configured', () => {
    const { config } = loadConfig({ env: {} });
    expect(config).toMatchObject({ ip: '127.0.0.1', port: 8000, hubPort: 8081, dataDir: '.', spawner: { kind: 'local', cmd: ['jupyterhub-singleuser'] }, auth: { methods: [{ kind: 'local' }] }, proxy: { mode: 'inprocess' } });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.spawner)).toBe(true);
  });

  it('layers file < env < CLI flags', () => {
    const file = tmpFile('port: 9000\nhubPort: 9001\nlogLevel: debug\n');
    const { config } = loadConfig({ env: { LABHUB_PORT: '9100', LABHUB_HUB_PORT: '9101' }, file, cli: { port: 9200 } });
    expect(config.port).toBe(9200);
    expect(config.hubPort).toBe(9101);
    expect(config.logLevel).toBe('debug');
  });

  it('reads the file from LABHUB_CONFIG and secrets from the environment only', () => {
    const file = tmpFile('port: 9300\n');
    const loaded = loadConfig({ env: { LABHUB_CONFIG: file, LABHUB_CRYPT_KEY: 'a;b', CONFIGPROXY_AUTH_TOKEN: 'tok', LABHUB_ADMIN_PASSWORD: 'pw' } });
    expect(loaded.config.port).toBe(9300);
    expect(loaded.secrets).toMatchObject({ cookieSecret: undefined, cryptKeys: ['a', 'b'], proxyAuthToken: 'tok', adminPassword: 'pw' });
  });

  it('reports every problem with its key path', () => {
    const file = tmpFile('port: -1\nspawner:\n  kind: local\n  cmd: "not-a-list"\n  bogus: 1\nproxy:\n  mode: sideways\n');
    let err: unknown;
    try {
      loadConfig({ env: {}, file });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const paths = (err as ConfigError).problems.map((p) => p.path).sort();
    expect(paths).toEqual(['port', 'proxy.mode', 'spawner.bogus', 'spawner.cmd'].sort());
    expect((err as ConfigError).message).toContain(file);
  });

  it('rejects a non-integer env value and unknown spawner kinds', () => {
    expect(() => loadConfig({ env: { LABHUB_PORT: 'eighty' } })).toThrow(/LABHUB_PORT='eighty' is not an integer/);
    const file = tmpFile('spawner:\n  kind: mainframe\n');
    expect(() => loadConfig({ env: {}, file })).toThrow(ConfigError);
  });

  it('refuses two of its own listeners on one port, naming which (not EADDRINUSE after start)', () => {
    const problem = (cli: Record<string, number>, text = '') => {
      try {
        loadConfig({ env: {}, file: tmpFile(text), cli });
        return undefined;
      } catch (e) {
        return (e as ConfigError).problems.map((p) => `${p.path}: ${p.message}`).join('\n');
      }
    };
    // --hub-port = --port + 1 meets the proxy API's default port
    expect(problem({ port: 9400, hubPort: 9401 })).toMatch(/^proxy\.apiPort: port 9401 is taken by the hub \(hubPort\) as well as the proxy API \(proxy\.apiPort, by default port \+ 1\)/);
    expect(problem({ port: 9400, hubPort: 9400 })).toMatch(/^hubPort: port 9400 is taken by the public port/);
    expect(problem({ port: 9400, hubPort: 9500 }, 'proxy:\n  apiPort: 9500\n')).toMatch(/^proxy\.apiPort: port 9500/);
    expect(problem({ port: 9400, hubPort: 9500 }, 'ssl:\n  keyFile: k\n  certFile: c\n  redirectPort: 9401\n')).toMatch(/^ssl\.redirectPort: port 9401 is taken by the proxy API/);
    // different addresses may share a port number; 0.0.0.0 overlaps every address; port 0 is "any free port"
    expect(problem({ port: 9400, hubPort: 9401 }, 'hubIp: 127.0.0.2\n')).toBeUndefined();
    expect(problem({ port: 9400, hubPort: 9401 }, 'hubIp: 0.0.0.0\nproxy:\n  apiIp: 127.0.0.2\n')).toMatch(/proxy\.apiPort/);
    expect(problem({ port: 0, hubPort: 0 })).toBeUndefined();
    // an external proxy's ports are not ours
    expect(problem({ port: 9400, hubPort: 9401 }, 'proxy:\n  mode: external\n  apiUrl: http://127.0.0.1:9401\n')).toBeUndefined();
  });

  it('explains unreadable files and non-mapping YAML', () => {
    expect(() => loadConfig({ env: {}, file: '/nonexistent/labhub.yaml' })).toThrow(/cannot read .*ENOENT/);
    expect(() => loadConfig({ env: {}, file: tmpFile('- a\n- b\n') })).toThrow(/mapping of keys/);
    expect(loadConfig({ env: {}, file: tmpFile('') }).config.port).toBe(8000);
  });

  it('every shipped example is a valid configuration', () => {
    const dir = join(import.meta.dirname, '..', '..', 'config', 'examples');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(() => checkConfigFile(join(dir, f)), f).not.toThrow();
  });
});
