/**
 * Every configuration value is validated: the shipped example configurations, with one value replaced
 * by a generated one of any type (or a key added where none belongs), either load or fail with a
 * ConfigError naming a path — never another exception from inside a refinement or transform — and the
 * same holds for arbitrary YAML text. Uses the real loader (`loadConfig` on a file, `parseConfigText`).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { ConfigError, loadConfig, parseConfigText } from '../../config/load.js';

const EXAMPLES = resolve(import.meta.dirname, '..', '..', 'config', 'examples');
const examples = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => ({ name: f, value: parseYaml(readFileSync(join(EXAMPLES, f), 'utf8')) as Record<string, unknown> }));
const dir = mkdtempSync(join(tmpdir(), 'labhub-config-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every path to a value in `v` (objects and arrays), the root excluded. */
function paths(v: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (v === null || typeof v !== 'object') return [];
  const entries: Array<[string | number, unknown]> = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
  return entries.flatMap(([k, x]) => [[...prefix, k], ...paths(x, [...prefix, k])]);
}

function setAt(root: unknown, path: Array<string | number>, value: unknown): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  node[path[path.length - 1]!] = value;
  return copy;
}

const oddValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(null, -1, 0, 0.5, 1e308, 65536, '', ' ', 'x'.repeat(5000), '../../etc/passwd', 'http://', 'ftp://x', '1h', '-5', 'true', [], {}, [null], { '': 1 }, '${HOME}', '\u0000'),
);

/** Loads `value` as a config file the way `labhub -c` does; returns the outcome, never throws. */
function load(value: unknown, i: number): 'ok' | ConfigError | Error {
  const file = join(dir, `c${i}.yaml`);
  writeFileSync(file, stringify(value));
  try {
    loadConfig({ env: {}, file });
    return 'ok';
  } catch (err) {
    return err as Error;
  }
}

let n = 0;
describe('configuration under generated values', () => {
  it('the example configurations load as they are', () => {
    for (const e of examples) expect(load(e.value, n++), e.name).toBe('ok');
  });

  it('one value replaced by anything: loads, or a ConfigError that names where', () => {
    const cases = examples.flatMap((e) => paths(e.value).map((p) => ({ e, p })));
    fc.assert(
      fc.property(fc.constantFrom(...cases), oddValue, ({ e, p }, v) => {
        const outcome = load(setAt(e.value, p, v), n++);
        if (outcome === 'ok') return;
        expect(outcome, `${e.name} ${p.join('.')} = ${JSON.stringify(v)?.slice(0, 80)}: ${String(outcome)}`).toBeInstanceOf(ConfigError);
        const problems = (outcome as ConfigError).problems;
        expect(problems.length).toBeGreaterThan(0);
        for (const problem of problems) expect(problem.path.length > 0 && problem.message.length > 0).toBe(true);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 1500) },
    );
  });

  it('a key added anywhere: loads, or a ConfigError', () => {
    const objects = examples.flatMap((e) => [{ e, p: [] as Array<string | number> }, ...paths(e.value).map((p) => ({ e, p }))]);
    fc.assert(
      fc.property(fc.constantFrom(...objects), fc.constantFrom('extra', 'kind', 'name', 'cmd', 'image', '__proto__', 'constructor', ''), oddValue, ({ e, p }, key, v) => {
        const parent = p.reduce<unknown>((node, k) => (node as Record<string | number, unknown>)[k], e.value);
        if (parent === null || typeof parent !== 'object' || Array.isArray(parent)) return;
        const outcome = load(p.length ? setAt(e.value, p, { ...(parent as object), [key]: v }) : { ...e.value, [key]: v }, n++);
        if (outcome !== 'ok') expect(outcome, String(outcome)).toBeInstanceOf(ConfigError);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 500) },
    );
  });

  it('arbitrary text as a configuration file: a mapping, or a ConfigError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.constantFrom('a: [', ': :', '- 1', 'port: 8000\nport: 8001', '!!js/function "x"', '&a [*a]', 'a: &x 1\nb: *y', '\t- x'), fc.jsonValue().map((v) => stringify(v))), (text) => {
        try {
          const parsed = parseConfigText(text, 'generated.yaml');
          expect(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)).toBe(true);
        } catch (err) {
          expect(err, String(err)).toBeInstanceOf(ConfigError);
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 1000) },
    );
  });
});
