"""Test hosts: independent libvirt hosts on this machine, reached over qemu+ssh (see
``scripts/test-hosts.sh``, which does the work; this module drives it for tests and
benchmarks)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from daemons import libvirtds, unavailable

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "test-hosts.sh"
DIRECTORY = Path(os.environ.get("PULUMI_LIBVIRT_HOSTS_DIR", "/tmp/pulumi-libvirt-hosts"))


def _script(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                            check=False, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise RuntimeError(f"test-hosts.sh {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


@dataclass(frozen=True)
class TestHost:
    """One host of a set: its address, URIs, and switches to make it fail."""

    __test__ = False  # not a pytest class

    set_name: str
    index: int
    netns: str
    address: str
    ssh_uri: str
    libssh_uri: str
    socket_uri: str

    def stop(self) -> None:
        """Stop its daemons: its address refuses connections."""
        _script("stop", self.set_name, str(self.index))

    def start(self) -> None:
        """Start its daemons again and wait until libvirtd answers."""
        _script("start", self.set_name, str(self.index))

    def drop(self) -> None:
        """Make it drop every packet silently."""
        _script("drop", self.set_name, str(self.index))

    def undrop(self) -> None:
        _script("undrop", self.set_name, str(self.index))

    def run(self, *command: str) -> subprocess.CompletedProcess:
        """Run a command inside the host's namespaces (as its daemons see the machine)."""
        pid = next(pid for pid, netns in libvirtds().items() if netns == self.netns)
        return subprocess.run(["nsenter", "-t", str(pid), "-m", "-n", *command],
                              capture_output=True, text=True, check=False)


@dataclass(frozen=True)
class TestHosts:
    """A set of test hosts with the client key, known_hosts and ssh config made for it."""

    __test__ = False

    name: str
    hosts: tuple[TestHost, ...]
    keyfile: str
    known_hosts: str
    ssh_config: str

    def __getitem__(self, index: int) -> TestHost:
        return self.hosts[index]

    def __len__(self) -> int:
        return len(self.hosts)

    def down(self) -> None:
        _script("down", self.name)


def up(count: int, name: str, delay_ms: float = 0) -> TestHosts:
    """Bring up ``count`` hosts named ``name`` (1 to 6 lower-case letters or digits);
    ``delay_ms``: every byte to and from their sshd arrives that much later each way."""
    _script("up", str(count), name, env={"PULUMI_LIBVIRT_HOSTS_DELAY_MS": f"{delay_ms:g}"})
    index = json.loads((DIRECTORY / name / "hosts.json").read_text())
    hosts = tuple(
        TestHost(name, h["index"], h["netns"], h["address"], h["ssh_uri"], h["libssh_uri"],
                 h["socket_uri"])
        for h in index["hosts"]
    )
    return TestHosts(name, hosts, index["keyfile"], index["known_hosts"], index["ssh_config"])


def available() -> str | None:
    """Why test hosts cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "test hosts need root (network and mount namespaces)"
    for tool in ("/usr/sbin/sshd", "/usr/bin/ssh", "/usr/sbin/nft"):
        if not os.path.exists(tool):
            return f"{tool} is missing: run scripts/setup.sh"
    return None


def remove_dead_runs_hosts() -> list[str]:
    """Take down the sets of test runs that died before tearing theirs down (the set is named
    after the run prefix, whose lock no live run holds); the sets taken down."""
    from leftovers import is_live

    dead = [path.name for path in sorted(DIRECTORY.glob("*"))
            if re.fullmatch(r"[0-9a-f]{6}", path.name) and not is_live(f"plvt-{path.name}-")]
    for name in dead:
        _script("down", name)
    return dead


# -- pytest fixtures (imported by conftest.py) ------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def libvirt_hosts(run_prefix: str):
    """Three test hosts for this run (set named after the run prefix), torn down at the end.

    Skips where namespaces cannot be made, unless ``PULUMI_LIBVIRT_REQUIRE`` names ``hosts``
    (CI sets it): then it fails.
    """
    reason = available()
    if reason is not None:
        unavailable("hosts", reason)
    remove_dead_runs_hosts()
    hosts = up(3, run_prefix.split("-")[1])
    try:
        yield hosts
    finally:
        hosts.down()
