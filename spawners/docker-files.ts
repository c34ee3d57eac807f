/**
 * The files the Docker spawner writes into a container before each start (the container contract,
 * see docs/docker-spawner.md), and a minimal ustar writer to ship them with PUT /containers/{id}/archive
 * (works on remote hosts and on created/stopped containers; no bind mount from the hub needed).
 *
 *   /opt/labhub/env                      sh-sourceable KEY='value' lines: the JupyterHub environment (API token included)
 *   /opt/labhub/repos                    url<TAB>dir<TAB>branch lines to clone or pull into $HOME
 *   /opt/labhub/bin/labhub-start         entrypoint wrapper: source env, clone/pull repos, exec "$@"
 *   /opt/labhub/bin/git-credential-labhub  git credential helper and GIT_ASKPASS: asks the hub for a fresh token
 */

export const LABHUB_DIR = '/opt/labhub';
export const ENV_FILE = `${LABHUB_DIR}/env`;
export const REPOS_FILE = `${LABHUB_DIR}/repos`;
export const START_SCRIPT = `${LABHUB_DIR}/bin/labhub-start`;
export const CREDENTIAL_HELPER = `${LABHUB_DIR}/bin/git-credential-labhub`;

export const LABHUB_START = `#!/bin/sh
# LabHub container entrypoint wrapper (written by LabHub's Docker spawner before each start).
# Reads the environment from $LABHUB_ENV_FILE (so the API token is not in \`docker inspect\`),
# clones or pulls the configured repositories into $HOME, then execs the image's command.
if [ -r "\${LABHUB_ENV_FILE:-${ENV_FILE}}" ]; then
  set -a; . "\${LABHUB_ENV_FILE:-${ENV_FILE}}"; set +a
fi
if [ -s ${REPOS_FILE} ]; then
  if command -v git >/dev/null 2>&1; then
    tab=$(printf '\\t')
    while IFS="$tab" read -r url dir branch; do
      [ -n "$url" ] || continue
      dest="$HOME/$dir"
      if [ -d "$dest/.git" ]; then
        echo "labhub: git pull --ff-only in $dest"
        GIT_TERMINAL_PROMPT=0 git -C "$dest" pull --ff-only || echo "labhub: pull of $url failed" >&2
      else
        echo "labhub: git clone $url $dest"
        if [ -n "$branch" ]; then
          GIT_TERMINAL_PROMPT=0 git clone --branch "$branch" "$url" "$dest" || echo "labhub: clone of $url failed" >&2
        else
          GIT_TERMINAL_PROMPT=0 git clone "$url" "$dest" || echo "labhub: clone of $url failed" >&2
        fi
      fi
    done < ${REPOS_FILE}
  else
    echo "labhub: git is not installed in this image; repositories not cloned" >&2
  fi
fi
cd "$HOME" 2>/dev/null || true
[ "$#" -gt 0 ] || { echo "labhub: no command to run (image has no CMD)" >&2; exit 127; }
# LabHub's own images run a shared entrypoint that would clone again: tell it this is done
export LABHUB_REPOS_DONE=1
exec "$@"
`;

export const GIT_CREDENTIAL_HELPER = `#!/bin/sh
# LabHub git credential helper (credential.helper) and GIT_ASKPASS program.
# Fetches a fresh token for the remote host from the hub with this server's own API token:
#   GET $JUPYTERHUB_API_URL/users/<user>/git-credentials?host=<host>&format=credential
# Nothing is stored: every git operation asks again.
base="\${JUPYTERHUB_ACTIVITY_URL%/activity}"
[ -n "$JUPYTERHUB_API_TOKEN" ] && [ -n "$base" ] || exit 0
mode=askpass
case "$1" in get) mode=get ;; store|erase) exit 0 ;; esac
host=""
if [ "$mode" = get ]; then
  while IFS='=' read -r k v; do
    [ -z "$k" ] && break
    [ "$k" = host ] && host="$v"
  done
else
  host=$(printf '%s' "$1" | sed -n "s#.*://\\([^@/']*@\\)\\{0,1\\}\\([^/']*\\).*#\\2#p")
fi
[ -n "$host" ] || exit 0
url="$base/git-credentials?format=credential&host=$host"
if command -v curl >/dev/null 2>&1; then
  out=$(printf 'header = "Authorization: token %s"\\n' "$JUPYTERHUB_API_TOKEN" | curl -fsS -K - "$url" 2>/dev/null)
elif command -v python3 >/dev/null 2>&1; then
  out=$(python3 -c 'import os,sys,urllib.request as u
r=u.Request(sys.argv[1],headers={"Authorization":"token "+os.environ["JUPYTERHUB_API_TOKEN"]})
sys.stdout.write(u.urlopen(r,timeout=20).read().decode())' "$url" 2>/dev/null)
elif command -v wget >/dev/null 2>&1; then
  out=$(wget -q -O - --header="Authorization: token $JUPYTERHUB_API_TOKEN" "$url" 2>/dev/null)
else
  echo "git-credential-labhub: needs curl, python3 or wget" >&2; exit 0
fi
[ -n "$out" ] || exit 0
if [ "$mode" = get ]; then
  printf '%s\\n' "$out"
else
  case "$1" in
    Username*) printf '%s\\n' "$out" | sed -n 's/^username=//p' ;;
    *) printf '%s\\n' "$out" | sed -n 's/^password=//p' ;;
  esac
fi
`;

/** KEY='value' lines for `set -a; . file`. Keys that are not shell names are dropped. */
export function shellEnvFile(env: Record<string, string>): string {
  let out = '';
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) continue;
    out += `${k}='${v.replaceAll("'", `'\\''`)}'\n`;
  }
  return out;
}

export interface TarEntry {
  name: string;
  /** undefined ⇒ directory */
  content?: string | Buffer;
  mode: number;
  uid?: number;
  gid?: number;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

/** A POSIX ustar archive of files and directories (names < 100 bytes). */
export function tarArchive(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  const mtime = Math.floor(Date.now() / 1000);
  for (const e of entries) {
    const isDir = e.content === undefined;
    const body = isDir ? Buffer.alloc(0) : Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content!, 'utf8');
    const name = isDir && !e.name.endsWith('/') ? `${e.name}/` : e.name;
    if (Buffer.byteLength(name) > 99) throw new Error(`tar name too long: ${name}`);
    const h = Buffer.alloc(512);
    h.write(name, 0, 100, 'utf8');
    h.write(octal(e.mode & 0o7777, 8), 100, 8, 'ascii');
    h.write(octal(e.uid ?? 0, 8), 108, 8, 'ascii');
    h.write(octal(e.gid ?? 0, 8), 116, 8, 'ascii');
    h.write(octal(body.length, 12), 124, 12, 'ascii');
    h.write(octal(mtime, 12), 136, 12, 'ascii');
    h.write('        ', 148, 8, 'ascii');
    h.write(isDir ? '5' : '0', 156, 1, 'ascii');
    h.write('ustar\u000000', 257, 8, 'ascii');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
    parts.push(h, body);
    const pad = (512 - (body.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
