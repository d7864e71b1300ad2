"""A tiny guest built from Debian packages only: the cloud kernel and a busybox initramfs.

``build_guest()`` returns the kernel and initramfs files (cached between runs, rebuilt when the
packages' versions or this file change). The packages are fetched with ``apt-get download``
(the machine's own apt sources) and unpacked with ``dpkg -x``; the initramfs (cpio newc + gzip,
written here) holds static busybox, the kernel modules the guest needs with their dependencies
(from ``modules.dep``), and an init script that:

- loads the modules, mounts the seed ISO found by its volume label (``cidata``, read from
  the ISO's primary volume descriptor: busybox's findfs does not know ISO 9660) and prints its
  ``user-data`` on the console, each line prefixed ``plv-guest: user-data:``;
- prints the Ignition config QEMU hands over through fw_cfg (``opt/com.coreos/config``), if any;
- brings ``eth0`` up and takes a DHCP lease with ``udhcpc``, printing ``plv-guest: lease <ip>``
  (with ``plv.ip=ADDRESS/PREFIX``, ``Guest.with_static_ip()``, sets that address instead);
- with ``plv.seed=none`` (``Guest.without_seed()``) does not wait for a seed (30 s without one);
- with ``plv.acpid=1`` on the kernel command line (``ACPID``), starts busybox ``acpid``, which
  powers the guest off when the ACPI power button is pressed (a graceful shutdown request);
  without it the guest ignores the request, as a guest with no ACPI handler does;
- with ``plv.agent=1`` (``AGENT``, ``Guest.with_agent()``), loads ``virtio_console`` and runs
  the QEMU guest agent (``qemu-ga``) on the ``org.qemu.guest_agent.0`` virtio-serial port.

The agent is Debian's dynamically linked ``qemu-ga``: it and the shared libraries it needs (its
ELF ``DT_NEEDED`` closure and loader, taken from the packages apt says it depends on) go into a
second cpio archive, appended to the base one to make ``initramfs-agent.gz`` (the kernel unpacks
concatenated archives), so the default guest's initramfs does not grow.

The guest boots under TCG (domain type ``qemu``) with direct kernel boot and ``console=ttyS0``;
the cloud kernel has no AHCI, so cdroms go on virtio-scsi. Run ``python tests/guest.py`` to
build it and print where it is.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

KERNEL_META = "linux-image-cloud-amd64"
BUSYBOX = "busybox-static"
#: Modules the guest loads (their dependencies come from modules.dep).
MODULES = ("virtio_pci", "virtio_scsi", "sr_mod", "isofs", "virtio_net", "virtio_blk",
           "qemu_fw_cfg", "button", "evdev")
CMDLINE = "console=ttyS0 panic=-1 loglevel=4"
#: Add to the command line for a guest that powers off on the ACPI power button.
ACPID = "plv.acpid=1"
#: Add to the command line (with the agent initramfs) for a guest running the QEMU guest agent.
AGENT = "plv.agent=1"
AGENT_PACKAGE = "qemu-guest-agent"
AGENT_MODULES = ("virtio_console",)
AGENT_PORT = "org.qemu.guest_agent.0"
#: Where Debian's shared libraries live (multiarch; under /usr too from Debian 13 on).
LIB_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu")
MARK = "plv-guest:"

INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /bin /proc /sys /dev /tmp /mnt/seed
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
up() { cut -d' ' -f1 /proc/uptime; }
say() { echo "plv-guest: $*" > /dev/console; }
start_agent() {  # no udev: find the agent's virtio-serial port by its name in sysfs
    while read -r module; do
        insmod "/lib/modules/$module" 2>/dev/null || say "insmod $module failed"
    done < /agent-modules
    port=""
    i=0
    while [ -z "$port" ] && [ "$i" -lt 150 ]; do
        for name in /sys/class/virtio-ports/*/name; do
            [ "$(cat "$name" 2>/dev/null)" = org.qemu.guest_agent.0 ] &&
                port=$(basename "$(dirname "$name")")
        done
        i=$((i + 1))
        [ -n "$port" ] || sleep 0.2
    done
    if [ -z "$port" ] || [ ! -c "/dev/$port" ]; then
        say "no org.qemu.guest_agent.0 port"
        return
    fi
    mkdir -p /tmp/qga
    say "agent on /dev/$port at $(up) s"
    /usr/sbin/qemu-ga -m virtio-serial -p "/dev/$port" -t /tmp/qga > /dev/console 2>&1 ||
        say "qemu-ga exited: $?"
}
say "init at $(up) s"
while read -r module; do
    insmod "/lib/modules/$module" 2>/dev/null || say "insmod $module failed"
done < /modules
say "modules loaded at $(up) s"
case " $(cat /proc/cmdline) " in
    *" plv.acpid=1 "*)
        acpid -d -c /etc/acpi -p /tmp/acpid.pid > /dev/console 2>&1 &
        say "acpid started at $(up) s" ;;
esac
case " $(cat /proc/cmdline) " in
    *" plv.agent=1 "*) start_agent & ;;
esac
label() {  # an ISO 9660 volume label: 32 bytes at 0x8028
    dd if="$1" bs=2048 skip=16 count=1 2>/dev/null | dd bs=1 skip=40 count=32 2>/dev/null |
        tr -d ' '
}
dev=""
i=0
tries=150
case " $(cat /proc/cmdline) " in *" plv.seed=none "*) tries=0 ;; esac
while [ -z "$dev" ] && [ "$i" -lt "$tries" ]; do
    for candidate in /dev/sr* /dev/vd* /dev/sd*; do
        if [ -b "$candidate" ] && [ "$(label "$candidate")" = cidata ]; then
            dev=$candidate
            break
        fi
    done
    i=$((i + 1))
    [ -n "$dev" ] || sleep 0.2
done
if [ -n "$dev" ] && mount -t iso9660 -o ro "$dev" /mnt/seed; then
    say "seed $dev mounted at $(up) s"
    sed 's/^/plv-guest: user-data: /' /mnt/seed/user-data > /dev/console
else
    say "no seed labelled cidata"
fi
ign=/sys/firmware/qemu_fw_cfg/by_name/opt/com.coreos/config/raw
if [ -r "$ign" ]; then
    sed 's/^/plv-guest: ignition: /' "$ign" > /dev/console
    echo > /dev/console
fi
ip link set lo up
static=$(sed -n 's/.*plv\.ip=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$static" ]; then
    ip addr add "$static" dev eth0 && ip link set eth0 up && say "static ${static%/*} at $(up) s"
else
    ip link set eth0 up && udhcpc -i eth0 -s /udhcpc.sh -t 60 -T 2 -A 2 -q || say "no lease"
fi
say "done at $(up) s"
while true; do sleep 3600; done
"""

POWER_BUTTON = r"""#!/bin/sh
echo "plv-guest: power button: powering off at $(cut -d' ' -f1 /proc/uptime) s" > /dev/console
sync
poweroff -f
"""

UDHCPC = r"""#!/bin/sh
case "$1" in
    deconfig) ip addr flush dev "$interface" ;;
    bound|renew)
        ip addr add "$ip/${mask:-24}" dev "$interface"
        echo "plv-guest: lease $ip at $(cut -d' ' -f1 /proc/uptime) s" > /dev/console
        ;;
esac
exit 0
"""


@dataclass(frozen=True)
class Guest:
    """The built guest: boot ``kernel`` with ``initramfs`` and ``cmdline``."""

    kernel: Path
    initramfs: Path
    cmdline: str
    versions: dict
    build_seconds: float  # 0.0 when it came from the cache
    agent_initramfs: Path  # the initramfs with the QEMU guest agent too

    def with_acpid(self) -> Guest:
        """The same guest, told to power off when the ACPI power button is pressed."""
        return replace(self, cmdline=f"{self.cmdline} {ACPID}")

    def with_static_ip(self, cidr: str) -> Guest:
        """The same guest, setting ``cidr`` (``10.210.3.5/24``) on eth0 instead of asking DHCP."""
        return replace(self, cmdline=f"{self.cmdline} plv.ip={cidr}")

    def without_seed(self) -> Guest:
        """The same guest, not waiting for a cidata seed (for domains that have none)."""
        return replace(self, cmdline=f"{self.cmdline} plv.seed=none")

    def with_agent(self) -> Guest:
        """The same guest, running the QEMU guest agent on its org.qemu.guest_agent.0 port."""
        return replace(self, initramfs=self.agent_initramfs, cmdline=f"{self.cmdline} {AGENT}")


def cache_root() -> Path:
    """/var/cache/pulumi-libvirt/guest when writable (root), else ~/.cache/pulumi-libvirt/guest."""
    system = Path("/var/cache/pulumi-libvirt/guest")
    try:
        system.mkdir(parents=True, exist_ok=True)
        if os.access(system, os.W_OK):
            return system
    except OSError:
        pass
    return Path.home() / ".cache" / "pulumi-libvirt" / "guest"


def build_guest(cache: Path | None = None) -> Guest:
    """The guest for the packages apt offers now: from the cache, or built (about a minute)."""
    root = cache or cache_root()
    versions = _candidates(_kernel_package(), BUSYBOX, *_agent_packages())
    recipe = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    key = hashlib.sha256(json.dumps([versions, recipe], sort_keys=True).encode()).hexdigest()
    target = root / key[:16]
    kernel, initramfs = target / "vmlinuz", target / "initramfs.gz"
    agent_initramfs = target / "initramfs-agent.gz"
    if kernel.exists() and initramfs.exists() and agent_initramfs.exists():
        return Guest(kernel, initramfs, CMDLINE, versions, 0.0, agent_initramfs)
    started = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    with tempfile.TemporaryDirectory(dir=root, prefix="build-") as work_dir:
        work = Path(work_dir)
        subprocess.run(["apt-get", "download", "-q",
                        *(f"{package}={version}" for package, version in versions.items())],
                       cwd=work, check=True, capture_output=True)
        tree = work / "tree"
        for deb in sorted(work.glob("*.deb")):
            subprocess.run(["dpkg", "-x", str(deb), str(tree)], check=True)
        built = work / "out"
        built.mkdir()
        _write_initramfs(tree, built / "initramfs.gz", built / "initramfs-agent.gz")
        shutil.copyfile(next((tree / "boot").glob("vmlinuz-*")), built / "vmlinuz")
        (built / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")
        for path in built.iterdir():
            os.chmod(path, 0o644)
        os.chmod(built, 0o755)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            built.rename(target)
        except OSError:  # another run built it meanwhile
            if not agent_initramfs.exists():
                raise
    return Guest(kernel, initramfs, CMDLINE, versions, time.monotonic() - started,
                 agent_initramfs)


# --------------------------------------------------------------------------------------------
# Running and watching the guest


def wait_for(condition, timeout: float, what: str, log: Path | None = None,
             interval: float = 0.2):
    """``condition()``'s first true value within ``timeout`` seconds, else AssertionError
    (with the end of the guest's serial ``log``, when given)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = ""
            if log is not None and log.exists():
                lines = log.read_text(errors="replace").splitlines()[-40:]
                tail = "\nserial console (last lines):\n" + "\n".join(lines)
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{tail}")
        time.sleep(interval)


def console_line(log: Path, text: str) -> str | None:
    """The first line of the guest's serial log holding ``text``."""
    try:
        content = log.read_text(errors="replace")
    except FileNotFoundError:
        return None
    return next((line for line in content.splitlines() if text in line), None)


def subnet(prefix: str, offset: int, uri: str = "") -> str:
    """A /24 inside 10.211.0.0/16 (the seed tests' range) for this run and host:
    ``10.211.N``."""
    seed = int(prefix.strip("-").split("-")[-1], 16) + zlib.crc32(uri.encode()) % 97 * 3
    return f"10.211.{(seed + offset) % 250 + 1}"


def network_xml(name: str, net: str) -> str:
    """A NAT network ``net``.0/24 with DHCP."""
    return f"""<network><name>{name}</name><forward mode='nat'/>
      <ip address='{net}.1' prefix='24'><dhcp><range start='{net}.10' end='{net}.99'/></dhcp></ip>
    </network>"""


def domain_xml(name: str, kernel, initramfs, seed, serial: Path, network: str,
               ignition=None, cmdline: str = CMDLINE, agent: bool = False) -> str:
    """A TCG domain booting the guest directly, the seed a cdrom on virtio-scsi, one virtio
    NIC on ``network``, the serial console into the file ``serial``; ``ignition``: a file
    handed over through fw_cfg; ``agent``: with the guest agent's virtio-serial channel."""
    channel = (f"<channel type='unix'><target type='virtio' name='{AGENT_PORT}'/></channel>"
               if agent else "")
    sysinfo = ""
    if ignition is not None:
        sysinfo = (f"<sysinfo type='fwcfg'><entry name='opt/com.coreos/config' "
                   f"file='{ignition}'/></sysinfo>")
    return f"""<domain type='qemu'><name>{name}</name><memory unit='MiB'>256</memory>
      <vcpu>1</vcpu>
      <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{kernel}</kernel>
        <initrd>{initramfs}</initrd><cmdline>{cmdline}</cmdline></os>
      <features><acpi/></features>{sysinfo}
      <devices>
        <controller type='scsi' model='virtio-scsi'/>
        <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>
          <source file='{seed}'/><target dev='sda' bus='scsi'/><readonly/></disk>
        <interface type='network'><source network='{network}'/><model type='virtio'/></interface>
        <serial type='file'><source path='{serial}'/><target port='0'/></serial>{channel}
      </devices></domain>"""


# --------------------------------------------------------------------------------------------
# apt


def _apt(*args: str) -> str:
    return subprocess.run(["apt-cache", *args], check=True, capture_output=True,
                          text=True).stdout


def _candidates(*packages: str) -> dict[str, str]:
    """The version apt would fetch of each package."""
    found = dict(re.findall(r"^(\S+):\n\s+Installed: .*\n\s+Candidate: (\S+)",
                            _apt("policy", *packages), re.M))
    for package in packages:
        if found.get(package, "(none)") == "(none)":
            raise RuntimeError(f"apt offers no {package}: are Debian's sources configured?")
    return {package: found[package] for package in packages}


def _agent_packages() -> list[str]:
    """The guest agent's package and every package it depends on, recursively (Depends only:
    its PreDepends are for installing it, not running it); real package names, whatever the
    release calls its libraries (``libglib2.0-0`` or ``libglib2.0-0t64``)."""
    text = _apt("depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                "--no-breaks", "--no-replaces", "--no-enhances", "--no-pre-depends",
                AGENT_PACKAGE)
    return sorted({line for line in text.splitlines()
                   if line and not line[0].isspace() and not line.startswith("<")})


def _kernel_package() -> str:
    """The versioned cloud kernel package the meta-package depends on now."""
    for attempt in range(2):
        try:
            for line in _apt("depends", KERNEL_META).splitlines():
                match = re.match(r"\s*Depends: (linux-image-\S+-cloud-amd64)$", line)
                if match:
                    return match.group(1)
        except subprocess.CalledProcessError:
            pass
        if attempt == 0:  # no package lists yet (a fresh machine): fetch them once
            subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
    raise RuntimeError(f"apt knows no {KERNEL_META} depending on a linux-image-*-cloud-amd64")


# --------------------------------------------------------------------------------------------
# initramfs


def _module_order(modules_dir: Path, wanted: tuple[str, ...]) -> list[str]:
    """Module files (relative to ``modules_dir``) to load, dependencies first."""
    needs, paths = _modules_dep(modules_dir)
    by_name = {_module_name(path): path for path in paths}
    builtin = {_module_name(line) for line in
               (modules_dir / "modules.builtin").read_text().split()}
    order: list[str] = []

    def visit(path: str) -> None:
        for dep in needs(path, by_name):
            visit(dep)
        if path not in order:
            order.append(path)

    for name in wanted:
        name = name.replace("-", "_")
        if name in by_name:
            visit(by_name[name])
        elif name not in builtin:
            raise RuntimeError(f"kernel module {name} is neither a module nor built in")
    return order


def _modules_dep(modules_dir: Path):
    """``(needs, paths)``: what a module needs (paths, as in modules.dep) and every module.

    Debian's package does not ship modules.dep (depmod writes it on install, and depmod may be
    missing here): without it, the same is read from each module's ``depends=`` modinfo.
    """
    dep_file = modules_dir / "modules.dep"
    if dep_file.exists():
        table = {}
        for line in dep_file.read_text().splitlines():
            module, _, deps = line.partition(":")
            table[module] = deps.split()
        return (lambda path, _by_name: table[path]), list(table)

    def from_modinfo(path: str, by_name: dict[str, str]) -> list[str]:
        info = _module_bytes(modules_dir / path)
        match = re.search(rb"\0depends=([^\0]*)\0", info)
        names = match.group(1).decode().split(",") if match and match.group(1) else []
        return [by_name[name.replace("-", "_")] for name in names]

    return from_modinfo, (modules_dir / "modules.order").read_text().split()


def _module_name(path: str) -> str:
    return Path(path).name.split(".ko")[0].replace("-", "_")


def _module_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", str(path)], check=True,
                              capture_output=True).stdout
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    return data


def _write_initramfs(tree: Path, out: Path, agent_out: Path) -> None:
    """``out``: the base initramfs; ``agent_out``: the same with the agent's archive after it."""
    # Debian 13 moves files under /usr (merged /usr): look in both places.
    (modules_dir,) = _first(tree, "lib/modules", "usr/lib/modules").iterdir()
    archive = _Cpio()
    for folder in ("bin", "dev", "proc", "sys", "tmp", "mnt", "mnt/seed", "lib",
                   "lib/modules", "etc", "etc/acpi", "etc/acpi/PWRF"):
        archive.add(folder, 0o040755)
    busybox = _first(tree, "bin/busybox", "usr/bin/busybox")
    archive.add("bin/busybox", 0o100755, busybox.read_bytes())
    archive.add("init", 0o100755, INIT.encode())
    archive.add("udhcpc.sh", 0o100755, UDHCPC.encode())
    # busybox acpid runs /etc/acpi/PWRF/00000080 for the power button
    archive.add("etc/acpi/PWRF/00000080", 0o100755, POWER_BUTTON.encode())
    archive.add("dev/console", 0o020600, rdev=(5, 1))
    base_modules = _module_order(modules_dir, MODULES)
    _add_modules(archive, modules_dir, base_modules, "modules")
    base = gzip.compress(archive.finish(), compresslevel=6, mtime=0)
    out.write_bytes(base)

    agent = _Cpio()
    for folder in ("lib64", "usr", "usr/sbin", "lib/x86_64-linux-gnu"):
        agent.add(folder, 0o040755)
    agent_modules = [m for m in _module_order(modules_dir, AGENT_MODULES)
                     if m not in base_modules]
    _add_modules(agent, modules_dir, agent_modules, "agent-modules")
    binary = _first(tree, "usr/sbin/qemu-ga", "usr/bin/qemu-ga")
    agent.add("usr/sbin/qemu-ga", 0o100755, binary.read_bytes())
    interpreter, libraries = _shared_libraries(tree, binary)
    for name, path in libraries.items():
        agent.add(f"lib/x86_64-linux-gnu/{name}", 0o100755, path.read_bytes())
    if interpreter.lstrip("/") != f"lib/x86_64-linux-gnu/{Path(interpreter).name}":
        agent.add(interpreter.lstrip("/"), 0o120777,
                  f"/lib/x86_64-linux-gnu/{Path(interpreter).name}".encode())
    agent_out.write_bytes(base + gzip.compress(agent.finish(), compresslevel=6, mtime=0))


def _add_modules(archive: _Cpio, modules_dir: Path, order: list[str], listing: str) -> None:
    """The modules (in load ``order``) under /lib/modules, and their names in ``/listing``."""
    names = []
    for relative in order:
        name = Path(relative).name.split(".ko")[0] + ".ko"
        archive.add(f"lib/modules/{name}", 0o100644, _module_bytes(modules_dir / relative))
        names.append(name)
    archive.add(listing, 0o100644, "".join(f"{n}\n" for n in names).encode())


def _shared_libraries(tree: Path, binary: Path) -> tuple[str, dict[str, Path]]:
    """``binary``'s ELF interpreter (its path) and every shared library it loads, by soname
    (its DT_NEEDED, and theirs, found in the unpacked packages), the interpreter among them."""
    interpreter, needed = _elf_dynamic(binary.read_bytes())
    if interpreter is None:
        raise RuntimeError(f"{binary.name} is not dynamically linked")
    found: dict[str, Path] = {}
    queue = [Path(interpreter).name, *needed]
    while queue:
        name = queue.pop()
        if name in found:
            continue
        path = next((tree / d / name for d in LIB_DIRS if (tree / d / name).exists()), None)
        if path is None:
            raise RuntimeError(f"{binary.name} needs {name}, which none of the packages "
                               f"{AGENT_PACKAGE} depends on holds")
        found[name] = path
        queue.extend(_elf_dynamic(path.read_bytes())[1])
    return interpreter, found


def _elf_dynamic(data: bytes) -> tuple[str | None, list[str]]:
    """An x86-64 ELF file's interpreter (PT_INTERP) and DT_NEEDED names."""
    if data[:5] != b"\x7fELF\x02":
        raise RuntimeError("not a 64-bit ELF file")
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
    interpreter = None
    for index in range(phnum):
        kind, _flags, offset, _vaddr, _paddr, size = struct.unpack_from(
            "<IIQQQQ", data, phoff + index * phentsize)
        if kind == 3:  # PT_INTERP
            interpreter = data[offset:offset + size].rstrip(b"\0").decode()
    sections = [struct.unpack_from("<IIQQQQII", data, shoff + i * shentsize)
                for i in range(shnum)]
    needed = []
    for _name, kind, _flags, _addr, offset, size, link, _info in sections:
        if kind != 6:  # SHT_DYNAMIC: (tag, value) pairs; names index the linked string table
            continue
        strings = sections[link][4]
        for at in range(offset, offset + size, 16):
            tag, value = struct.unpack_from("<qQ", data, at)
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\0", strings + value)
                needed.append(data[strings + value:end].decode())
    return interpreter, needed


def _first(tree: Path, *candidates: str) -> Path:
    for candidate in candidates:
        if (tree / candidate).exists():
            return tree / candidate
    raise RuntimeError(f"none of {', '.join(candidates)} in the unpacked packages")


class _Cpio:
    """A cpio archive in the "newc" format the kernel unpacks."""

    def __init__(self) -> None:
        self._out = io.BytesIO()
        self._ino = 1

    def add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)):
        fields = [self._ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(name) + 1, 0]
        self._ino += 1
        header = "070701" + "".join(f"{f:08x}" for f in fields)
        self._write(header.encode() + name.encode() + b"\0")
        self._write(data)

    def _write(self, chunk: bytes) -> None:
        self._out.write(chunk)
        self._out.write(b"\0" * (-self._out.tell() % 4))

    def finish(self) -> bytes:
        self.add("TRAILER!!!", 0)
        return self._out.getvalue()


if __name__ == "__main__":
    guest = build_guest()
    print(json.dumps({"kernel": str(guest.kernel), "initramfs": str(guest.initramfs),
                      "cmdline": guest.cmdline, "versions": guest.versions,
                      "build_seconds": round(guest.build_seconds, 1)}, indent=2))
    sys.exit(0)
