#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for testing the SLURM profile.
#
#   scripts/slurm-cluster.sh start   # install (Debian, root) and start munge, MariaDB, slurmdbd,
#                                    # slurmctld and slurmd, all on 127.0.0.1
#   scripts/slurm-cluster.sh stop    # stop every daemon this script started, remove its configs
#
# Why it looks like this:
# - no systemd here, so each daemon is started directly and stopped by its PID;
# - the executor reads job states with `sacct`, which needs accounting: slurmdbd over a private
#   MariaDB (its own data directory and port, never the system's database);
# - the jobstep plugin drops every SLURM_* variable, so slurm.conf must sit at
#   /etc/slurm/slurm.conf; an existing one (a real cluster) is never overwritten;
# - the executor checks the account, so the account the profile names ("phasebench") is created.
set -euo pipefail

STATE=${PHASEBENCH_SLURM_STATE:-/tmp/phasebench-slurm}
ACCOUNT=${PHASEBENCH_SLURM_ACCOUNT:-phasebench}
PARTITION=${PHASEBENCH_SLURM_PARTITION:-debug}
DB_PORT=${PHASEBENCH_SLURM_DB_PORT:-3307}
CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
MARKER="# written by phasebench scripts/slurm-cluster.sh"
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)

say() { echo "slurm-cluster: $*" >&2; }
die() {
  say "$*"
  exit 1
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq "$((seconds * 2))"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "$what did not come up within ${seconds} s; logs are in $STATE/log"
}

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null ||
    die "needs root and apt-get to install ${missing[*]}"
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ours() { [ -f "$1" ] && head -1 "$1" | grep -qF "$MARKER"; }

write_configs() {
  for f in "$CONF" "$DBD_CONF"; do
    [ -e "$f" ] && ! ours "$f" && die "$f exists and was not written by this script; refusing to touch a real cluster's configuration"
  done
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  # Leave 2 GB to the daemons and the submitting Snakemake.
  mem=$(($(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 2048))
  mkdir -p /etc/slurm
  cat >"$CONF" <<EOF
$MARKER
ClusterName=phasebench
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStorageEnforce=associations
AccountingStoreFlags=job_comment  # sacct then shows the rule and wildcards of each job
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  cat >"$DBD_CONF" <<EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=phasebench
StorageLoc=slurm_acct_db
LogFile=$STATE/log/slurmdbd.log
PidFile=$STATE/slurmdbd.pid
EOF
  chmod 600 "$DBD_CONF" # slurmdbd refuses a world-readable config (it holds a password)
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    return 0 # already running (the machine's own)
  fi
  mkdir -p /run/munge && chown munge:munge /run/munge
  runuser -u munge -- /usr/sbin/munged --force
  wait_for 10 munged sh -c 'munge -n | unmunge'
  cp /run/munge/munged.pid "$STATE/munged.pid"
}

start_mariadb() {
  # MariaDB runs as the mysql user: its data, socket and log live in folders that user owns.
  local data=$STATE/mariadb run=$STATE/mariadb-run
  mkdir -p "$data" "$run" && chown mysql:mysql "$data" "$run"
  if [ ! -d "$data/mysql" ]; then
    mariadb-install-db --user=mysql --datadir="$data" --auth-root-authentication-method=socket \
      >"$STATE/log/mariadb-install.log" 2>&1
  fi
  mariadbd --user=mysql --datadir="$data" --socket="$run/mariadb.sock" --port="$DB_PORT" \
    --bind-address=127.0.0.1 --pid-file="$run/mariadb.pid" --log-error="$run/mariadb.log" \
    --innodb-buffer-pool-size=64M &
  echo $! >"$STATE/mariadb.pid"
  wait_for 30 MariaDB mariadb --socket="$run/mariadb.sock" -e 'SELECT 1'
  mariadb --socket="$run/mariadb.sock" -e "
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'phasebench';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
}

start() {
  if ours "$CONF" && scontrol ping >/dev/null 2>&1; then
    say "already up; state and logs in $STATE"
    return 0
  fi
  install_packages
  mkdir -p "$STATE/log" "$STATE/ctld" "$STATE/slurmd"
  chmod 755 "$STATE"
  write_configs
  start_munge
  start_mariadb
  slurmdbd -D >>"$STATE/log/slurmdbd.out" 2>&1 &
  echo $! >"$STATE/slurmdbd.pid"
  wait_for 30 slurmdbd sacctmgr -n list cluster
  sacctmgr -i add cluster phasebench >/dev/null || true
  sacctmgr -i add account "$ACCOUNT" cluster=phasebench >/dev/null || true
  sacctmgr -i add user "$(id -un)" account="$ACCOUNT" cluster=phasebench >/dev/null || true
  slurmctld -D -i >>"$STATE/log/slurmctld.out" 2>&1 &
  echo $! >"$STATE/slurmctld.pid"
  wait_for 30 slurmctld scontrol ping
  slurmd -D >>"$STATE/log/slurmd.out" 2>&1 &
  echo $! >"$STATE/slurmd.pid"
  wait_for 60 "slurmd (node idle)" sh -c "sinfo -h -o %t | grep -qx idle"
  say "up: partition $PARTITION, account $ACCOUNT, $(nproc) CPUs; state and logs in $STATE"
}

stop() {
  for name in slurmd slurmctld slurmdbd mariadb munged; do
    local pidfile=$STATE/$name.pid
    [ -f "$pidfile" ] || continue
    local pid
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  for f in "$CONF" "$DBD_CONF"; do
    ours "$f" && rm -f "$f"
  done
  rm -rf "$STATE/ctld" "$STATE/slurmd" # job state; the database stays for the next start
  say "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 start|stop" ;;
esac
