/** The README's configuration reference is generated from the schema; this keeps them in sync. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { describeConfig } from '../../config/load.js';
import { ConfigSchema } from '../../config/schema.js';

describe('README', () => {
  const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

  it('lists every configuration key exactly as the schema describes it (run `npm run docs:config`)', () => {
    const start = readme.indexOf('<!-- config-reference:start -->');
    const end = readme.indexOf('<!-- config-reference:end -->');
    expect(start).toBeGreaterThan(0);
    const table = readme.slice(start, end);
    for (const r of describeConfig()) {
      const row = `| \`${r.path}\` | ${r.type} | ${r.default ? `\`${r.default}\`` : ''} | ${r.description.replace(/\|/g, '\\|')} |`;
      expect(table, `README row for ${r.path}`).toContain(row);
    }
    const rows = table.split('\n').filter((l) => l.startsWith('| `'));
    expect(rows.length).toBe(describeConfig().length);
  });

  it('every full configuration example in the README is valid', () => {
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).filter((b) => /^(profiles|spawner|auth|services):/m.test(b));
    expect(blocks.length).toBeGreaterThan(0);
    for (const b of blocks) {
      const parsed = ConfigSchema.safeParse(parseYaml(b));
      expect(parsed.success, `${b.slice(0, 80)}…: ${parsed.success ? '' : parsed.error.message}`).toBe(true);
    }
  });

  it('every configuration example in docs/*.md is valid', () => {
    const docs = join(import.meta.dirname, '..', '..', 'docs');
    let checked = 0;
    for (const f of readdirSync(docs).filter((n) => n.endsWith('.md'))) {
      for (const [, block] of readFileSync(join(docs, f), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)) {
        const parsed = ConfigSchema.safeParse(parseYaml(block));
        expect(parsed.success, `${f}: ${block.slice(0, 80)}…: ${parsed.success ? '' : parsed.error.message}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(5);
  });

  it('gives the two commands', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
  });
});
