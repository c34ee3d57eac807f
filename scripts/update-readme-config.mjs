// Regenerates the configuration reference in README.md from the zod schema (`labhub config docs`).
// `npm run docs:config` after changing config/schema.ts; test/unit/readme.test.ts fails when they drift.
import { readFileSync, writeFileSync } from 'node:fs';
import { describeConfig } from '../dist/config/load.js';

export function configTable() {
  const rows = describeConfig().map((r) => `| \`${r.path}\` | ${r.type} | ${r.default ? `\`${r.default}\`` : ''} | ${r.description.replace(/\|/g, '\\|')} |`);
  return ['| Key | Type | Default | Description |', '|---|---|---|---|', ...rows].join('\n');
}

const START = '<!-- config-reference:start -->';
const END = '<!-- config-reference:end -->';
const readme = readFileSync('README.md', 'utf8');
const i = readme.indexOf(START);
const j = readme.indexOf(END);
if (i < 0 || j < 0) throw new Error('README.md has no config-reference markers');
writeFileSync('README.md', `${readme.slice(0, i + START.length)}\n${configTable()}\n${readme.slice(j)}`);
