# shellcheck shell=bash
# Helpers for daemons that live in a network namespace of their own (sourced, not run).
#
# Shared by the scripts that start libvirt daemons beside the machine's own: each daemon set runs
# in a named network namespace (and a mount namespace made for it), and is found, stopped and
# cleaned up by that namespace alone, never by process name across the machine.

# netns_pids NETNS [NAME]: pids of the processes in network namespace NETNS (only those whose
# command is NAME when given).
netns_pids() {
    local netns=$1 name=${2:-} pid pids inode
    inode=$(stat -L -c %i "/run/netns/$netns" 2>/dev/null) || return 0
    if [ -n "$name" ]; then pids=$(pgrep -x "$name" || true); else
        pids=$(cd /proc && echo [0-9]*); fi  # a glob: ls complains of those exiting meanwhile
    for pid in $pids; do
        [ "$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null)" = "$inode" ] && echo "$pid"
    done
    return 0
}

# wait_gone PID...: wait up to 10 s for each to exit, then SIGKILL it.
wait_gone() {
    local pid
    for pid in "$@"; do
        for _ in $(seq 1 100); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
        if [ -e "/proc/$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
    done
}

# netns_stop NETNS [FIRST...]: stop every process in NETNS, the commands named FIRST first
# (libvirtd before its guests and virtlogd).
netns_stop() {
    local netns=$1 name pids
    shift
    for name in "$@"; do
        pids=$(netns_pids "$netns" "$name")
        # shellcheck disable=SC2086
        if [ -n "$pids" ]; then kill $pids 2>/dev/null || true; wait_gone $pids; fi
    done
    pids=$(netns_pids "$netns")
    # shellcheck disable=SC2086
    if [ -n "$pids" ]; then kill $pids 2>/dev/null || true; wait_gone $pids; fi
}

# netns_exists NETNS: whether `ip netns` knows it.
netns_exists() {
    ip netns list | awk '{print $1}' | grep -qx "$1"
}
