"""``qemu+ssh://`` without fork(): ssh started with posix_spawn, reached through a local socket.

libvirt's ssh transport fork()s and execs ``ssh``. Inside the Pulumi provider host, a gRPC
server, fork() runs gRPC's fork handlers in the child, which then deadlocks before it can exec
or breaks the parent's poller: about 1 in 10 fresh connections failed, and some hung for good,
when measured here (benchmarks/hosts.py --ssh-modes). posix_spawn never runs fork handlers (glibc
spawns with clone(CLONE_VFORK)), so for ``qemu+ssh://`` we start ssh ourselves:

- a relay per URI listens on a unix socket in a private directory of this process;
- libvirt opens ``DRIVER+unix:///PATH?socket=<relay>`` instead of the ssh URI;
- each connection the relay accepts becomes one ``ssh ... sh -c '<remote command>'`` whose
  stdin and stdout are that connection.

The ssh command line is the one libvirt builds for the URI (``command``, port, user,
``keyfile``, ``no_tty``, ``no_verify``, ``netcat``, ``socket``, ``proxy``; plus ``libvirt:timeout``
as ConnectTimeout and ServerAlive), so ssh reads the same
``~/.ssh/config``, known_hosts and agent; when it fails, its own message is what the user sees.
``PULUMI_LIBVIRT_SSH=libvirt`` turns this off (libvirt's own transport).
"""

from __future__ import annotations

import atexit
import math
import os
import shlex
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from urllib.parse import quote, unquote, urlsplit

import libvirt

from .errors import LibvirtError, cannot_connect
from .settings import timeout
from .uri import parameters, uses_ssh

MODE_ENV = "PULUMI_LIBVIRT_SSH"
_DIR_PREFIX = "pulumi-libvirt-ssh-"


def enabled() -> bool:
    """Whether qemu+ssh:// goes through the spawned-ssh relay (default) or libvirt's transport."""
    return os.environ.get(MODE_ENV, "spawn") != "libvirt"


def remote_command(uri: str) -> str:
    """What ssh runs on the host: libvirt's own choice of virt-ssh-helper or nc."""
    parts, params = urlsplit(uri), parameters(uri)
    driver = parts.scheme.split("+", 1)[0]
    local_uri = f"{driver}://{parts.path or '/'}"
    sock = params.get("socket") or (
        "/var/run/libvirt/libvirt-sock-ro" if params.get("readonly") else
        "/var/run/libvirt/libvirt-sock")
    netcat = shlex.quote(params.get("netcat") or "nc")
    nc = (f"if {netcat} -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then "
          f"ARG=-q0; else ARG=; fi; {netcat} $ARG -U {shlex.quote(sock)}")
    helper = f"virt-ssh-helper {shlex.quote(local_uri)}"
    proxy = params.get("proxy", "auto")
    if proxy == "native":
        return helper
    if proxy == "netcat" or "netcat" in params or "socket" in params:
        return nc
    return (f"if which virt-ssh-helper >/dev/null 2>&1; then {helper}; else {nc}; fi")


def ssh_argv(uri: str) -> list[str]:
    """The ssh command line libvirt would run for ``uri`` (and ``libvirt:timeout`` as ssh's
    ConnectTimeout)."""
    parts, params = urlsplit(uri), parameters(uri)
    argv = [params.get("command") or "ssh"]
    if parts.port:
        argv += ["-p", str(parts.port)]
    if parts.username:
        argv += ["-l", unquote(parts.username)]
    if params.get("keyfile"):
        argv += ["-i", params["keyfile"]]
    # The bounds of libvirt:timeout, in ssh's words: give up connecting after it, and end a
    # session whose host stopped answering after about as long (see hosts.keepalive_interval).
    argv += ["-T", "-e", "none", "-o", f"ConnectTimeout={math.ceil(timeout())}",
             "-o", f"ServerAliveInterval={max(1, round(timeout() / 6))}",
             "-o", "ServerAliveCountMax=5"]
    if params.get("no_tty") == "1":
        argv += ["-o", "BatchMode=yes"]
    if params.get("no_verify") == "1":
        argv += ["-o", "StrictHostKeyChecking=no"]
    return [*argv, "--", parts.hostname or "localhost", "sh", "-c",
            shlex.quote(remote_command(uri))]


def _spawn(argv: list[str], fd: int, err: int) -> int:
    """Start argv with fd as stdin and stdout, err as stderr; posix_spawn, never fork()."""
    return os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, fd, 0),
        (os.POSIX_SPAWN_DUP2, fd, 1),
        (os.POSIX_SPAWN_DUP2, err, 2),
    ])


def _private_dir() -> str:
    """This process's directory for relay sockets (0700); leftovers of dead processes go."""
    base = tempfile.gettempdir()
    for name in os.listdir(base):
        if name.startswith(_DIR_PREFIX):
            pid = name[len(_DIR_PREFIX):].split("-")[0]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                shutil.rmtree(os.path.join(base, name), ignore_errors=True)
    path = tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}-")
    atexit.register(shutil.rmtree, path, True)
    return path


class Relay:
    """A local unix socket whose every connection is carried by a new ssh to the host."""

    def __init__(self, uri: str, directory: str) -> None:
        self.uri = uri
        self.argv = ssh_argv(uri)
        self.path = os.path.join(directory, f"{abs(hash(uri)):x}.sock")
        self.lock = threading.Lock()
        # (when, ssh's stderr, whether it lost the host) of the last sessions that failed
        self.failures: list[tuple[float, str, bool]] = []
        self.children: dict[int, float] = {}  # pid -> when spawned (monotonic)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(64)
        threading.Thread(target=self._accept, name=f"ssh-relay {uri}", daemon=True).start()

    def libvirt_uri(self) -> str:
        parts = urlsplit(self.uri)
        driver = parts.scheme.split("+", 1)[0]
        return f"{driver}+unix://{parts.path or '/'}?socket={quote(self.path)}"

    def _accept(self) -> None:
        while True:
            conn, _ = self.listener.accept()
            read_err, write_err = os.pipe()
            try:
                pid = _spawn(self.argv, conn.fileno(), write_err)
            except OSError as exc:
                self._failed(f"cannot start {self.argv[0]}: {exc.strerror}")
                os.close(read_err)
                continue
            finally:
                conn.close()
                os.close(write_err)
            with self.lock:
                self.children[pid] = time.monotonic()
            threading.Thread(target=self._reap, args=(pid, read_err), daemon=True,
                             name=f"ssh {pid}").start()

    def _reap(self, pid: int, read_err: int) -> None:
        with os.fdopen(read_err, "rb") as stream:
            text = stream.read().decode(errors="replace")
        _, status = os.waitpid(pid, 0)
        with self.lock:
            self.children.pop(pid, None)
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, -15):
            # 255 is ssh's own failure: the host refused, was lost (ServerAlive) or went away.
            # ssh words the last two only at LogLevel INFO.
            lost = code == 255
            text = " ".join(text.split()) or (
                f"ssh lost the connection (no answer for about {timeout():g} s, or the host "
                "went away)" if lost else f"ssh exited with status {code}")
            self._failed(text, lost)

    def _failed(self, text: str, lost: bool = False) -> None:
        with self.lock:
            self.failures = [*self.failures[-9:], (time.monotonic(), text, lost)]

    def last_failure(self, since: float, lost: bool = False) -> str | None:
        """ssh's message for a session that failed after ``since`` (monotonic), if any (only
        sessions that lost their host, with ``lost``)."""
        with self.lock:
            found = [text for when, text, gone in self.failures
                     if when >= since and (gone or not lost)]
        return found[-1] if found else None


_lock = threading.Lock()
_directory: str | None = None
_relays: dict[str, Relay] = {}


def relay(uri: str) -> Relay:
    """The relay for ``uri`` (made on first use)."""
    global _directory
    with _lock:
        if uri not in _relays:
            if _directory is None:
                _directory = _private_dir()
            _relays[uri] = Relay(uri, _directory)
        return _relays[uri]


def relayed(uri: str) -> bool:
    """Whether connections to ``uri`` go through a spawned-ssh relay."""
    return uses_ssh(uri) and enabled()


def silence(uri: str, since: float) -> str | None:
    """ssh's words when a session to ``uri`` ended after ``since`` because ssh lost the host
    (ServerAlive, or the host went away), else None (libvirtd on it went away: reconnecting
    helps)."""
    with _lock:
        hop = _relays.get(uri)
    return hop.last_failure(since, lost=True) if hop is not None else None


def open_safely(uri: str, opener: Callable[[str], libvirt.virConnect]) -> libvirt.virConnect:
    """``opener(uri)``, except that ``qemu+ssh://`` goes through a spawned-ssh relay."""
    if not relayed(uri):
        return opener(uri)
    hop = relay(uri)
    started = time.monotonic()
    try:
        return opener(hop.libvirt_uri())
    except libvirt.libvirtError:
        time.sleep(0.05)  # let the reaper read ssh's last words
        failure = hop.last_failure(started)
        if failure is None:
            raise
        raise LibvirtError(cannot_connect(uri, failure)) from None
