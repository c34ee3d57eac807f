/**
 * Structural checks of the image definitions that CI cannot build here: images/rstudio/Dockerfile
 * (Posit's download server is unreachable; hadolint is neither in Debian nor on npm) and the three
 * images/*\/apptainer.def (no Apptainer here). The same checks run on the buildable Dockerfiles, which
 * test/setup/images.sh really builds. Shell in RUN / %post is linted with Debian's shellcheck.
 *
 * What is checked: BASE_IMAGE build argument used by the final FROM; the shared entrypoint is the
 * image's entrypoint (common image) and app images do not replace it; LABHUB_APP and CMD per app;
 * a non-root final USER; apt hygiene (-y, --no-install-recommends, lists removed); each Apptainer
 * definition bootstraps Debian bookworm, copies the same entrypoint, runs it with the Dockerfile's
 * CMD, sets the same LABHUB_APP, installs every package its Dockerfiles install, and pins the same versions.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/hub-process.js';
import { shellcheckReady } from './images-env.js';

interface Instr {
  op: string;
  args: string;
}

export function parseDockerfile(text: string): Instr[] {
  const out: Instr[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    if (!cur && (line.trim().startsWith('#') || !line.trim())) continue;
    if (cur && line.trim().startsWith('#')) continue;
    if (line.endsWith('\\')) {
      cur += line.slice(0, -1);
      continue;
    }
    cur += line;
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(cur);
    if (!m) throw new Error(`bad Dockerfile line: ${cur}`);
    out.push({ op: m[1].toUpperCase(), args: m[2].trim() });
    cur = '';
  }
  if (cur) throw new Error('dangling continuation');
  return out;
}

export function parseDef(text: string): { header: Record<string, string>; sections: Record<string, string> } {
  const header: Record<string, string> = {};
  const sections: Record<string, string> = {};
  let section: string | null = null;
  for (const line of text.split('\n')) {
    const s = /^%(\w+)\s*$/.exec(line);
    if (s) {
      section = s[1];
      if (section in sections) throw new Error(`duplicate section %${section}`);
      sections[section] = '';
      continue;
    }
    if (section) sections[section] += `${line}\n`;
    else if (!line.trim().startsWith('#') && line.trim()) {
      const m = /^(\w+):\s*(.+)$/.exec(line.trim());
      if (!m) throw new Error(`bad header line: ${line}`);
      header[m[1]] = m[2];
    }
  }
  return { header, sections };
}

/** Packages named by `apt-get install` commands (not .deb paths, not options). */
export function aptPackages(shell: string): string[] {
  const out: string[] = [];
  for (const m of shell.matchAll(/apt-get\s+install\s+([^&;\n|]+)/g)) {
    for (const w of m[1].split(/\s+/)) if (w && !w.startsWith('-') && !w.startsWith('/') && !w.includes('$')) out.push(w);
  }
  return out;
}

function shellcheck(script: string, what: string): void {
  if (!shellcheckReady(what)) return;
  const f = join(mkdtempSync(join(tmpdir(), 'labhub-sc-')), 'script.sh');
  writeFileSync(f, `#!/bin/sh\n${script}`);
  try {
    execFileSync('shellcheck', ['-s', 'sh', '-S', 'warning', f], { encoding: 'utf8' });
  } catch (err) {
    throw new Error(`shellcheck of ${what}:\n${(err as { stdout?: string }).stdout ?? String(err)}`);
  }
}

const read = (p: string) => readFileSync(join(REPO, 'images', p), 'utf8');
const APPS = [
  { dir: 'jupyterlab', app: 'jupyter', cmd: 'jupyterhub-singleuser', pins: [] as string[] },
  { dir: 'code-server', app: 'code-server', cmd: 'code-server', pins: ['NODE_VERSION', 'NPM_VERSION', 'CODE_SERVER_VERSION'] },
  { dir: 'rstudio', app: 'rstudio', cmd: 'rserver', pins: ['RSTUDIO_VERSION'] },
];

/** ARG defaults (NAME=value) of a Dockerfile. */
function argDefaults(ins: Instr[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of ins.filter((x) => x.op === 'ARG')) {
    const m = /^(\w+)=(.*)$/.exec(i.args);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

function checkRuns(ins: Instr[], what: string): void {
  const args = argDefaults(ins);
  for (const r of ins.filter((x) => x.op === 'RUN')) {
    const body = r.args;
    if (/apt-get\s+update/.test(body)) expect(body, `${what}: apt lists removed in the RUN that updates them`).toMatch(/rm -rf \/var\/lib\/apt\/lists\/\*/);
    for (const m of body.matchAll(/apt-get\s+install([^&;\n]*)/g)) {
      expect(m[1], `${what}: apt-get install -y`).toMatch(/\s-y\b/);
      expect(m[1], `${what}: --no-install-recommends`).toContain('--no-install-recommends');
    }
    shellcheck(`${Object.entries(args).map(([k, v]) => `${k}=${v}\nexport ${k}\n`).join('')}${body}\n`, `${what} RUN`);
  }
}

describe('image definitions', () => {
  it('common: ENTRYPOINT is the shared entrypoint, copied from images/common, BASE_IMAGE build arg, non-root USER', () => {
    const ins = parseDockerfile(read('common/Dockerfile'));
    expect(ins[0]).toEqual({ op: 'ARG', args: 'BASE_IMAGE=localhost/labhub-debian:bookworm' });
    expect(ins.filter((i) => i.op === 'FROM').map((i) => i.args)).toEqual(['${BASE_IMAGE}']);
    expect(ins.some((i) => i.op === 'COPY' && i.args === 'labhub-entrypoint /usr/local/bin/labhub-entrypoint')).toBe(true);
    expect(ins.filter((i) => i.op === 'ENTRYPOINT').map((i) => i.args)).toEqual(['["/usr/local/bin/labhub-entrypoint"]']);
    const user = ins.filter((i) => i.op === 'USER').at(-1)!.args;
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    checkRuns(ins, 'common');
  });

  for (const a of APPS) {
    it(`${a.dir}: FROM \${BASE_IMAGE}, keeps the shared entrypoint, LABHUB_APP=${a.app}, CMD ${a.cmd}, non-root USER, apt hygiene, RUN shell lints clean`, () => {
      const ins = parseDockerfile(read(`${a.dir}/Dockerfile`));
      const froms = ins.filter((i) => i.op === 'FROM');
      const firstFrom = ins.findIndex((i) => i.op === 'FROM');
      expect(ins.slice(0, firstFrom).some((i) => i.op === 'ARG' && i.args.startsWith('BASE_IMAGE='))).toBe(true);
      expect(froms.at(-1)!.args).toBe('${BASE_IMAGE}');
      const final = ins.slice(ins.lastIndexOf(froms.at(-1)!));
      expect(final.filter((i) => i.op === 'ENTRYPOINT')).toEqual([]); // the common image's entrypoint stays
      expect(final.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ')).toMatch(new RegExp(`LABHUB_APP=${a.app}(\\s|$)`));
      expect(final.filter((i) => i.op === 'CMD').map((i) => JSON.parse(i.args) as string[])).toEqual([[a.cmd]]);
      const user = final.filter((i) => i.op === 'USER').at(-1)!.args;
      expect(user).not.toMatch(/^(root|0)(:|$)/);
      // numeric: the Docker spawner then writes its environment file (with the server token) readable by this uid only
      expect(user).toMatch(/^(\d+|\$\{NB_UID\}):(\d+|\$\{NB_GID\})$/);
      checkRuns(ins, a.dir);
    });

    it(`${a.dir}/apptainer.def matches its Dockerfile: Debian bookworm, the same entrypoint, command, LABHUB_APP, packages and versions`, () => {
      const { header, sections } = parseDef(read(`${a.dir}/apptainer.def`));
      expect(header).toMatchObject({ Bootstrap: 'debootstrap', OSVersion: 'bookworm' });
      expect(header.MirrorURL).toMatch(/^https?:\/\//);
      expect(Object.keys(sections).sort()).toEqual(['environment', 'files', 'labels', 'post', 'runscript']);
      expect(sections.files.trim()).toBe('images/common/labhub-entrypoint /usr/local/bin/labhub-entrypoint');
      expect(sections.runscript.trim()).toBe(`exec /usr/local/bin/labhub-entrypoint ${a.cmd} "$@"`);
      expect(sections.environment).toMatch(new RegExp(`LABHUB_APP=${a.app}(\\s|$)`));
      const runs = (f: string) => parseDockerfile(read(f)).filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
      const dockerPkgs = [...aptPackages(runs('common/Dockerfile')), ...aptPackages(runs(`${a.dir}/Dockerfile`))];
      expect(dockerPkgs.length).toBeGreaterThan(5);
      const defPkgs = new Set(aptPackages(sections.post));
      expect(dockerPkgs.filter((p) => !defPkgs.has(p))).toEqual([]);
      const args = argDefaults(parseDockerfile(read(`${a.dir}/Dockerfile`)));
      for (const pin of a.pins) {
        expect(args[pin], pin).toMatch(/^\d+(\.\d+)+([-+.][\w.+-]+)?$/); // a pinned version
        expect(sections.post).toContain(`${pin}=${args[pin]}\n`);
      }
      shellcheck(sections.post, `${a.dir}/apptainer.def %post`);
      shellcheck(sections.runscript, `${a.dir}/apptainer.def %runscript`);
    });
  }

  it("every Debian package the Dockerfiles and apptainer.def files install exists in bookworm (this machine's apt lists, no network)", () => {
    const release = readFileSync('/etc/os-release', 'utf8');
    let lists = true;
    try {
      execFileSync('apt-cache', ['policy', 'bash'], { encoding: 'utf8' });
    } catch {
      lists = false;
    }
    if (!/VERSION_CODENAME=bookworm/.test(release) || !lists) {
      if (process.env.CI === 'true' || process.env.CI === '1') throw new Error('[CI] needs a Debian bookworm machine with apt lists');
      console.warn('SKIPPING package check: not Debian bookworm with apt lists');
      return;
    }
    const pkgs = new Set<string>();
    const runs = (f: string) => parseDockerfile(read(f)).filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    for (const f of ['common/Dockerfile', ...APPS.map((a) => `${a.dir}/Dockerfile`)]) for (const p of aptPackages(runs(f))) pkgs.add(p);
    for (const a of APPS) for (const p of aptPackages(parseDef(read(`${a.dir}/apptainer.def`)).sections.post)) pkgs.add(p);
    expect(pkgs.size).toBeGreaterThan(20);
    const out = execFileSync('apt-cache', ['policy', ...pkgs], { encoding: 'utf8' });
    const missing = [...pkgs].filter((p) => !new RegExp(`^${p.replace(/[.+]/g, '\\$&')}:\\n\\s+Installed: .*\\n\\s+Candidate: (?!\\(none\\))`, 'm').test(out));
    expect(missing).toEqual([]);
  });

  it('the checks can fail: a Dockerfile that replaces the entrypoint and runs as root is caught', () => {
    const bad = parseDockerfile('ARG BASE_IMAGE=x\nFROM ${BASE_IMAGE}\nRUN apt-get update && apt-get install curl\nENTRYPOINT ["/bin/bash"]\nUSER root\n');
    expect(bad.filter((i) => i.op === 'ENTRYPOINT')).not.toEqual([]);
    expect(() => checkRuns(bad, 'bad')).toThrow();
    expect(aptPackages('apt-get install -y --no-install-recommends a b /tmp/x.deb "$X"')).toEqual(['a', 'b']);
    expect(() => parseDef('Bootstrap: debootstrap\n%post\n%post\n')).toThrow(/duplicate/);
  });
});
