#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for trying the SLURM launcher presets and for the
# SLURM test tier (`make test-slurm`): munge, MariaDB + slurmdbd (accounting: sacct, which submitit
# needs to see job states), slurmctld and slurmd, started directly (no systemd), each with a PID file.
#
#   scripts/slurm_local.sh check    can this machine host it? (root + apt-get, or the daemons installed)
#   scripts/slurm_local.sh start    install what is missing, write the config, start, wait for an idle node
#                                   (exit 3: the packages could not be installed)
#   scripts/slurm_local.sh status   what runs, and the node's state
#   scripts/slurm_local.sh stop     cancel the jobs, stop what `start` started (by PID file), nothing else
#
# Everything lives under $DCFT_SLURM_DIR (default /var/tmp/dcft-slurm); the config is written to
# /etc/slurm (where sbatch, squeue, sacct and scontrol look) and refused if a foreign one is there.
# The node is declared with $DCFT_SLURM_CPUS CPUs (default: at least 16) and $DCFT_SLURM_MEM_MB
# memory (default: at least 128 GiB), so the A800 / 2080-Ti presets' cpus and mem fit unchanged;
# without cgroups SLURM does not enforce either, and jobs share the real cores.
set -euo pipefail

STATE=${DCFT_SLURM_DIR:-/var/tmp/dcft-slurm}
CONF_DIR=/etc/slurm
MARK="# written by dcft scripts/slurm_local.sh"
PARTITION=local
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
HOST=$(hostname -s)
export MYSQL_UNIX_PORT=$STATE/mysql/mysqld.sock  # slurmdbd (libmariadb) finds our MariaDB by this

say() { echo "slurm_local: $*"; }
die() { echo "slurm_local: error: $*" >&2; exit 1; }

declare -A PROGRAM=([munged]=munged [mysqld]=mariadbd [slurmdbd]=slurmdbd [slurmctld]=slurmctld [slurmd]=slurmd)

our_pid() {  # our_pid NAME: the PID in our PID file, if that process runs and is that program
    local pid
    pid=$(cat "$STATE/run/$1.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "${PROGRAM[$1]}" ]] || return 1
    echo "$pid"
}

alive() { our_pid "$1" >/dev/null; }

wait_until() {  # wait_until SECONDS WHAT COMMAND...: poll every 0.2 s
    local limit=$1 what=$2
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "$what did not come up within ${limit}s (logs: $STATE/log/)"
        sleep 0.2
    done
}

installed() {
    command -v slurmctld && command -v slurmd && command -v slurmdbd && command -v sbatch \
        && command -v munged && command -v mariadbd && command -v mariadb-install-db
}

cmd_check() {
    installed >/dev/null 2>&1 && [[ $(id -u) == 0 ]] && return 0
    [[ $(id -u) == 0 ]] || { echo "needs root (daemons run as root/munge/mysql; installs with apt-get)"; return 1; }
    command -v apt-get >/dev/null || { echo "SLURM is not installed and there is no apt-get to install it"; return 1; }
}

install_missing() {
    installed >/dev/null 2>&1 && return 0
    say "installing ${PACKAGES[*]} (apt-get, --no-install-recommends)"
    local t0=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >"$STATE/log/apt.log" 2>&1 || {
        apt-get update -qq >>"$STATE/log/apt.log" 2>&1
        apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >>"$STATE/log/apt.log" 2>&1
    } || { echo "slurm_local: error: apt-get install failed (see $STATE/log/apt.log)" >&2; exit 3; }
    say "installed in $((SECONDS - t0)) s"
}

node_line() {
    # The real topology from `slurmd -C`, declared at least as large as the largest preset.
    local cpus mem
    cpus=$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' | head -1)
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)
    cpus=${DCFT_SLURM_CPUS:-$((cpus > 16 ? cpus : 16))}
    mem=${DCFT_SLURM_MEM_MB:-$((mem > 131072 ? mem : 131072))}
    echo "NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN"
}

write_config() {
    if [[ -f $CONF_DIR/slurm.conf ]] && ! grep -qF "$MARK" "$CONF_DIR/slurm.conf"; then
        die "$CONF_DIR/slurm.conf exists and is not ours: this machine has its own SLURM; use that"
    fi
    mkdir -p "$CONF_DIR"
    cat >"$CONF_DIR/slurm.conf" <<EOF
$MARK; rewritten on every start
ClusterName=dcftlocal
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# a requeued job may start again cred_expire + 1 s later (the default, 120, makes tests wait 2 min)
AuthInfo=cred_expire=10
CredType=cred/munge
# no cgroups here: track processes by parent id, no CPU binding, no mail
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MailProg=/bin/true
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# schedule a requeued job as soon as it is eligible (defaults: every 60 s / 30 s)
SchedulerParameters=sched_interval=2,bf_interval=5
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=30
MinJobAge=600
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
$(node_line)
# a job in "urgent" preempts jobs in "$PARTITION" the way a busy cluster does: SIGTERM, then requeue
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP PriorityTier=1
PartitionName=urgent Nodes=$HOST MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
EOF
    cat >"$CONF_DIR/slurmdbd.conf" <<EOF
$MARK; rewritten on every start
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$STATE/run/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$CONF_DIR/slurmdbd.conf"
}

munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    if munge_works; then return 0; fi  # one already runs (ours or the system's): use it
    [[ -s /etc/munge/munge.key ]] || { mungekey --create --keyfile /etc/munge/munge.key; chown munge:munge /etc/munge/munge.key; }
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 "$STATE/munge"
    runuser -u munge -- munged --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/munge/munged.log" \
        --seed-file="$STATE/munge/munged.seed"
    wait_until 10 munged munge_works
    ln -sf "$STATE/munge/munged.pid" "$STATE/run/munged.pid"
}

mysql_up() { mariadb --no-defaults --socket="$MYSQL_UNIX_PORT" -uroot -e 'select 1'; }

start_mariadb() {
    alive mysqld && return 0
    install -d -o mysql -g mysql -m 0750 "$STATE/mysql"
    if [[ ! -d $STATE/mysql/data/mysql ]]; then
        mariadb-install-db --no-defaults --user=mysql --datadir="$STATE/mysql/data" \
            --auth-root-authentication-method=socket >"$STATE/log/mariadb-install.log" 2>&1 \
            || die "mariadb-install-db failed (see $STATE/log/mariadb-install.log)"
    fi
    # no network: a local socket only; data, pid and log belong to the mysql user
    setsid mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql/data" --socket="$MYSQL_UNIX_PORT" \
        --pid-file="$STATE/mysql/mysqld.pid" --log-error="$STATE/mysql/mysqld.log" --skip-networking \
        --innodb-buffer-pool-size=32M </dev/null >/dev/null 2>&1 &
    wait_until 60 MariaDB mysql_up
    ln -sf "$STATE/mysql/mysqld.pid" "$STATE/run/mysqld.pid"
}

start_daemon() {  # start_daemon NAME READY-CHECK...
    local name=$1
    shift
    alive "$name" && return 0
    "$name" >"$STATE/log/$name.out" 2>&1 || die "$name did not start (see $STATE/log/$name.out and $name.log)"
    wait_until 30 "$name" "$@"
}

node_state() { sinfo -h -N -n "$HOST" -o %T 2>/dev/null | head -1; }
node_ready() { [[ $(node_state) =~ ^(idle|mixed|allocated)$ ]]; }

cmd_start() {
    local why
    why=$(cmd_check) || die "$why"
    mkdir -p "$STATE"/{run,log,ctld,spool}
    install_missing
    local t0=$SECONDS
    if ! alive slurmctld; then write_config; fi
    start_munge
    start_mariadb
    start_daemon slurmdbd sacctmgr -n list cluster
    start_daemon slurmctld scontrol ping
    start_daemon slurmd true
    if [[ $(node_state) =~ down|drain ]]; then scontrol update nodename="$HOST" state=resume || true; fi
    wait_until 60 "node $HOST" node_ready
    wait_until 30 accounting sacct -n -X -S now
    say "up in $((SECONDS - t0)) s: node $HOST $(node_state), partition $PARTITION, state in $STATE"
}

cmd_status() {
    local name
    for name in munged mysqld slurmdbd slurmctld slurmd; do
        if alive "$name"; then echo "$name: running (pid $(our_pid "$name"))"
        else echo "$name: not started by this script (no live PID file in $STATE/run)"; fi
    done
    if alive slurmctld && alive slurmd; then sinfo -N -o "%N %P %T %c %m"; squeue; else return 1; fi
}

stop_daemon() {  # stop_daemon NAME: TERM the process of our PID file, wait for it, KILL after 30 s
    local name=$1 pid
    if pid=$(our_pid "$name"); then
        kill "$pid"
        local deadline=$((SECONDS + 30))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
        say "stopped $name (pid $pid)"
    fi
    rm -f "$STATE/run/$name.pid"
}

cmd_stop() {
    if alive slurmctld; then  # jobs first: their slurmstepd would outlive slurmd
        scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
        local deadline=$((SECONDS + 60))
        while [[ -n $(squeue -h -o %i 2>/dev/null) ]] && ((SECONDS < deadline)); do sleep 0.5; done
    fi
    local name
    for name in slurmd slurmctld slurmdbd mysqld munged; do stop_daemon "$name"; done
}

case "${1:-}" in
    check) cmd_check ;;
    start) cmd_start ;;
    status) cmd_status ;;
    stop) cmd_stop ;;
    *) echo "usage: $0 check|start|status|stop" >&2; exit 2 ;;
esac
