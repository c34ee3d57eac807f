#!/usr/bin/env bash
# Test setup for LabHub's single-user images (issue 8): builds, on the private dockerd of
# test/setup/docker.sh (run that first; setup scripts run in alphabetical order), from the local Debian
# base it imported:
#   localhost/labhub-common:bookworm      images/common       (the shared entrypoint)
#   localhost/labhub-jupyterlab:labhub    images/jupyterlab   (FROM common: jupyterhub-singleuser behind the entrypoint)
#   localhost/labhub-code-server:test     images/code-server  (real code-server from npm on Node 24; the slow one)
# Cached: each image carries a label with the hash of its inputs and is rebuilt only when they change;
# dockerd keeps images and build layers in its data root (/tmp/labhub-ci/docker/docker-data), so a
# re-run on the same machine takes seconds. code-server's heavy build stage depends only on the Debian
# base, so changing the entrypoint rebuilds just the final stages.
# Also installs shellcheck (Debian) for the entrypoint lint test.
#
# Writes /tmp/labhub-ci/images.env: LABHUB_IMAGE_COMMON, LABHUB_IMAGE_JUPYTERLAB, LABHUB_IMAGE_CODE_SERVER.
# Env: SKIP_CODE_SERVER_IMAGE=1 skips the code-server build (the e2e test then fails in CI).
set -euo pipefail
ROOT=/tmp/labhub-ci
D=$ROOT/images
REPO=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$D"
export DEBIAN_FRONTEND=noninteractive
log() { echo "[images-setup $(date +%T)] $*"; }

dpkg -s shellcheck >/dev/null 2>&1 || apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends shellcheck >"$D/apt.log" 2>&1 ||
  { apt-get update >/dev/null; apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends shellcheck >"$D/apt.log" 2>&1; }

[ -s "$ROOT/docker.env" ] || { echo "images.sh: $ROOT/docker.env missing: run test/setup/docker.sh first" >&2; exit 1; }
DOCKER_SOCK=$(sed -n 's/^DOCKER_SOCK=//p' "$ROOT/docker.env")
dk() { DOCKER_HOST="unix://$DOCKER_SOCK" docker "$@"; }
dk version >/dev/null || { echo "images.sh: dockerd at $DOCKER_SOCK does not answer: run test/setup/docker.sh" >&2; exit 1; }

BASE=localhost/labhub-debian:bookworm
if ! dk image inspect "$BASE" >/dev/null 2>&1; then
  # docker.sh imports it unless SKIP_JUPYTER_IMAGE=1; same commands
  bash "$REPO/images/base/build-base.sh" "$ROOT/cache/debian-bookworm-minbase.tar"
  dk import -c 'CMD ["/bin/bash"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'ENV LANG=C.UTF-8' \
    "$ROOT/cache/debian-bookworm-minbase.tar" "$BASE" >/dev/null
fi

# hash of a directory's files (names and contents) plus extra strings
tree_hash() {
  local dir=$1; shift
  { (cd "$dir" && find . -type f ! -name '*.def' -print0 | sort -z | xargs -0 sha256sum); printf '%s\n' "$@"; } | sha256sum | cut -c1-16
}

# build IMAGE DIR HASH [build args...]: rebuilds when the label differs
build() {
  local image=$1 dir=$2 want=$3; shift 3
  local have
  have=$(dk image inspect -f '{{ index .Config.Labels "labhub.inputs" }}' "$image" 2>/dev/null || true)
  if [ "$want" = "$have" ]; then
    log "$image is up to date"
    return 0
  fi
  local name
  name=$(basename "$dir")
  log "building $image from $dir (log: $D/build-$name.log)"
  local t0=$SECONDS
  if ! dk build --network host --label "labhub.inputs=$want" "$@" -t "$image" "$dir" >"$D/build-$name.log" 2>&1; then
    tail -40 "$D/build-$name.log"
    exit 1
  fi
  log "built $image in $((SECONDS - t0)) s ($(dk image inspect -f '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1e6}'))"
}

COMMON=localhost/labhub-common:bookworm
JUPYTERLAB=localhost/labhub-jupyterlab:labhub
CODE_SERVER=localhost/labhub-code-server:test
base_id=$(dk image inspect -f '{{.Id}}' "$BASE")
common_hash=$(tree_hash "$REPO/images/common" "$base_id")
build "$COMMON" "$REPO/images/common" "$common_hash" --build-arg BASE_IMAGE="$BASE"
build "$JUPYTERLAB" "$REPO/images/jupyterlab" "$(tree_hash "$REPO/images/jupyterlab" "$common_hash")" --build-arg BASE_IMAGE="$COMMON"
if [ "${SKIP_CODE_SERVER_IMAGE:-0}" != 1 ]; then
  # this machine's extra CAs (a TLS-intercepting egress proxy) for the npm downloads in the build stage
  extra_ca=$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true)
  build "$CODE_SERVER" "$REPO/images/code-server" "$(tree_hash "$REPO/images/code-server" "$common_hash")" \
    --build-arg BASE_IMAGE="$COMMON" --build-arg BUILD_IMAGE="$BASE" --build-arg EXTRA_CA_CERTS="$extra_ca"
else
  CODE_SERVER=""
fi

cat >"$ROOT/images.env" <<EOF
LABHUB_IMAGE_COMMON=$COMMON
LABHUB_IMAGE_JUPYTERLAB=$JUPYTERLAB
LABHUB_IMAGE_CODE_SERVER=$CODE_SERVER
EOF
log "ready: $(tr '\n' ' ' <"$ROOT/images.env")"
