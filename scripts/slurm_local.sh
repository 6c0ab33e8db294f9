#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests/test_slurm_cluster.py (and for trying hardware=slurm):
#   sudo bash scripts/slurm_local.sh start    # install slurm-wlm + munge if missing, start munged, slurmctld, slurmd
#   sudo bash scripts/slurm_local.sh status   # is it up? (sinfo)
#   sudo bash scripts/slurm_local.sh stop     # stop slurmctld and slurmd (munged stays: other programs may use it)
# Idempotent: start on a running cluster only checks it. One node (this machine's memory, at least 8 CPUs), one default
# partition `local`, short timeouts, no accounting storage (sacct has nothing to read: docs/clusters.md, "Sweeps on a
# cluster"). The state lives in $SLURM_LOCAL_DIR (default /var/tmp/genbench-slurm); the config is written to
# /etc/slurm/slurm.conf, where SLURM's commands look for it, and never over a slurm.conf this script did not write.
set -euo pipefail

DIR=${SLURM_LOCAL_DIR:-/var/tmp/genbench-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by genbench scripts/slurm_local.sh"
PARTITION=local

say() { echo "slurm_local: $*"; }
die() { echo "slurm_local: error: $*" >&2; exit 1; }

up() { timeout 10 sinfo -h -o %a >/dev/null 2>&1 && [ -n "$(timeout 10 sinfo -h -N -t idle,mix,alloc -o %N 2>/dev/null)" ]; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && command -v sbatch >/dev/null; then
        return
    fi
    command -v apt-get >/dev/null || die "slurmctld/slurmd/munged missing and no apt-get: install slurm-wlm and munge"
    say "installing slurm-wlm and munge with apt"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

write_conf() {
    local node cpus mem
    node=$(hostname -s)
    # At least 8 CPUs, whatever the machine has: the tests pause jobs (SIGSTOP) that keep their allocation, and a
    # 2-core CI machine would leave the next job queued behind them. The jobs are tiny; the kernel shares the cores.
    cpus=$(( $(nproc) < 8 ? 8 : $(nproc) ))
    # slurmd -C measures the memory; keep 512 MB for the system
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    mem=$(( ${mem:-1024} > 1536 ? ${mem:-1024} - 512 : ${mem:-1024} ))
    mkdir -p "$DIR/ctld" "$DIR/d" "$DIR/log" /etc/slurm
    cat >"$DIR/slurm.conf" <<EOF
$MARK: do not edit, it is rewritten on start
ClusterName=genbench
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups (containers): processes tracked by their parents, no task binding, no accounting
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
# the node's CPU count below is the configured one, not the hardware's (see write_conf)
SlurmdParameters=config_overrides
# CPUs and memory are consumable: jobs of 1 CPU share the node
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
# short timeouts: tests wait seconds, not minutes
# a requeued job waits cred_expire + 1 s before it starts again (default 120 s)
AuthInfo=cred_expire=5
SlurmctldTimeout=10
SlurmdTimeout=10
MessageTimeout=10
InactiveLimit=0
KillWait=5
MinJobAge=30
Waittime=0
OverTimeLimit=0
NodeName=$node CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script: this machine has its own SLURM; use it, or move $CONF away"
    fi
    cp "$DIR/slurm.conf" "$CONF"
}

start_munge() {
    if pgrep -x munged >/dev/null; then return; fi
    [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile=/etc/munge/munge.key; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge -n >/dev/null 2>&1 && return; sleep 0.1; done
    die "munged did not start (see /var/log/munge/munged.log)"
}

start() {
    [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts munged, slurmctld and slurmd): sudo bash $0 start"
    install_packages
    local before
    before=$(cat "$CONF" 2>/dev/null || true)
    write_conf
    if pid_alive "$DIR/slurmctld.pid" && pid_alive "$DIR/slurmd.pid" && up; then
        if [ "$before" = "$(cat "$CONF")" ]; then
            say "already up: $(sinfo -h -o '%P %D node(s) %c CPUs %m MB %a' | head -1)"
            return
        fi
        say "the configuration changed: restarting"
        stop
    fi
    start_munge
    pid_alive "$DIR/slurmctld.pid" || slurmctld -f "$CONF"
    pid_alive "$DIR/slurmd.pid" || slurmd -f "$CONF"
    for _ in $(seq 100); do
        if up; then
            say "up: $(sinfo -h -o '%P %D node(s) %c CPUs %m MB %a' | head -1); state in $DIR"
            return
        fi
        # a node left DOWN or DRAINED by an earlier run: back to service
        scontrol update NodeName="$(hostname -s)" State=RESUME >/dev/null 2>&1 || true
        sleep 0.2
    done
    say "slurmctld log:"; tail -n 20 "$DIR/log/slurmctld.log" >&2 || true
    say "slurmd log:"; tail -n 20 "$DIR/log/slurmd.log" >&2 || true
    die "the cluster did not come up within 20 s"
}

stop() {
    [ "$(id -u)" = 0 ] || die "must run as root: sudo bash $0 stop"
    local name
    for name in slurmd slurmctld; do
        if pid_alive "$DIR/$name.pid"; then
            kill "$(cat "$DIR/$name.pid")"
            for _ in $(seq 50); do pid_alive "$DIR/$name.pid" || break; sleep 0.1; done
            say "stopped $name"
        fi
    done
}

status() {
    if up; then
        sinfo
        squeue
    else
        say "not up (sinfo does not answer)"
        return 1
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
