// Copies non-TypeScript assets (views, static files, SQL migrations, error pages) next to the compiled JS in dist/.
import { chmodSync, cpSync, existsSync } from 'node:fs';
const assets = ['hub/views', 'hub/static', 'hub/db/migrations', 'proxy/error', 'proxy/store/migrations', 'spawners/scripts'];
for (const dir of assets) {
  if (existsSync(dir)) cpSync(dir, `dist/${dir}`, { recursive: true });
}
// labhub-proxy is exec'd directly (e.g. c.ConfigurableHTTPProxy.command = ['.../dist/proxy/main.js']); tsc drops the x bit
if (existsSync('dist/proxy/main.js')) chmodSync('dist/proxy/main.js', 0o755);
