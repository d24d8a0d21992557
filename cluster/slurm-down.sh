#!/usr/bin/env bash
# Tear down the single-node cluster from cluster/slurm-up.sh COMPLETELY: cancel jobs, stop
# slurmd, slurmctld and munged (by PID file only, never by process name), and remove the
# generated /etc/slurm/slurm.conf and gres.conf plus the state directory. A slurm.conf left
# behind without a controller slows every later snakemake call by ~9 s (the slurm executor
# plugin runs `scontrol show config` at import time). Safe to run when nothing is up.
set -uo pipefail

STATE=${SLURM_LOCAL_STATE:-/var/lib/slurm-local}
log() { echo "[slurm-down] $*"; }

stop_pidfile() {  # name pidfile
    local pid
    [ -f "$2" ] || return 0
    pid=$(cat "$2" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            kill -9 "$pid" 2>/dev/null || true
        fi
        log "stopped $1 (pid $pid)"
    fi
    rm -f "$2"
}

if [ -f /etc/slurm/slurm.conf ] && [ -f "$STATE/slurmctld.pid" ] \
    && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null; then
    timeout 10 scancel --user="$(id -un)" 2>/dev/null || true
fi
stop_pidfile slurmd "$STATE/slurmd.pid"
stop_pidfile slurmctld "$STATE/slurmctld.pid"
stop_pidfile munged /run/munge/munged.pid
rm -f /etc/slurm/slurm.conf /etc/slurm/gres.conf /etc/slurm/slurmdbd.conf
rm -rf "$STATE"
log "down; /etc/slurm/slurm.conf removed"
