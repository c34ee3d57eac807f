#!/usr/bin/env node
// STAND-IN FOR APPTAINER — NOT APPTAINER. Apptainer/Singularity is not installable on the test machines
// (not in Debian 12, not on npm), so the apptainer spawner's tests run this small program in its place.
// It accepts the subset of `apptainer exec` / `instance start|stop|list` the spawner uses, checks it the way apptainer would
// (known options, bind sources exist, image reference well-formed / .sif present), builds the
// environment with apptainer's documented rules (--cleanenv, APPTAINERENV_/SINGULARITYENV_ prefixes,
// --env K=V[,K=V] comma-separated), then runs the command DIRECTLY on the host (no container, no
// namespaces, binds are not mounted) and exits with its status. `instance start` only records the instance
// (a JSON file per name and user; no process, no startscript); `exec instance://NAME` uses the recorded image.
// FAKE_APPTAINER_LOG=<file>: appends one JSON line per invocation {argv, binds, envNames, image, cmd}.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

const argv = process.argv.slice(2);
const die = (msg) => {
  console.error(`FATAL:   ${msg}`);
  process.exit(255);
};
const logInvocation = (extra) => {
  if (process.env.FAKE_APPTAINER_LOG) appendFileSync(process.env.FAKE_APPTAINER_LOG, JSON.stringify({ pid: process.pid, argv, ...extra }) + '\n');
};
// Instances are per user, as in apptainer (~/.apptainer/instances): a JSON file per name here.
const instanceDir = join(tmpdir(), `fake-apptainer-instances-${process.getuid()}`);
const instanceFile = (name) => join(instanceDir, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
let sub = argv[0];
let first = 1;
if (sub === 'instance') {
  const action = argv[1];
  if (action === 'stop') {
    const name = argv[2];
    if (!name || !existsSync(instanceFile(name))) die(`no instance found with name ${name ?? ''}`);
    const { image } = JSON.parse(readFileSync(instanceFile(name), 'utf8'));
    unlinkSync(instanceFile(name));
    logInvocation({ instanceStop: name });
    console.log(`INFO:    Stopping ${name} instance of ${image}`);
    process.exit(0);
  }
  if (action === 'list') {
    const names = existsSync(instanceDir) ? readdirSync(instanceDir).map((f) => f.replace(/\.json$/, '')) : [];
    console.log(JSON.stringify({ instances: names.map((n) => ({ instance: n })) }));
    process.exit(0);
  }
  if (action !== 'start') die(`fake-apptainer: unknown instance action '${action ?? ''}'`);
  sub = 'instance start';
  first = 2;
} else if (sub !== 'exec') die(`fake-apptainer only implements 'exec' and 'instance start|stop|list' (got '${sub ?? ''}')`);
const FLAGS = new Set(['--cleanenv', '-e', '--contain', '-c', '--nv', '--writable-tmpfs', '--no-home', '--containall', '-C', '--rocm']);
const VALUED = new Set(['--bind', '-B', '--env', '--pwd', '--home', '-H', '--env-file', '--overlay', '-o', '--memory', '--cpus']);
const opts = { flags: new Set(), binds: [], env: {}, pwd: undefined, envFile: undefined, limits: {} };
let i = first;
for (; i < argv.length && argv[i].startsWith('-'); i++) {
  const a = argv[i];
  if (FLAGS.has(a)) opts.flags.add(a);
  else if (VALUED.has(a)) {
    const v = argv[++i];
    if (v === undefined) die(`flag needs an argument: ${a}`);
    if (a === '--bind' || a === '-B') opts.binds.push(...v.split(','));
    else if (a === '--env') {
      for (const kv of v.split(',')) {
        const eq = kv.indexOf('=');
        if (eq < 1) die(`invalid --env value '${kv}'`);
        opts.env[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
    } else if (a === '--memory') {
      // apptainer: bytes, or a number with a k/m/g suffix (its cgroups option; not enforced by this stand-in)
      if (!/^\d+(\.\d+)?[kmgKMG]?[bB]?$/.test(v)) die(`invalid memory limit '${v}'`);
      opts.limits.memory = v;
    } else if (a === '--cpus') {
      if (!/^\d+(\.\d+)?$/.test(v)) die(`invalid cpus '${v}'`);
      opts.limits.cpus = v;
    } else if (a === '--pwd') opts.pwd = v;
    else if (a === '--env-file') opts.envFile = v;
  } else die(`unknown flag: ${a}`);
}
let image = argv[i++];
const cmd = argv.slice(i);
if (!image) die('no image given');
if (sub === 'instance start') {
  const name = cmd[0];
  if (!name || !/^[A-Za-z0-9_.-]+$/.test(name)) die(`invalid instance name '${name ?? ''}'`);
  if (existsSync(instanceFile(name))) die(`instance ${name} already exists`);
  if (!/^(docker|oras|library|shub|docker-archive|https?):\/\//.test(image) && !existsSync(image)) die(`could not open image ${image}: no such file or directory`);
  for (const b of opts.binds) if (!existsSync(b.split(':')[0])) die(`mount source ${b.split(':')[0]} doesn't exist`);
  // FAKE_APPTAINER_START_DELAY_MS: pretend the image takes a while to pull/start (cancellation tests)
  const delay = Number(process.env.FAKE_APPTAINER_START_DELAY_MS ?? 0);
  if (delay > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delay);
  mkdirSync(instanceDir, { recursive: true });
  writeFileSync(instanceFile(name), JSON.stringify({ image, binds: opts.binds, flags: [...opts.flags] }));
  logInvocation({ instanceStart: name, image, binds: opts.binds, flags: [...opts.flags], limits: opts.limits });
  console.log(`INFO:    instance started successfully`);
  process.exit(0);
}
let instanceBinds = null;
if (image.startsWith('instance://')) {
  const name = image.slice('instance://'.length);
  if (!existsSync(instanceFile(name))) die(`no instance found with name ${name}`);
  const inst = JSON.parse(readFileSync(instanceFile(name), 'utf8'));
  instanceBinds = inst.binds;
  image = inst.image;
} else if (/^(docker|oras|library|shub|docker-archive|https?):\/\//.test(image)) {
  /* a remote reference: real apptainer would pull and convert it to a SIF */
} else if (!existsSync(image)) die(`could not open image ${image}: failed to retrieve path for ${image}: lstat ${image}: no such file or directory`);
if (cmd.length === 0) die('no command given');
for (const b of opts.binds) {
  const src = b.split(':')[0];
  if (!existsSync(src)) die(`container creation failed: mount ${src}->${b.split(':')[1] ?? src} error: while mounting ${src}: mount source ${src} doesn't exist`);
}

const prefix = basename(process.argv[1]).includes('singularity') || basename(process.env.FAKE_APPTAINER_NAME ?? '') === 'singularity' ? 'SINGULARITYENV_' : 'APPTAINERENV_';
const env = opts.flags.has('--cleanenv') || opts.flags.has('-e') || opts.flags.has('--containall') || opts.flags.has('-C')
  ? { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: process.env.HOME ?? '/', USER: process.env.USER ?? '' }
  : Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APPTAINERENV_') && !k.startsWith('SINGULARITYENV_')));
for (const [k, v] of Object.entries(process.env)) if (k.startsWith(prefix)) env[k.slice(prefix.length)] = v;
Object.assign(env, opts.env);
env.APPTAINER_CONTAINER = image;
env.APPTAINER_NAME = basename(image);

logInvocation({ binds: instanceBinds ?? opts.binds, flags: [...opts.flags], limits: opts.limits, image, cmd, envNames: Object.keys(env).sort(), pwd: opts.pwd, instance: instanceBinds !== null });
const child = spawn(cmd[0], cmd.slice(1), { stdio: 'inherit', env, cwd: opts.pwd && existsSync(opts.pwd) ? opts.pwd : process.cwd() });
child.on('error', (err) => die(`exec ${cmd[0]} failed: ${err.message}`));
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
