"""What a libvirt daemon's network namespace shows: a network's dnsmasq, bridges and their
ports, and DHCP leases (tests/dhcpclient.py) and DNS answers as a host on the bridge gets them.

The daemon's namespace is reached through a process it started (a network's dnsmasq), never by
name, so these helpers work for every daemon on this machine, whatever namespace it runs in.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Dnsmasq:
    """The dnsmasq libvirt runs for a network: its pid and its configuration."""

    pid: int
    conf: str  # the text of its --conf-file
    root: str  # /proc/<pid>/root: its files as it sees them

    def option(self, name: str) -> str | None:
        """The value of ``name=`` in the configuration."""
        for line in self.conf.splitlines():
            if line.startswith(f"{name}="):
                return line.split("=", 1)[1]
        return None

    def read(self, option: str) -> str:
        """The file an option names (``dhcp-hostsfile``, ``addn-hosts``)."""
        path = self.option(option)
        if path is None:
            return ""
        return Path(self.root + path).read_text()


def find_dnsmasq(network: str) -> Dnsmasq | None:
    """The running dnsmasq of the libvirt network called ``network``, if any."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"dnsmasq"):
            continue
        conf = next((a.split(b"=", 1)[1].decode() for a in argv
                     if a.startswith(b"--conf-file=")), None)
        if conf and os.path.basename(conf) == f"{network}.conf":
            found.append((int(entry), conf))
    if not found:
        return None
    pid, conf = min(found)
    root = f"/proc/{pid}/root"
    try:
        text = Path(root + conf).read_text()
    except OSError:
        return None
    pid_file = next((line.split("=", 1)[1] for line in text.splitlines()
                     if line.startswith("pid-file=")), None)
    if pid_file:  # dnsmasq's helper for lease scripts runs with the same command line
        try:
            pid = int(Path(root + pid_file).read_text().strip())
        except (OSError, ValueError):
            pass
    return Dnsmasq(pid, text, root)


def wait_for_dnsmasq(network: str, timeout: float = 30.0, other_than: int | None = None
                     ) -> Dnsmasq:
    deadline = time.monotonic() + timeout
    while True:
        found = find_dnsmasq(network)
        if found is not None and found.pid != other_than:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no dnsmasq for network {network!r} within {timeout} s")
        time.sleep(0.1)


class Netns:
    """A network namespace, held open (it stays usable after the process that showed it ends)."""

    def __init__(self, pid: int) -> None:
        self._fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)

    def run(self, *argv: str, check: bool = True) -> str:
        result = subprocess.run(["nsenter", f"--net=/proc/self/fd/{self._fd}", *argv],
                                pass_fds=(self._fd,), capture_output=True, text=True,
                                check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)}: {result.stderr}")
        return result.stdout

    def links(self, master: str | None = None) -> set[str]:
        """Interface names (of the bridge ``master``'s ports, when given)."""
        argv = ["ip", "-br", "link", "show"] + (["master", master] if master else [])
        out = self.run(*argv, check=False)
        return {line.split()[0].split("@")[0] for line in out.splitlines() if line.strip()}

    def ifindex(self, device: str) -> int | None:
        """The interface index of ``device`` (a new one each time the device is made anew)."""
        out = self.run("ip", "-o", "link", "show", "dev", device, check=False)
        return int(out.split(":", 1)[0]) if out.strip() else None

    def close(self) -> None:
        os.close(self._fd)


class BridgeClient:
    """A test host on a libvirt network: a namespace of its own (made for the test), linked by
    a veth pair to a port of the network's bridge in the daemon's namespace."""

    def __init__(self, daemon: Netns, bridge: str) -> None:
        tag = secrets.token_hex(3)
        self.daemon, self.bridge = daemon, bridge
        self.name = f"plvt-{tag}-client"
        self.inside, self.port = f"plv{tag}c", f"plv{tag}p"

    def __enter__(self) -> BridgeClient:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            self.daemon.run("ip", "link", "add", self.inside, "type", "veth", "peer", "name",
                            self.port)
            self.daemon.run("ip", "link", "set", self.inside, "netns", self.name)
            self.daemon.run("ip", "link", "set", self.port, "master", self.bridge, "up")
            self.run("ip", "link", "set", "lo", "up")
            self.run("ip", "link", "set", self.inside, "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.daemon.run("ip", "link", "del", self.port, check=False)
        subprocess.run(["ip", "netns", "del", self.name], check=False)

    def run(self, *argv: str) -> str:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True,
                              text=True, check=True).stdout

    def dhcp_lease(self, mac: str, hostname: str = "plvt-client", timeout: float = 30.0
                   ) -> str | None:
        """The address a DHCP client with this MAC is leased (None: no lease in time)."""
        result = subprocess.run(["ip", "netns", "exec", self.name, sys.executable,
                                 str(Path(__file__).with_name("dhcpclient.py")), self.inside,
                                 mac, hostname, str(timeout)],
                                capture_output=True, text=True, check=False)
        return (result.stdout.strip() or None) if result.returncode == 0 else None

    def resolve(self, server: str, own_address: str, name: str) -> list[str]:
        """The IPv4 addresses ``server`` answers for ``name`` (this host takes
        ``own_address``, a CIDR, to ask from)."""
        if own_address not in self.run("ip", "-br", "addr", "show", self.inside):
            self.run("ip", "addr", "add", own_address, "dev", self.inside)
        out = self.run(sys.executable, "-c", _DNS_CLIENT, server, name)
        return out.split()


# One DNS A query over UDP; prints the addresses in the answer.
_DNS_CLIENT = r"""
import os, socket, struct, sys
server, name = sys.argv[1], sys.argv[2]
ident = os.urandom(2)
question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
query = ident + struct.pack("!HHHHH", 0x0100, 1, 0, 0, 0) + question + struct.pack("!HH", 1, 1)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(5.0)
sock.sendto(query, (server, 53))
data = sock.recv(4096)
answers = struct.unpack("!H", data[6:8])[0]
at = 12 + len(question) + 4

def skip_name(at):
    while data[at]:
        if data[at] & 0xC0 == 0xC0:
            return at + 2
        at += data[at] + 1
    return at + 1

for _ in range(answers):
    at = skip_name(at)
    rtype, _cls, _ttl, length = struct.unpack("!HHIH", data[at:at + 10])
    at += 10
    if rtype == 1:
        print(socket.inet_ntoa(data[at:at + 4]))
    at += length
"""


class NetworkEvents:
    """libvirt's network lifecycle events (defined, started, stopped, ...) as one daemon sends
    them, recorded by network name from when this opens until ``close``."""

    def __init__(self, uri: str) -> None:
        import libvirt

        from pulumi_libvirt.connection import events

        events.ensure_running()  # before the connection opens, or no event reaches it
        self._conn = libvirt.open(uri)
        self.seen: list[tuple[str, str]] = []
        self._words = {libvirt.VIR_NETWORK_EVENT_DEFINED: "defined",
                       libvirt.VIR_NETWORK_EVENT_UNDEFINED: "undefined",
                       libvirt.VIR_NETWORK_EVENT_STARTED: "started",
                       libvirt.VIR_NETWORK_EVENT_STOPPED: "stopped"}
        self._callback = self._conn.networkEventRegisterAny(
            None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE, self._record, None)

    def _record(self, _conn, net, event: int, _detail: int, _opaque) -> None:
        self.seen.append((net.name(), self._words.get(event, str(event))))

    def of(self, network: str) -> list[str]:
        return [event for name, event in self.seen if name == network]

    def settle(self, marker: str, timeout: float = 30.0) -> None:
        """Wait until every event the daemon sent so far has arrived: define and undefine a
        network ``marker`` and wait for its 'undefined', which the daemon sends after them."""
        net = self._conn.networkDefineXML(f"<network><name>{marker}</name></network>")
        net.undefine()
        deadline = time.monotonic() + timeout
        while "undefined" not in self.of(marker):
            if time.monotonic() > deadline:
                raise AssertionError(f"no 'undefined' event for {marker!r} within {timeout} s")
            time.sleep(0.05)
        self.seen = [(name, event) for name, event in self.seen if name != marker]

    def close(self) -> None:
        self._conn.networkEventDeregisterAny(self._callback)
        self._conn.close()
