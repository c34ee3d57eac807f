#!/usr/bin/env bash
# Test engine for the Slurm spawner (issue 9): a real one-node Slurm cluster (Debian slurm-wlm + munge)
# and, for the spawner's SSH mode, an sshd on 127.0.0.1 with key auth and a test-only config.
# Idempotent; runs as root on Debian 12. Everything lives in /tmp/labhub-ci/{slurm,sshd}; the tests read
# /tmp/labhub-ci/slurm.env (SLURM_CONF=..., LABHUB_TEST_SSH_*=...).
#
# Notes (from the shared container recipe): ProctrackType=proctrack/linuxproc and TaskPlugin=task/none
# because there are no usable cgroups here; no accounting daemon (sacct is unavailable, the spawner uses
# squeue/scontrol and treats an unknown job as ended).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
BASE=/tmp/labhub-ci
D=$BASE/slurm
S=$BASE/sshd
mkdir -p "$BASE" "$D"/{state,spool,log} "$S"

APT="apt-get -o DPkg::Lock::Timeout=900"
PKGS="slurm-wlm munge openssh-server"
need=0
for p in slurmctld slurmd sbatch munged sshd; do command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] || need=1; done
if [ "$need" = 1 ]; then
  $APT install -y --no-install-recommends $PKGS >"$BASE/slurm-apt.log" 2>&1 || { $APT update >/dev/null; $APT install -y --no-install-recommends $PKGS >"$BASE/slurm-apt.log" 2>&1; }
fi

# ---------- munge ----------
if [ ! -s /etc/munge/munge.key ]; then
  /usr/sbin/mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge; chown munge:munge /run/munge
if ! munge -n >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  for i in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
fi
munge -n | unmunge >/dev/null

# ---------- slurm ----------
HOST=$(hostname -s)
MEM=$(slurmd -C | head -1 | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
chown -R slurm:slurm "$D/state" "$D/log"
cat >"$D/slurm.conf.new" <<EOF
# LabHub CI: one-node cluster (written by test/setup/slurm.sh)
ClusterName=labhubci
SlurmctldHost=$HOST(127.0.0.1)
AuthType=auth/munge
SlurmUser=slurm
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# the node announces 8 CPUs on 2 real ones so several test jobs run side by side
SlurmdParameters=config_overrides
# reject (not queue) jobs whose time/partition limits can never be met: sbatch errors for the tests
EnforcePartLimits=ALL
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MinJobAge=120
# quick ends for the wall-time test (SIGTERM → SIGKILL after 5 s)
KillWait=5
NodeName=$HOST CPUs=8 RealMemory=${MEM:-2048} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE DefMemPerNode=256 State=UP
PartitionName=short Nodes=$HOST MaxTime=00:30:00 DefMemPerNode=256 State=UP
EOF
changed=1
if [ -f "$D/slurm.conf" ] && cmp -s "$D/slurm.conf" "$D/slurm.conf.new"; then changed=0; fi
mv "$D/slurm.conf.new" "$D/slurm.conf"
export SLURM_CONF=$D/slurm.conf

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if [ "$changed" = 1 ]; then
  # config changed: restart whatever runs from an older one
  for f in slurmctld slurmd; do if alive "$D/$f.pid"; then kill "$(cat "$D/$f.pid")"; for i in $(seq 50); do alive "$D/$f.pid" || break; sleep 0.1; done; fi; done
fi
alive "$D/slurmctld.pid" || slurmctld -f "$SLURM_CONF"
alive "$D/slurmd.pid" || slurmd -f "$SLURM_CONF"
state=""
for i in $(seq 300); do
  [ "$i" -lt 15 ] || alive "$D/slurmctld.pid" || { echo "slurmctld died; tail of its log:" >&2; tail -5 "$D/log/slurmctld.log" >&2; exit 1; }
  state=$(timeout 5 sinfo -h -n "$HOST" -o %t 2>/dev/null | head -1 || true)
  case "$state" in idle|mix|alloc) break ;; esac
  # a node left "down"/"drain" by an earlier run comes back with an explicit resume
  case "$state" in down*|drain*|drng*) scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true ;; esac
  sleep 0.2
done
case "$state" in idle|mix|alloc) ;; *) echo "slurm node not idle (state '$state'); see $D/log" >&2; exit 1 ;; esac

# ---------- sshd on 127.0.0.1 (test-only config, key auth only) ----------
if [ ! -s "$S/host_ed25519_key" ]; then ssh-keygen -q -t ed25519 -N '' -f "$S/host_ed25519_key"; fi
if [ ! -s "$S/client_key" ]; then ssh-keygen -q -t ed25519 -N '' -f "$S/client_key"; fi
cp "$S/client_key.pub" "$S/authorized_keys"; chmod 600 "$S/authorized_keys" "$S/client_key"
SSH_PORT=$(cat "$S/port" 2>/dev/null || python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
echo "$SSH_PORT" >"$S/port"
cat >"$S/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $S/host_ed25519_key
PidFile $S/sshd.pid
AuthorizedKeysFile $S/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AcceptEnv SLURM_CONF
PermitUserEnvironment no
Subsystem sftp internal-sftp
EOF
mkdir -p /run/sshd
alive "$S/sshd.pid" || /usr/sbin/sshd -f "$S/sshd_config" -E "$S/sshd.log"
printf '%s [127.0.0.1]:%s %s\n' "" "$SSH_PORT" "$(cut -d' ' -f1,2 "$S/host_ed25519_key.pub")" | sed 's/^ //' >"$S/known_hosts"
for i in $(seq 50); do
  ssh -p "$SSH_PORT" -i "$S/client_key" -o UserKnownHostsFile="$S/known_hosts" -o BatchMode=yes -o StrictHostKeyChecking=yes root@127.0.0.1 true 2>/dev/null && break
  sleep 0.1
done

# ---------- a system account, so "run as the user" (runuser) is tested for real ----------
mkdir -p "$BASE/homes"; chmod 755 "$BASE/homes"
id labhubhpc >/dev/null 2>&1 || useradd --system --home-dir "$BASE/homes/labhubhpc" --create-home --shell /usr/sbin/nologin labhubhpc
mkdir -p "$BASE/homes/labhubhpc"; chown labhubhpc: "$BASE/homes/labhubhpc"; chmod 700 "$BASE/homes/labhubhpc"

cat >"$BASE/slurm.env" <<EOF
SLURM_CONF=$SLURM_CONF
LABHUB_TEST_SSH_HOST=127.0.0.1
LABHUB_TEST_SSH_PORT=$SSH_PORT
LABHUB_TEST_SSH_USER=root
LABHUB_TEST_SSH_KEY=$S/client_key
LABHUB_TEST_SSH_KNOWN_HOSTS=$S/known_hosts
LABHUB_TEST_SYSTEM_USER=labhubhpc
LABHUB_TEST_HOMES=$BASE/homes
EOF
echo "slurm: node $HOST $state; SLURM_CONF=$SLURM_CONF; sshd on 127.0.0.1:$SSH_PORT"
