#!/usr/bin/env bash
# Prepare a machine for pulumi_libvirt development and CI: Debian 12, Debian 13 or Ubuntu 24.04,
# as root (or with sudo), with or without systemd.
#
# Idempotent; a rerun on a prepared machine only checks and reinstalls the package:
#  1. installs the Debian packages that libvirt, QEMU, the libvirt-python build (C compiler,
#     pkg-config, libvirt's and Python's headers) and the tests (mkfs.ext4/xfs, losetup, blkid,
#     LVM tools, ip, pgrep, openssl, curl) need;
#  2. fetches the pinned libvirt schemas the XML tables come from (scripts/fetch_schemas.py,
#     into ~/.cache/pulumi-libvirt; the machine's apt sources are not touched);
#  3. makes sure something answers on qemu:///system. On a machine that boots with systemd
#     it never touches the daemons (start libvirtd there with systemctl). Elsewhere (containers,
#     CI) it starts virtlogd, and libvirtd inside the network namespace "pulumi-libvirt", so
#     that guest networks never touch addresses of the machine's own namespace;
#  4. creates .venv (if missing) and installs the package with its test extras into it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/netns.sh
. scripts/lib/netns.sh

NETNS=pulumi-libvirt
URI=qemu:///system
PACKAGES=(
    # libvirt and QEMU
    libvirt-daemon-system qemu-system-x86 qemu-utils dnsmasq-base ovmf
    # building libvirt-python (Python's headers: see python_headers)
    gcc libc6-dev pkg-config libvirt-dev
    # what the storage pools and the tests run: mkfs.ext4, mkfs.xfs, losetup, blkid, vgs, ip,
    # pgrep, openssl (a test TLS server), curl (the upload benchmark)
    e2fsprogs xfsprogs mount util-linux lvm2 iproute2 procps openssl curl ca-certificates
    # verifying Debian's index when fetching the pinned schemas (Ubuntu lacks it)
    debian-archive-keyring
    # test hosts (scripts/test-hosts.sh): sshd and ssh per namespace, nft to make one silent
    openssh-server openssh-client nftables
)
DONE=()  # what this run did, said at the end

say() { printf 'setup: %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

distribution() {
    local id=unknown version=""
    if [ -r /etc/os-release ]; then
        id=$(. /etc/os-release && echo "${ID:-unknown}")
        version=$(. /etc/os-release && echo "${VERSION_ID:-}")
    fi
    case "$id" in
        debian|ubuntu) ;;
        *) say "warning: $id $version is not Debian or Ubuntu; trying apt-get anyway" ;;
    esac
    if ! command -v apt-get >/dev/null; then
        say "apt-get not found: this script supports Debian 12, Debian 13 and Ubuntu 24.04"
        return 1
    fi
    say "on $id $version, as $(id -un)$([ -d /run/systemd/system ] && echo ', with systemd')"
}

# The Python the venv is (or will be) made from.
python_for_venv() {
    if [ -x .venv/bin/python ]; then echo .venv/bin/python; else command -v python3 || true; fi
}

# Python.h for the Python libvirt-python is built with: a Debian Python gets python3-dev;
# others (pyenv, a source build) ship their headers.
python_headers() {
    local py include
    py=$(python_for_venv)
    if [ -z "$py" ]; then
        echo python3 python3-dev  # python3-venv: see install_packages
        return
    fi
    include=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    if [ -f "$include/Python.h" ]; then
        return
    fi
    if dpkg -S "$(readlink -f "$("$py" -c 'import sys; print(sys.executable)')")" \
            >/dev/null 2>&1; then
        echo python3-dev
    else
        say "$py has no headers ($include/Python.h) and is not Debian's: install its headers" \
            "(libvirt-python builds from source)" >&2
        return 1
    fi
}

install_packages() {
    local missing=() pkg headers
    for pkg in "${PACKAGES[@]}"; do
        installed "$pkg" || missing+=("$pkg")
    done
    headers=$(python_headers)
    for pkg in $headers; do
        installed "$pkg" || missing+=("$pkg")
    done
    # `python3 -m venv` needs Debian's venv package only when python3 is Debian's own.
    if [ ! -x .venv/bin/python ] && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
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
    DONE+=("installed ${missing[*]}")
}

# The pinned libvirt schemas the tables are generated from and the tests compare with. A
# failure is reported, not fatal: the tests that need them fail saying how to fetch them.
fetch_schemas() {
    local dir
    if dir=$(python3 scripts/fetch_schemas.py); then
        say "pinned libvirt schemas in $dir"
    else
        say "warning: could not fetch the pinned libvirt schemas (see above); the schema" \
            "tests will fail until 'python3 scripts/fetch_schemas.py' succeeds"
    fi
}

answers() {
    timeout 10 virsh -c "$URI" version >/dev/null 2>&1
}

daemon_version() {  # daemon_version URI: the version of the libvirtd answering there
    timeout 10 virsh -c "$1" version --daemon 2>/dev/null | sed -n 's/^Running against daemon: //p'
}

# Whether this machine's virtlogd listens: by its socket, not by process name (the libvirt 11.3
# root's virtlogd, scripts/libvirt-root.sh, runs on the same machine under the same name).
virtlogd_answers() {
    as_root python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])' /run/libvirt/virtlogd-sock 2>/dev/null
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
    if ! virtlogd_answers; then
        say "starting virtlogd"
        as_root virtlogd -d
        DONE+=("started virtlogd")
    fi
    if ! netns_exists "$NETNS"; then
        say "creating network namespace $NETNS"
        as_root ip netns add "$NETNS"
    fi
    as_root ip netns exec "$NETNS" ip link set lo up
    say "starting libvirtd in network namespace $NETNS"
    as_root ip netns exec "$NETNS" libvirtd -d
    DONE+=("started libvirtd in network namespace $NETNS")
    for _ in $(seq 1 60); do
        if answers; then
            say "$URI answers"
            return
        fi
        sleep 0.5
    done
    say "libvirtd did not answer on $URI within 30 s"
    return 1
}

# libvirt 11.3 in a Debian 13 root beside the machine's own (scripts/libvirt-root.sh): the
# libvirt11 variants of the real-libvirt tests. Started on every machine, so the two daemons and
# their test ids are the same everywhere, even where the machine's own libvirt is 11.3 too.
start_libvirt11() {
    if [ "${PULUMI_LIBVIRT_ROOT11:-}" = skip ]; then
        say "PULUMI_LIBVIRT_ROOT11=skip: libvirt 11.3 not started (its tests skip)"
        return
    fi
    as_root bash scripts/libvirt-root.sh start
    local own root
    own=$(daemon_version "$URI")
    root=$(daemon_version "$(as_root bash scripts/libvirt-root.sh uri)")
    if [ -n "$own" ] && [ "$own" = "$root" ]; then
        say "the machine's own libvirt is $root as well: the libvirt9 and libvirt11 test" \
            "variants both run against $root (PULUMI_LIBVIRT_ROOT11=skip runs one)"
    fi
}

install_venv() {
    if [ ! -x .venv/bin/python ]; then
        say "creating .venv"
        python3 -m venv .venv
        DONE+=("created .venv")
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
    DONE+=("installed pulumi_libvirt (editable) into .venv")
}

summary() {
    if [ "${#DONE[@]}" -eq 0 ]; then
        say "done: everything was in place"
        return
    fi
    local joined
    joined=$(printf '%s; ' "${DONE[@]}")
    say "done: ${joined%; }"
}

distribution
install_packages
fetch_schemas
start_libvirt
# Further libvirt daemons the real-libvirt tests use start here.
start_libvirt11
install_venv
summary
