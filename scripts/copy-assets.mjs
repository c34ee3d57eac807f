// Copies non-TypeScript assets (views, static files, SQL migrations, error pages) next to the compiled JS in dist/.
import { cpSync, existsSync } from 'node:fs';
const assets = ['hub/views', 'hub/static', 'hub/db/migrations', 'proxy/error', 'proxy/store/migrations'];
for (const dir of assets) {
  if (existsSync(dir)) cpSync(dir, `dist/${dir}`, { recursive: true });
}
