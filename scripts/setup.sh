#!/usr/bin/env bash
# Prepare a machine for pulumi_libvirt development and CI (Debian 12, run as root).
#
# Idempotent; a rerun on a prepared machine only checks and reinstalls the package:
#  1. installs the Debian packages libvirt, QEMU and the libvirt-python build need;
#  2. makes sure something answers on qemu:///system. On a machine that boots with systemd
#     it never touches the daemons (start libvirtd there with systemctl). Elsewhere (containers,
#     CI) it starts virtlogd, and libvirtd inside the network namespace "pulumi-libvirt", so
#     that guest networks never touch addresses of the machine's own namespace;
#  3. creates .venv (if missing) and installs the package with its test extras into it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

NETNS=pulumi-libvirt
URI=qemu:///system
PACKAGES=(libvirt-daemon-system libvirt-dev pkg-config qemu-system-x86 qemu-utils
          dnsmasq-base ovmf xfsprogs)

say() { printf 'setup: %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

install_packages() {
    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do
        installed "$pkg" || missing+=("$pkg")
    done
    # `python3 -m venv` needs Debian's venv package only when python3 is Debian's own.
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        installed python3-venv || missing+=(python3-venv)
    fi
    if [ "${#missing[@]}" -eq 0 ]; then
        say "Debian packages present"
        return
    fi
    say "installing ${missing[*]}"
    # Keep package scripts from starting libvirtd in this namespace (no systemd here).
    local policy=/usr/sbin/policy-rc.d made_policy=
    if [ ! -e "$policy" ] && [ ! -d /run/systemd/system ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        made_policy=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    if [ -n "$made_policy" ]; then as_root rm -f "$policy"; fi
}

answers() {
    timeout 10 virsh -c "$URI" version >/dev/null 2>&1
}

start_libvirt() {
    if answers; then
        say "$URI answers"
        return
    fi
    if [ -d /run/systemd/system ]; then
        say "$URI does not answer; this machine runs systemd: start it with" \
            "'systemctl start libvirtd' (this script leaves system daemons alone)"
        return 1
    fi
    if ! pgrep -x virtlogd >/dev/null; then
        say "starting virtlogd"
        as_root virtlogd -d
    fi
    if ! ip netns list | grep -qw "$NETNS"; then
        say "creating network namespace $NETNS"
        as_root ip netns add "$NETNS"
    fi
    as_root ip netns exec "$NETNS" ip link set lo up
    say "starting libvirtd in network namespace $NETNS"
    as_root ip netns exec "$NETNS" libvirtd -d
    local i
    for i in $(seq 1 60); do
        if answers; then
            say "$URI answers"
            return
        fi
        sleep 0.5
    done
    say "libvirtd did not answer on $URI within 30 s"
    return 1
}

install_venv() {
    if [ ! -x .venv/bin/python ]; then
        say "creating .venv"
        python3 -m venv .venv
    fi
    say "installing pulumi_libvirt[test] into .venv"
    local log
    log=$(mktemp)
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 .venv/bin/python -m pip install -q -e ".[test]" \
            >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        say "pip install failed"
        return 1
    fi
    rm -f "$log"
}

install_packages
start_libvirt
install_venv
say "done"
