#!/usr/bin/env bash
# Test hosts: N independent libvirt hosts on this machine, reached over real transports (as root).
#
#   bash scripts/test-hosts.sh up N [SET]      bring up N hosts (SET names them; default "demo")
#   bash scripts/test-hosts.sh down [SET]      stop them and remove every trace
#   bash scripts/test-hosts.sh status [SET]    say which hosts answer; exit 0 only when all do
#   bash scripts/test-hosts.sh stop SET I      stop host I's daemons (its address refuses)
#   bash scripts/test-hosts.sh start SET I     start host I's daemons again
#   bash scripts/test-hosts.sh drop SET I      host I silently drops every packet (nft)
#   bash scripts/test-hosts.sh undrop SET I    host I answers again
#   bash scripts/test-hosts.sh list            the sets that are up
#
# Each host is a network namespace "plvh-SET-I" joined to this machine's namespace by a veth
# pair (10.213.K.1 here, 10.213.K.2 there, one /24 per host: nothing is routed anywhere else),
# and a mount namespace of its own daemons in which /etc/libvirt, /var/lib/libvirt,
# /var/log/libvirt, /var/cache/libvirt and /run/libvirt are the host's own directories under
# $PULUMI_LIBVIRT_HOSTS_DIR/SET (default /tmp/pulumi-libvirt-hosts) and /run is private. There it
# runs the machine's own virtlogd, libvirtd and an sshd listening on 10.213.K.2 only. The set
# gets a client key, a known_hosts with every host's key, an ssh config naming it
# (client/ssh_config) and `client/ssh`, which runs ssh with that config (OpenSSH reads only the
# user's ~/.ssh and /etc/ssh, and libvirt's ssh transport ignores known_hosts=), and
# SET/hosts.json lists per host:
#   ssh_uri     qemu+ssh://root@10.213.K.2/system?keyfile=...&command=SET/client/ssh
#   libssh_uri  qemu+libssh://root@10.213.K.2/system?keyfile=...&known_hosts=...&sshauth=privkey
#   socket_uri  qemu+unix:///system?socket=SET/hostI/run/libvirt-sock (no network)
# The hosts run no guests; each costs one libvirtd, virtlogd and sshd (~40 MB).
# PULUMI_LIBVIRT_HOSTS_DELAY_MS=D (at `up`) puts a network's delay in front of each sshd: a
# forwarder (lib/delay_proxy.py) on 10.213.K.2:22 passes every byte on D ms later each way.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/netns.sh
. "$HERE/lib/netns.sh"

DIR=${PULUMI_LIBVIRT_HOSTS_DIR:-/tmp/pulumi-libvirt-hosts}
DELAY_MS=${PULUMI_LIBVIRT_HOSTS_DELAY_MS:-0}
PREFIX=10.213

say() { printf 'test-hosts: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

check_set() {
    [[ $1 =~ ^[a-z0-9]{1,6}$ ]] || die "set name '$1': 1 to 6 lower-case letters or digits"
}

netns_of() { echo "plvh-$1-$2"; }
veth_of() { echo "vh-$1-$2"; }
host_dir() { echo "$DIR/$1/host$2"; }
socket_of() { echo "$(host_dir "$1" "$2")/run/libvirt-sock"; }
address_of() { cat "$(host_dir "$1" "$2")/address"; }
count_of() {
    local n=0 dir
    for dir in "$DIR/$1"/host[0-9]*; do [ -d "$dir" ] && n=$((n + 1)); done
    echo "$n"
}
list_sets() {
    local dir
    for dir in "$DIR"/*/; do [ -d "$dir" ] && basename "$dir"; done
    return 0
}

answers() { timeout 10 virsh -c "qemu+unix:///system?socket=$(socket_of "$1" "$2")" version \
    >/dev/null 2>&1; }

# A third octet no interface of this machine and no other set uses.
free_octet() {
    local used k
    used=$( (ip -o -4 addr show; cat "$DIR"/*/host[0-9]*/address 2>/dev/null) \
        | grep -o "$PREFIX\.[0-9]*\." | cut -d. -f3 | sort -un)
    for k in $(seq 1 254); do
        if ! grep -qx "$k" <<<"$used"; then echo "$k"; return; fi
    done
    die "no free /24 left in $PREFIX.0.0/16"
}

make_client() {
    local set=$1 client=$DIR/$1/client
    mkdir -p "$client"
    chmod 700 "$client"
    [ -f "$client/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "test-hosts-$set" \
        -f "$client/id_ed25519"
    : >"$client/known_hosts"
    printf '#!/bin/sh\nexec ssh -F %s "$@"\n' "$client/ssh_config" >"$client/ssh"
    chmod 755 "$client/ssh"
    cat >"$client/ssh_config" <<EOF
# Written by scripts/test-hosts.sh for set $set.
Host $PREFIX.*
    UserKnownHostsFile $client/known_hosts
    StrictHostKeyChecking yes
    IdentityFile $client/id_ed25519
    IdentitiesOnly yes
    BatchMode yes
    LogLevel ERROR
EOF
}

make_host() {
    local set=$1 i=$2 h octet
    h=$(host_dir "$set" "$i")
    mkdir -p "$h"/{etc,lib,log,cache,run,ssh}
    octet=$(free_octet)
    echo "$PREFIX.$octet.2" >"$h/address"
    echo "$DELAY_MS" >"$h/delay_ms"
    local listen="$PREFIX.$octet.2"
    if [ "$DELAY_MS" != 0 ]; then listen=127.0.0.1; fi
    # libvirt's configuration files, not the objects defined on this machine.
    find /etc/libvirt -maxdepth 1 -type f -exec cp -a {} "$h/etc/" \;
    [ -d /etc/libvirt/nwfilter ] && cp -a /etc/libvirt/nwfilter "$h/etc/"
    # QEMU's capabilities, so that libvirtd does not probe every binary again.
    if [ -d /var/cache/libvirt/qemu/capabilities ]; then
        mkdir -p "$h/cache/qemu"
        cp -a /var/cache/libvirt/qemu/capabilities "$h/cache/qemu/"
    fi
    ssh-keygen -q -t ed25519 -N '' -C "plvh-$set-$i" -f "$h/ssh/host_ed25519_key"
    cat >"$h/sshd_config" <<EOF
ListenAddress $listen
Port 22
HostKey $h/ssh/host_ed25519_key
PidFile /run/sshd.pid
AuthorizedKeysFile $DIR/$set/client/id_ed25519.pub
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
StrictModes no
PrintMotd no
MaxStartups 200:30:400
MaxSessions 200
LogLevel ERROR
EOF
    echo "$PREFIX.$octet.2 $(cut -d' ' -f1,2 "$h/ssh/host_ed25519_key.pub")" \
        >>"$DIR/$set/client/known_hosts"
}

link_host() {
    local set=$1 i=$2 ns veth address
    ns=$(netns_of "$set" "$i")
    veth=$(veth_of "$set" "$i")
    address=$(address_of "$set" "$i")
    netns_exists "$ns" || ip netns add "$ns"
    if ! ip link show "$veth" >/dev/null 2>&1; then
        ip link add "$veth" type veth peer name eth0 netns "$ns"
        ip addr add "${address%.2}.1/24" dev "$veth"
        ip link set "$veth" up
        ip netns exec "$ns" ip addr add "$address/24" dev eth0
        ip netns exec "$ns" ip link set eth0 up
        ip netns exec "$ns" ip link set lo up
    fi
}

# Runs inside `ip netns exec`, whose fresh mount namespace (slave to this machine's) the daemons
# keep: what is mounted here is theirs alone.
start_inside() {
    local h=$1 here=$2 delay
    mount -t tmpfs -o mode=755,size=16m plvh-run /run
    mkdir -p /run/libvirt /run/sshd /run/lock
    mount --bind "$h/run" /run/libvirt
    mount --bind "$h/etc" /etc/libvirt
    mount --bind "$h/lib" /var/lib/libvirt
    mount --bind "$h/log" /var/log/libvirt
    mount --bind "$h/cache" /var/cache/libvirt
    virtlogd -d
    libvirtd -d
    /usr/sbin/sshd -f "$h/sshd_config"
    delay=$(cat "$h/delay_ms" 2>/dev/null || echo 0)
    if [ "$delay" != 0 ]; then
        python3 "$here/lib/delay_proxy.py" "$(cat "$h/address")" 22 127.0.0.1 22 "$delay" --daemon
    fi
}

start_host() {
    local set=$1 i=$2 ns h
    ns=$(netns_of "$set" "$i")
    h=$(host_dir "$set" "$i")
    link_host "$set" "$i"
    if [ -n "$(netns_pids "$ns" libvirtd)" ] && answers "$set" "$i"; then return; fi
    netns_stop "$ns" libvirtd
    find "$h/run" -mindepth 1 -delete
    ip netns exec "$ns" bash -c "set -euo pipefail; $(declare -f start_inside); \
        start_inside '$h' '$HERE'"
}

wait_host() {
    local set=$1 i=$2 n
    for n in $(seq 1 120); do
        answers "$set" "$i" && return 0
        sleep 0.5
    done
    die "host $i of set $set did not answer within 60 s (log: $(host_dir "$set" "$i")/log)"
}

write_index() {
    local set=$1 n i address socket client=$DIR/$1/client first=1
    n=$(count_of "$set")
    {
        printf '{"set": "%s", "keyfile": "%s", "known_hosts": "%s", "ssh_config": "%s",\n' \
            "$set" "$client/id_ed25519" "$client/known_hosts" "$client/ssh_config"
        printf ' "ssh_command": "%s", "hosts": [\n' "$client/ssh"
        for i in $(seq 1 "$n"); do
            address=$(address_of "$set" "$i")
            socket=$(socket_of "$set" "$i")
            [ $first -eq 1 ] || printf ',\n'
            first=0
            printf '  {"index": %d, "netns": "%s", "address": "%s",\n' "$i" \
                "$(netns_of "$set" "$i")" "$address"
            printf '   "ssh_uri": "qemu+ssh://root@%s/system?keyfile=%s&command=%s",\n' \
                "$address" "$client/id_ed25519" "$client/ssh"
            printf '   "libssh_uri": "qemu+libssh://root@%s/system?keyfile=%s&known_hosts=%s&sshauth=privkey",\n' \
                "$address" "$client/id_ed25519" "$client/known_hosts"
            printf '   "socket_uri": "qemu+unix:///system?socket=%s"}' "$socket"
        done
        printf '\n]}\n'
    } >"$DIR/$set/hosts.json"
}

up() {
    local n=$1 set=$2 i started=$SECONDS
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "up: N must be a positive number, got '$n'"
    if [ -f "$DIR/$set/hosts.json" ] && [ "$(count_of "$set")" -ne "$n" ]; then
        say "set $set has $(count_of "$set") hosts: taking it down first"
        down "$set"
    fi
    mkdir -p "$DIR/$set"
    (
        flock -w 60 9 || die "another test-hosts.sh holds $DIR/.lock"
        make_client "$set"
        for i in $(seq 1 "$n"); do
            [ -f "$(host_dir "$set" "$i")/address" ] || make_host "$set" "$i"
            link_host "$set" "$i"
        done
    ) 9>"$DIR/.lock"
    for i in $(seq 1 "$n"); do start_host "$set" "$i"; done
    for i in $(seq 1 "$n"); do wait_host "$set" "$i"; done
    write_index "$set"
    say "set $set: $n hosts up in $((SECONDS - started)) s; $DIR/$set/hosts.json"
    for i in $(seq 1 "$n"); do printf '%s\n' "$(address_of "$set" "$i")"; done
}

down() {
    local set=$1 i ns
    [ -d "$DIR/$set" ] || { say "no set $set"; return 0; }
    for i in $(seq 1 "$(count_of "$set")"); do
        ns=$(netns_of "$set" "$i")
        netns_stop "$ns" libvirtd
        ip link del "$(veth_of "$set" "$i")" 2>/dev/null || true
        if netns_exists "$ns"; then ip netns delete "$ns"; fi
    done
    rm -rf "${DIR:?}/$set"
    say "set $set: down"
}

status() {
    local set=$1 i ok=0
    [ -f "$DIR/$set/hosts.json" ] || die "no set $set"
    for i in $(seq 1 "$(count_of "$set")"); do
        if answers "$set" "$i"; then say "host $i $(address_of "$set" "$i"): answers"; else
            say "host $i $(address_of "$set" "$i"): does not answer"; ok=1; fi
    done
    return $ok
}

firewall() {  # firewall SET I drop|undrop
    local ns
    ns=$(netns_of "$1" "$2")
    netns_exists "$ns" || die "no host $2 in set $1"
    ip netns exec "$ns" nft delete table inet plvh 2>/dev/null || true
    if [ "$3" = drop ]; then
        ip netns exec "$ns" nft -f - <<EOF
table inet plvh {
    chain input { type filter hook input priority 0; policy drop; iif lo accept; }
    chain output { type filter hook output priority 0; policy drop; oif lo accept; }
}
EOF
    fi
}

[ "$(id -u)" -eq 0 ] || die "run as root"
command=${1:-}
case "$command" in
    up) check_set "${3:-demo}"; up "${2:?usage: up N [SET]}" "${3:-demo}" ;;
    down) check_set "${2:-demo}"; down "${2:-demo}" ;;
    status) check_set "${2:-demo}"; status "${2:-demo}" ;;
    stop) check_set "$2"; netns_stop "$(netns_of "$2" "${3:?host number}")" libvirtd ;;
    start) check_set "$2"; start_host "$2" "${3:?host number}"; wait_host "$2" "$3" ;;
    drop|undrop) check_set "$2"; firewall "$2" "${3:?host number}" "$command" ;;
    list) list_sets ;;
    *) die "usage: $0 up N [SET] | down [SET] | status [SET] | stop|start|drop|undrop SET I | list" ;;
esac
