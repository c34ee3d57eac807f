#!/usr/bin/env bash
# Test setup for the Docker spawner (issue 7): a private dockerd, Podman's Docker-compatible API, a local
# registry (distribution v2) and locally built test images. Idempotent: re-runs reuse running daemons,
# the cached Debian base tarball and existing images. Root, Debian 12.
#
# Writes /tmp/labhub-ci/docker.env with DOCKER_SOCK, DOCKER_TLS_URL + DOCKER_TLS_DIR (dockerd over TCP+TLS),
# PODMAN_SOCK, PODMAN_TCP, REGISTRY, LABHUB_TEST_IMAGE_BB,
# LABHUB_TEST_IMAGE_JUPYTER (empty when SKIP_JUPYTER_IMAGE=1).
#
# Env: SKIP_JUPYTER_IMAGE=1 skips the debootstrap base + jupyterhub image (fast contract runs only).
set -euo pipefail
ROOT=/tmp/labhub-ci
D=$ROOT/docker
CACHE=$ROOT/cache
REPO=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$D" "$CACHE"
export DEBIAN_FRONTEND=noninteractive
APT="apt-get -o DPkg::Lock::Timeout=900"
PKGS="docker.io podman runc catatonit busybox-static debootstrap docker-registry iptables iproute2 git curl openssl"
log() { echo "[docker-setup $(date +%T)] $*"; }

missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  log "installing$missing"
  $APT install -y --no-install-recommends $missing >"$D/apt.log" 2>&1 || { $APT update >/dev/null; $APT install -y --no-install-recommends $missing >"$D/apt.log" 2>&1; }
fi

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# ---------- TLS material for dockerd's tcp listener (docker --tlsverify style: CA, server, client) ----------
TLS=$D/tls
if [ ! -s "$TLS/key.pem" ]; then
  log "creating TLS certificates in $TLS"
  mkdir -p "$TLS"
  ( cd "$TLS"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=labhub-test-ca -keyout ca-key.pem -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server-key.pem -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -days 3650 -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -extfile server.ext -out server-cert.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=labhub-client -keyout key.pem -out client.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -days 3650 -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -extfile client.ext -out cert.pem 2>/dev/null
    chmod 600 ./*key.pem )
fi

# ---------- dockerd on a private socket (+ TLS on loopback tcp), data root under $D ----------
DOCKER_SOCK=$D/docker.sock
DOCKER_TLS_PORT=${DOCKER_TLS_PORT:-23760}
tls_ok() { curl -sf --cacert "$TLS/ca.pem" --cert "$TLS/cert.pem" --key "$TLS/key.pem" "https://127.0.0.1:$DOCKER_TLS_PORT/_ping" >/dev/null; }
if alive "$D/dockerd.pid" && ! tls_ok; then
  log "restarting dockerd (no TLS listener yet)"
  kill "$(cat "$D/dockerd.pid")"; for i in $(seq 100); do alive "$D/dockerd.pid" || break; sleep 0.2; done
fi
if ! alive "$D/dockerd.pid" || ! curl -sf --unix-socket "$DOCKER_SOCK" http://d/_ping >/dev/null; then
  log "starting dockerd"
  rm -f "$D/dockerd.pid" "$DOCKER_SOCK"
  setsid nohup dockerd --data-root "$D/docker-data" --exec-root "$D/docker-exec" -H "unix://$DOCKER_SOCK" \
    -H "tcp://127.0.0.1:$DOCKER_TLS_PORT" --tlsverify --tlscacert "$TLS/ca.pem" --tlscert "$TLS/server-cert.pem" --tlskey "$TLS/server-key.pem" \
    --pidfile "$D/dockerd.pid" >"$D/dockerd.log" 2>&1 </dev/null &
  for i in $(seq 150); do curl -sf --unix-socket "$DOCKER_SOCK" http://d/_ping >/dev/null && break; sleep 0.2; done
  curl -sf --unix-socket "$DOCKER_SOCK" http://d/_ping >/dev/null || { tail -20 "$D/dockerd.log"; exit 1; }
  tls_ok || { echo "dockerd TLS listener not answering"; tail -20 "$D/dockerd.log"; exit 1; }
fi
dk() { DOCKER_HOST="unix://$DOCKER_SOCK" docker "$@"; }

# ---------- podman service (runc, cgroupfs, ulimits within the hard limit) ----------
PODMAN_SOCK=$D/podman.sock
cat >"$D/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
cat >"$D/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$D/podman-storage"
runroot = "$D/podman-runroot"
EOF
REGISTRY_PORT=${REGISTRY_PORT:-5055}
REGISTRY=127.0.0.1:$REGISTRY_PORT
cat >"$D/registries.conf" <<EOF
unqualified-search-registries = []
[[registry]]
location = "$REGISTRY"
insecure = true
EOF
export CONTAINERS_CONF="$D/containers.conf" CONTAINERS_STORAGE_CONF="$D/storage.conf" CONTAINERS_REGISTRIES_CONF="$D/registries.conf"
if ! alive "$D/podman.pid" || ! curl -sf --unix-socket "$PODMAN_SOCK" http://d/_ping >/dev/null; then
  log "starting podman system service"
  rm -f "$PODMAN_SOCK"
  setsid nohup podman system service --time=0 "unix://$PODMAN_SOCK" >"$D/podman-service.log" 2>&1 </dev/null &
  echo $! >"$D/podman.pid"
  for i in $(seq 100); do curl -sf --unix-socket "$PODMAN_SOCK" http://d/_ping >/dev/null && break; sleep 0.1; done
  curl -sf --unix-socket "$PODMAN_SOCK" http://d/_ping >/dev/null || { tail -20 "$D/podman-service.log"; exit 1; }
fi

# the same Podman storage over plain TCP on loopback (exercises the spawner's tcp:// endpoints)
PODMAN_TCP_PORT=${PODMAN_TCP_PORT:-23750}
if ! alive "$D/podman-tcp.pid" || ! curl -sf "http://127.0.0.1:$PODMAN_TCP_PORT/_ping" >/dev/null; then
  log "starting podman system service on tcp://127.0.0.1:$PODMAN_TCP_PORT"
  setsid nohup podman system service --time=0 "tcp://127.0.0.1:$PODMAN_TCP_PORT" >"$D/podman-tcp.log" 2>&1 </dev/null &
  echo $! >"$D/podman-tcp.pid"
  for i in $(seq 100); do curl -sf "http://127.0.0.1:$PODMAN_TCP_PORT/_ping" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$PODMAN_TCP_PORT/_ping" >/dev/null || { tail -20 "$D/podman-tcp.log"; exit 1; }
fi

# ---------- local registry (distribution v2) on 127.0.0.1, no auth ----------
cat >"$D/registry.yml" <<EOF
version: 0.1
log: { level: warn }
storage:
  filesystem: { rootdirectory: $D/registry-data }
  delete: { enabled: true }
http:
  addr: $REGISTRY
EOF
if ! alive "$D/registry.pid" || ! curl -sf "http://$REGISTRY/v2/" >/dev/null; then
  log "starting docker-registry on $REGISTRY"
  setsid nohup docker-registry serve "$D/registry.yml" >"$D/registry.log" 2>&1 </dev/null &
  echo $! >"$D/registry.pid"
  for i in $(seq 100); do curl -sf "http://$REGISTRY/v2/" >/dev/null && break; sleep 0.1; done
  curl -sf "http://$REGISTRY/v2/" >/dev/null || { tail -20 "$D/registry.log"; exit 1; }
fi

# ---------- busybox test image (both engines) ----------
BB=localhost/labhub-bb:latest
if ! dk image inspect "$BB" >/dev/null 2>&1 || ! podman image exists "$BB"; then
  log "building $BB from busybox-static"
  rm -rf "$D/bbroot"; mkdir -p "$D/bbroot"/{bin,etc,tmp,www,root,home}
  chmod 1777 "$D/bbroot/tmp"
  cp /bin/busybox "$D/bbroot/bin/"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$D/bbroot/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\njovyan:x:1000:100::/home/jovyan:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$D/bbroot/etc/passwd"
  printf 'root:x:0:\nusers:x:100:\nnogroup:x:65534:\n' >"$D/bbroot/etc/group"
  tar -C "$D/bbroot" -c . >"$D/bb.tar"
  dk image inspect "$BB" >/dev/null 2>&1 || dk import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' "$D/bb.tar" "$BB" >/dev/null
  podman image exists "$BB" || podman import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' "$D/bb.tar" "$BB" >/dev/null
fi

# Podman's default bridge (cni-podman0, 10.88.0.1) exists only after a first container: create it now,
# so a hub can listen on its gateway address
if ! ip -4 addr show cni-podman0 >/dev/null 2>&1 && ! ip -4 addr show podman0 >/dev/null 2>&1; then
  podman run --rm "$BB" true >/dev/null
fi

# ---------- Debian base + jupyterhub-singleuser image (dockerd, then copied into Podman) ----------
JUPYTER=""
if [ "${SKIP_JUPYTER_IMAGE:-0}" != 1 ]; then
  BASE=localhost/labhub-debian:bookworm
  JUPYTER=localhost/labhub-jupyterlab:test
  if ! dk image inspect "$BASE" >/dev/null 2>&1; then
    bash "$REPO/images/base/build-base.sh" "$CACHE/debian-bookworm-minbase.tar"
    log "importing $BASE"
    dk import -c 'CMD ["/bin/bash"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'ENV LANG=C.UTF-8' \
      "$CACHE/debian-bookworm-minbase.tar" "$BASE" >/dev/null
  fi
  # rebuilt when the Dockerfile changes (label carries its hash); layer cache keeps it fast
  want=$(sha256sum "$REPO/images/jupyterlab/Dockerfile" | cut -c1-16)
  have=$(dk image inspect -f '{{ index .Config.Labels "labhub.dockerfile" }}' "$JUPYTER" 2>/dev/null || true)
  if [ "$want" != "$have" ]; then
    log "building $JUPYTER (apt-get install jupyterhub inside; a few minutes on first run)"
    dk build --network host --build-arg BASE_IMAGE="$BASE" --label "labhub.dockerfile=$want" -t "$JUPYTER" "$REPO/images/jupyterlab" >"$D/build-jupyter.log" 2>&1 ||
      { tail -30 "$D/build-jupyter.log"; exit 1; }
  fi
  if [ "$(podman image inspect -f '{{.Id}}' "$JUPYTER" 2>/dev/null)" != "$(dk image inspect -f '{{.Id}}' "$JUPYTER" | sed 's/^sha256://')" ]; then
    log "copying $JUPYTER into Podman's storage"
    dk save "$JUPYTER" | podman load >/dev/null
  fi
fi

cat >"$ROOT/docker.env" <<EOF
DOCKER_SOCK=$DOCKER_SOCK
PODMAN_SOCK=$PODMAN_SOCK
PODMAN_TCP=tcp://127.0.0.1:$PODMAN_TCP_PORT
DOCKER_TLS_URL=tcp://127.0.0.1:$DOCKER_TLS_PORT
DOCKER_TLS_DIR=$TLS
REGISTRY=$REGISTRY
LABHUB_TEST_IMAGE_BB=$BB
LABHUB_TEST_IMAGE_JUPYTER=$JUPYTER
EOF
log "ready: $(tr '\n' ' ' <"$ROOT/docker.env")"
