"""The real libvirt daemons the suite runs against, and how to reach, find and restart each.

``libvirt9`` is the machine's own libvirtd on ``qemu:///system`` (libvirt 9.0 on Debian 12,
started by ``scripts/setup.sh`` in netns ``pulumi-libvirt``). ``libvirt11`` is libvirt 11.3
with QEMU 10.0 in a Debian 13 root (``scripts/libvirt-root.sh``), reached by its socket. Every
test that asks for ``system_uri`` runs once against each.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parent.parent
ROOT11 = Path(os.environ.get("PULUMI_LIBVIRT_ROOT", "/var/cache/pulumi-libvirt/trixie-root"))
#: Host directories scripts/libvirt-root.sh binds into the root at the same path (its SHARED).
SHARED = (Path("/tmp"), Path("/var/tmp"), Path("/var/cache/pulumi-libvirt/guest"))


@dataclass(frozen=True)
class Daemon:
    """One libvirtd: its test id, URI, and where its process lives."""

    name: str
    uri: str
    netns: str  # the network namespace our scripts start it in
    only_in_netns: bool  # False: the machine's own, which a developer may run outside one
    start_command: tuple[str, ...] | None  # starts it again; None: `libvirtd -d` in its netns
    how_to_start: str  # for the skip message
    root: Path = Path("/")  # its "/" on the host; the host's /tmp is bound at its /tmp

    def host_path(self, path: str | Path) -> Path:
        """Where a file this daemon sees at `path` is on the host: the same path in a directory
        shared with the host (what tests hand libvirt), else inside its root (what libvirt
        keeps itself: NVRAM, logs)."""
        path = Path(path)
        if self.root == Path("/") or any(path == d or d in path.parents for d in SHARED):
            return path
        return self.root / path.relative_to("/")

    def libvirtd(self) -> int | None:
        """The pid of this daemon's libvirtd, or None unless exactly one is found: the one in
        its network namespace, else (the machine's own only) the one in no named namespace.
        A test host's libvirtd (netns ``plvh-*``) is never it."""
        where = {pid: netns for pid, netns in libvirtds().items()
                 if not (netns or "").startswith(TEST_HOST_NETNS)}
        pids = [pid for pid, netns in where.items() if netns == self.netns]
        if not pids and not self.only_in_netns:
            pids = [pid for pid, netns in where.items() if netns is None]
        return pids[0] if len(pids) == 1 else None

    def restart(self, pid: int) -> None:
        """Kill libvirtd `pid` (this daemon's) and start it again as its setup would."""
        netns = netns_of(pid)
        command = self.start_command or (
            *(("ip", "netns", "exec", netns) if netns else ()), "libvirtd", "-d")
        os.kill(pid, 15)
        for _ in range(100):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.1)
        subprocess.run(command, check=True, capture_output=True)


#: The network namespaces of test hosts (scripts/test-hosts.sh names them plvh-SET-I).
TEST_HOST_NETNS = "plvh-"


def libvirtds() -> dict[int, str | None]:
    """Every libvirtd running on the machine, with the name of its network namespace (None:
    none that ``ip netns`` names); not the children a libvirtd forks to spawn something."""
    found = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True, text=True)
    every = {int(pid) for pid in found.stdout.split()}
    return {pid: netns_of(pid) for pid in every if _parent(pid) not in every}


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def netns_of(pid: int) -> str | None:
    """The name `ip netns` gives the network namespace of `pid`, or None."""
    return subprocess.run(["ip", "netns", "identify", str(pid)], capture_output=True,
                          text=True).stdout.strip() or None


DAEMONS: dict[str, Daemon] = {
    daemon.name: daemon
    for daemon in (
        Daemon("libvirt9", "qemu:///system", "pulumi-libvirt", False, None,
               "run scripts/setup.sh"),
        Daemon("libvirt11",
               f"qemu+unix:///system?socket={ROOT11}/run/libvirt/libvirt-sock",
               "pulumi-libvirt11", True,
               ("bash", str(REPO / "scripts" / "libvirt-root.sh"), "start"),
               "start it with `bash scripts/libvirt-root.sh` (builds a Debian 13 root once, "
               "about a minute)", ROOT11),
    )
}


def unavailable(name: str, message: str) -> NoReturn:
    """Skip the test for want of `name` (a daemon, or ``hosts``), saying `message`; fail it
    instead when ``PULUMI_LIBVIRT_REQUIRE`` names it (CI)."""
    if name in os.environ.get("PULUMI_LIBVIRT_REQUIRE", "").split(","):
        pytest.fail(f"{message} (PULUMI_LIBVIRT_REQUIRE names {name})", pytrace=False)
    pytest.skip(message)


def host_path(uri: str, path: str | Path) -> Path:
    """Where the file that the daemon at `uri` sees at `path` is on the host."""
    daemon = next((d for d in DAEMONS.values() if d.uri == uri), None)
    return daemon.host_path(path) if daemon else Path(path)

