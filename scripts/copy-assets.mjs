// Copies non-TypeScript assets (views, static files, SQL migrations, error pages) next to the compiled JS in dist/.
import { chmodSync, cpSync, existsSync } from 'node:fs';
const assets = ['hub/views', 'hub/static', 'hub/db/migrations', 'proxy/error', 'proxy/store/migrations', 'spawners/scripts'];
for (const dir of assets) {
  if (existsSync(dir)) cpSync(dir, `dist/${dir}`, { recursive: true });
}
// labhub-proxy is exec'd directly (e.g. c.ConfigurableHTTPProxy.command = ['.../dist/proxy/main.js']), and so is the
// labhub bin (its #! line carries the hub's V8 flags); tsc drops the x bit
for (const bin of ['dist/proxy/main.js', 'dist/hub/main.js']) if (existsSync(bin)) chmodSync(bin, 0o755);
