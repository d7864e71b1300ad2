#!/usr/bin/env bash
# A second libvirt for the test suite: libvirt 11.3 with QEMU 10.0 from Debian 13 ("trixie"),
# in a debootstrapped root beside the machine's own libvirtd (run as root).
#
#   bash scripts/libvirt-root.sh [start]  build the root if missing or stale, start its daemons
#   bash scripts/libvirt-root.sh stop     stop its daemons (and guests, dnsmasq) and its netns
#   bash scripts/libvirt-root.sh status   say what runs; exit 0 only when the daemon answers
#   bash scripts/libvirt-root.sh uri      print the URI the tests use to reach it
#   bash scripts/libvirt-root.sh build    build (or rebuild when stale) the root only
#   bash scripts/libvirt-root.sh purge    stop, then delete the root
#
# The root lives in /var/cache/pulumi-libvirt/trixie-root (PULUMI_LIBVIRT_ROOT overrides) and
# is rebuilt when the recipe below changes. Its virtlogd and libvirtd run in a mount namespace
# whose "/" is the root (pivot_root) and in the network namespace "pulumi-libvirt11", with their
# own /dev (a tmpfs of device nodes made here: the host's /dev is never bound in, so nothing
# inside can regroup the host's /dev/kvm), /proc, /sys, and the host's /tmp, /var/tmp and test
# guest cache bound at the same paths (tests hand libvirt paths there: see SHARED). The socket stays on disk in the root, so the host
# reaches it: qemu+unix:///system?socket=<root>/run/libvirt/libvirt-sock.
# Idempotent: running daemons are reused; dead ones and their stale pid files and sockets are
# cleared and started again.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/netns.sh
. "$HERE/lib/netns.sh"

ROOT=${PULUMI_LIBVIRT_ROOT:-/var/cache/pulumi-libvirt/trixie-root}
NETNS=pulumi-libvirt11
SUITE=trixie
MIRROR=http://deb.debian.org/debian
SOCKET=$ROOT/run/libvirt/libvirt-sock
URI="qemu+unix:///system?socket=$SOCKET"
# Installed inside the root. A change here, in build_inside or in configure_root rebuilds it
# (recipe_hash); bump RECIPE for anything else that should.
# Debian's libvirt-daemon-system pulls in the daemon, its QEMU and network drivers; the rest is
# what a default install recommends (the machine's own libvirt has the like: storage backends,
# lock plugin, swtpm for TPMs, passt; QEMU's display, spice/qxl, virgl and block modules, so the
# same guests define on both) and what libvirt runs for pools (mkfs, lvm, mount), networks
# (dnsmasq, iptables; nft to try the nftables backend) and guests (OVMF firmware).
RECIPE=3
PACKAGES=(libvirt-daemon-system libvirt-clients libvirt-daemon-driver-interface
          libvirt-daemon-driver-storage-disk libvirt-daemon-driver-storage-iscsi
          libvirt-daemon-driver-storage-logical libvirt-daemon-driver-storage-mpath
          libvirt-daemon-driver-storage-scsi libvirt-daemon-lock libvirt-daemon-plugin-lockd
          swtpm swtpm-tools passt dmidecode
          qemu-system-x86 qemu-utils qemu-system-gui qemu-system-modules-spice
          qemu-system-modules-opengl qemu-block-extra ovmf
          dnsmasq-base nftables e2fsprogs xfsprogs lvm2 iproute2 procps)
STAMP=$ROOT/.pulumi-libvirt-recipe
LOOP_DEVICES=256
# Host directories bound into the root at the same path: what tests hand libvirt (pytest's
# tmp_path under /tmp, the qemu-readable shared_dir under /var/tmp, the test guest's kernel).
SHARED=(/tmp /var/tmp /var/cache/pulumi-libvirt/guest)

say() { printf 'libvirt-root: %s\n' "$*"; }
die() { say "$*" >&2; exit 1; }

recipe_hash() {  # what the root is made from: a change rebuilds it
    { printf '%s\n' "$RECIPE" "$SUITE" "$MIRROR" "${PACKAGES[@]}"
      declare -f build_inside configure_root; } | sha256sum | cut -d' ' -f1
}

# --- the host's /dev must come out of all this as it went in ----------------------------------

WATCHED_DEV=(kvm ptmx null zero full random urandom tty net/tun vhost-net loop-control)

dev_state() {
    local name
    for name in "${WATCHED_DEV[@]}"; do
        stat -c '%n %F %u:%g %a %t:%T %N' "/dev/$name" 2>/dev/null || echo "/dev/$name absent"
    done
}

guarded() {
    local before after kvm
    before=$(dev_state)
    kvm=$(stat -c '%u:%g:%a' /dev/kvm 2>/dev/null || true)
    "$@"
    after=$(dev_state)
    if [ "$before" != "$after" ]; then
        # The case seen before this script existed: a root's packages regrouping /dev/kvm.
        if [ -n "$kvm" ]; then chown "${kvm%:*}" /dev/kvm; chmod "${kvm##*:}" /dev/kvm; fi
        diff <(echo "$before") <(echo "$after") >&2 || true
        die "the host's /dev changed during '$*' (see above; /dev/kvm put back)"
    fi
}

# --- device nodes: new inodes with the host's numbers, never the host's own nodes ---------------

node_like() {  # node_like TARGET_DEV NAME MODE [GROUP]: mknod what the host has as /dev/NAME
    local dev=$1 name=$2 mode=$3 group=${4:-root} kind numbers
    [ -e "/dev/$name" ] || return 0
    # -L: a container's /dev/ptmx is often a symlink to pts/ptmx (the node is 5:2 all the same)
    kind=$(stat -L -c '%F' "/dev/$name")
    numbers=$(stat -L -c '%t %T' "/dev/$name")
    mkdir -p "$(dirname "$dev/$name")"
    # shellcheck disable=SC2086
    set -- $numbers
    if [ "$kind" = "block special file" ]; then
        mknod -m "$mode" "$dev/$name" b "$((16#$1))" "$((16#$2))"
    else
        mknod -m "$mode" "$dev/$name" c "$((16#$1))" "$((16#$2))"
    fi
    chroot "$ROOT" chgrp "$group" "/dev/$name" 2>/dev/null || true
}

# Mount a fresh /dev for the root at $ROOT/dev (inside a private mount namespace only).
populate_dev() {
    local dev=$ROOT/dev n
    mount -t tmpfs -o mode=755,nosuid,size=64k pulumi-libvirt-dev "$dev"
    for n in null zero full random urandom tty; do node_like "$dev" "$n" 666; done
    mkdir -p "$dev/pts" "$dev/shm" "$dev/mapper"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$dev/pts"
    node_like "$dev" ptmx 666
    mount -t tmpfs -o mode=1777,nosuid,nodev shm "$dev/shm"
    ln -s /proc/self/fd "$dev/fd"
    ln -s /proc/self/fd/0 "$dev/stdin"
    ln -s /proc/self/fd/1 "$dev/stdout"
    ln -s /proc/self/fd/2 "$dev/stderr"
    node_like "$dev" net/tun 666
    node_like "$dev" vhost-net 660 kvm
    node_like "$dev" kvm 660 kvm
    node_like "$dev" loop-control 660 disk
    # Loop devices that the host's losetup makes later must exist here too: make the numbers
    # (loop N is minor N shifted past the partition bits of the loop module's max_part).
    local max_part shift=0
    max_part=$(cat /sys/module/loop/parameters/max_part 2>/dev/null || echo 0)
    while [ $((max_part >> shift)) -gt 0 ]; do shift=$((shift + 1)); done
    for n in $(seq 0 $((LOOP_DEVICES - 1))); do
        mknod -m 660 "$dev/loop$n" b 7 $((n << shift))
    done
    # shellcheck disable=SC2046  # one word per loop device
    chroot "$ROOT" chgrp disk $(for n in $(seq 0 $((LOOP_DEVICES - 1))); do echo "/dev/loop$n"; done)
}

# --- building the root ----------------------------------------------------------------------

host_package() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" && return
    say "installing $1 on the host"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null 2>&1 || {
        DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null
    }
}

# Runs in a private mount namespace (see build): every mount here vanishes with it.
build_inside() {
    local new=$1
    mount --make-rprivate /
    debootstrap --variant=minbase "$SUITE" "$new" "$MIRROR" >"$new.log" 2>&1 || {
        tail -n 30 "$new.log" >&2
        die "debootstrap failed (log: $new.log)"
    }
    ROOT=$new
    # No package script may start anything: this root's daemons are started by this script.
    printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
    chmod 755 "$ROOT/usr/sbin/policy-rc.d"
    populate_dev
    mount -t proc proc "$ROOT/proc"
    mount -t sysfs sysfs "$ROOT/sys"
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$new.log" 2>&1
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${PACKAGES[@]}" >>"$new.log" 2>&1 || {
        tail -n 30 "$new.log" >&2
        die "installing packages in the root failed (log: $new.log)"
    }
    chroot "$ROOT" apt-get clean
    configure_root
}

# What differs from Debian's defaults, and why.
configure_root() {
    local etc=$ROOT/etc/libvirt
    # Root-only socket (0700, the default); no polkit daemon runs in the root.
    sed -i 's/^#\?auth_unix_rw = .*/auth_unix_rw = "none"/' "$etc/libvirtd.conf"
    # The machine's own libvirtd gets no cgroups in its netns either; keep the two alike.
    printf 'cgroup_controllers = [ ]\n' >>"$etc/qemu.conf"
    # Debian's first choice, said out loud: the nftables backend also loads tc's csum action
    # for DHCP, which this kernel lacks (creating a NAT network then fails); iptables (-nft)
    # works in the netns.
    printf 'firewall_backend = "iptables"\n' >>"$etc/network.conf"
}

build() {
    local want new
    want=$(recipe_hash)
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        say "root $ROOT is up to date"
        return
    fi
    [ -d "$ROOT" ] && { say "recipe changed: rebuilding $ROOT"; stop; }
    host_package debootstrap
    new=$ROOT.new
    rm -rf "$new"
    mkdir -p "$(dirname "$ROOT")"
    say "building Debian $SUITE root in $ROOT (debootstrap + ${#PACKAGES[@]} packages)"
    local started=$SECONDS
    unshare --mount --propagation private bash -c "set -euo pipefail; $(declare -f); \
        $(declare -p ROOT SUITE MIRROR PACKAGES LOOP_DEVICES); build_inside '$new'"
    echo "$want" >"$new/.pulumi-libvirt-recipe"
    rm -rf "$ROOT"
    mv "$new" "$ROOT"
    mv "$new.log" "$ROOT.log"
    say "built $ROOT in $((SECONDS - started)) s ($(chroot "$ROOT" libvirtd --version))"
}

# --- the daemons ------------------------------------------------------------------------------

# The root's processes (its daemons, their dnsmasq and guests) are those in network namespace
# $NETNS (netns_pids, netns_stop): their /proc/PID/root reads "/", the root being their "/".

answers() { timeout 10 virsh -c "$URI" version >/dev/null 2>&1; }

# Runs in the netns, in the mount namespace `ip netns exec` made for it. The root becomes that
# namespace's "/" (pivot_root, not chroot): libvirt enters its guests' mount namespaces with
# setns(), which lands at the namespace's root, so nothing of the host's may be left there (with
# a chroot, libvirt 11.3 made the host's /dev/ptmx a symlink while starting a guest).
start_inside() {
    mount --make-rslave /
    mount --bind "$ROOT" "$ROOT"
    populate_dev
    mount -t proc proc "$ROOT/proc"
    mount -t sysfs sysfs "$ROOT/sys"
    local dir
    for dir in "${SHARED[@]}"; do
        mkdir -p "$dir" "$ROOT$dir"
        mount --rbind "$dir" "$ROOT$dir"
        mount --make-rslave "$ROOT$dir"
    done
    mkdir -p "$ROOT/.host"
    cd "$ROOT"
    pivot_root . .host
    cd /
    umount -l /.host
    ip link set lo up
    /usr/sbin/virtlogd -d
    /usr/sbin/libvirtd -d
}

start() {
    guarded build
    local logd libvirtd
    logd=$(netns_pids "$NETNS" virtlogd | head -n1)
    libvirtd=$(netns_pids "$NETNS" libvirtd | head -n1)
    if [ -n "$logd" ] && [ ! -S "$ROOT/run/libvirt/virtlogd-sock" ]; then
        say "virtlogd (pid $logd) lost its socket: restarting both daemons"
        netns_stop "$NETNS" libvirtd
        logd='' libvirtd=''
    fi
    if [ -n "$logd" ] && [ -n "$libvirtd" ] && answers; then
        say "libvirt $(libvirt_version) answers on $URI"
        return
    fi
    local started=$SECONDS
    if [ -n "$libvirtd" ]; then
        say "libvirtd (pid $libvirtd) does not answer: restarting it"
        kill "$libvirtd"; wait_gone "$libvirtd"
    fi
    if ! netns_exists "$NETNS"; then
        say "creating network namespace $NETNS"
        ip netns add "$NETNS"
    fi
    if [ -n "$logd" ]; then
        say "starting libvirtd beside virtlogd (pid $logd)"
        rm -f "$ROOT/run/libvirtd.pid"
        guarded nsenter -t "$logd" -m -n -r -w /usr/sbin/libvirtd -d 9>&-
    else
        netns_stop "$NETNS" libvirtd
        find "$ROOT/run" -mindepth 1 -delete  # a reboot's worth: stale pid files and sockets
        say "starting virtlogd and libvirtd in network namespace $NETNS"
        guarded ip netns exec "$NETNS" bash -c "set -euo pipefail; $(declare -f); \
            $(declare -p ROOT LOOP_DEVICES SHARED); start_inside" 9>&-  # the daemons keep no lock
    fi
    for _ in $(seq 1 120); do
        if answers; then
            say "libvirt $(libvirt_version) answers on $URI ($((SECONDS - started)) s)"
            return
        fi
        sleep 0.5
    done
    die "libvirtd in $ROOT did not answer on $URI within 60 s (log: $ROOT/var/log/libvirt)"
}

libvirt_version() { virsh -c "$URI" version --daemon 2>/dev/null | sed -n 's/^Running against daemon: //p'; }

stop() {
    if [ -d "$ROOT" ]; then
        netns_stop "$NETNS" libvirtd
        say "stopped the daemons of $ROOT"
    fi
    if netns_exists "$NETNS"; then
        ip netns delete "$NETNS"
        say "deleted network namespace $NETNS"
    fi
}

status() {
    if [ ! -f "$STAMP" ]; then say "no root at $ROOT (build with: bash $0 start)"; return 1; fi
    [ "$(cat "$STAMP")" = "$(recipe_hash)" ] || say "root is stale (rebuilt by: bash $0 start)"
    say "virtlogd: $(netns_pids "$NETNS" virtlogd | xargs)" \
        "libvirtd: $(netns_pids "$NETNS" libvirtd | xargs)"
    if answers; then say "libvirt $(libvirt_version) answers on $URI"; else
        say "nothing answers on $URI"; return 1; fi
}

[ "$(id -u)" -eq 0 ] || die "run as root"
# One at a time: test runs of several developers may call `start` together.
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock -w 900 9 || die "another libvirt-root.sh has held $ROOT.lock for 15 minutes"
case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    uri) echo "$URI" ;;
    build) guarded build ;;
    purge) stop; rm -rf "$ROOT" "$ROOT.new" "$ROOT.log" "$ROOT.new.log"; say "removed $ROOT" ;;
    *) die "usage: $0 [start|stop|status|uri|build|purge]" ;;
esac
