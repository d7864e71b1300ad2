"""One connection per host URI per process: opened lazily, with keepalive, reopened when dead.

Nothing here holds a lock across a network round trip: a host that is slow or silent holds up
only the calls made to it. Opening runs in a thread of its own so that the caller can give up
after ``timeout()`` seconds (a TCP connect to a host that drops packets would otherwise block
for minutes); callers for the same host share that one attempt. Established connections carry
libvirt's keepalive, so a host that stops answering is noticed within about the same time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import libvirt

from . import events, ssh
from .errors import LibvirtError, cannot_connect, message
from .settings import timeout

T = TypeVar("T")

def _quiet(_ctx, _err) -> None:
    """libvirt prints every error to stderr by default; we report them ourselves."""


libvirt.registerErrorHandler(_quiet, None)

# Errors that mean the connection itself is gone, not that the call was refused.
_DEAD = {
    getattr(libvirt, name)
    for name in (
        "VIR_ERR_SYSTEM_ERROR", "VIR_ERR_RPC", "VIR_ERR_NO_CONNECT", "VIR_ERR_INVALID_CONN"
    )
    if hasattr(libvirt, name)
}


def _keepalive_lost(exc: libvirt.libvirtError) -> bool:
    return "keepalive" in message(exc)


def dead(exc: BaseException) -> bool:
    """Whether a libvirt error says the connection is gone (rather than the call refused)."""
    return isinstance(exc, libvirt.libvirtError) and (
        exc.get_error_code() in _DEAD or _keepalive_lost(exc)
    )


def open_connection(uri: str) -> libvirt.virConnect:
    """A new connection to ``uri`` with keepalive on (blocking; see ``connect`` for the bound)."""
    events.ensure_running()
    conn = ssh.open_safely(uri, libvirt.open)
    interval = max(1, round(timeout() / 6))
    try:
        conn.setKeepAlive(interval, 5)  # closed after about interval * (5 + 1) s of silence
    except libvirt.libvirtError:
        pass  # local drivers (test:///, qemu:///session without a daemon) have no keepalive
    return conn


class _Attempt:
    """One ``open_connection`` in a thread of its own; every caller for the host waits on it."""

    def __init__(self, host: _Host) -> None:
        self.host = host
        self.started = time.monotonic()
        self.done = threading.Event()
        self.conn: libvirt.virConnect | None = None
        self.error: LibvirtError | None = None
        threading.Thread(target=self._open, name=f"libvirt-open {host.uri}", daemon=True).start()

    def _open(self) -> None:
        try:
            self.conn = open_connection(self.host.uri)
        except libvirt.libvirtError as exc:
            self.error = LibvirtError(cannot_connect(self.host.uri, message(exc)))
        except LibvirtError as exc:
            self.error = exc
        with self.host.lock:
            self.host.opening = None
            if self.conn is not None:
                self.host.conn = self.conn
        self.done.set()


class _Host:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.lock = threading.Lock()  # guards the two fields below; never held across I/O
        self.conn: libvirt.virConnect | None = None
        self.opening: _Attempt | None = None


_hosts_lock = threading.Lock()
_hosts: dict[str, _Host] = {}


def _host(uri: str) -> _Host:
    with _hosts_lock:
        host = _hosts.get(uri)
        if host is None:
            host = _hosts[uri] = _Host(uri)
        return host


def _close_later(conn: libvirt.virConnect) -> None:
    """Close a dead connection without waiting on it (closing talks to the host)."""

    def close() -> None:
        try:
            conn.close()
        except libvirt.libvirtError:
            pass

    threading.Thread(target=close, name="libvirt-close", daemon=True).start()


def connect(uri: str, bound: float | None = None) -> libvirt.virConnect:
    """The open connection to ``uri``, opened on first use and reopened when it has died.

    Gives up after ``bound`` (default ``timeout()``) seconds with a ``LibvirtError`` naming the
    host and the cause; the attempt goes on in the background for the next caller.
    """
    host = _host(uri)
    with host.lock:
        conn = host.conn
        if conn is not None:
            try:
                # Local: with the event loop running, a closed socket or a keepalive timeout
                # shows here at once; a daemon restarted behind an open socket shows on the next
                # call, which ``run`` retries.
                if conn.isAlive():
                    return conn
            except libvirt.libvirtError:
                pass
            host.conn = None
            _close_later(conn)
        attempt = host.opening
        if attempt is None:
            attempt = host.opening = _Attempt(host)
    limit = timeout()
    # An attempt pending for longer than the timeout already failed its first caller: fail now.
    wait = limit - (time.monotonic() - attempt.started)
    if bound is not None:
        wait = min(wait, bound)
    if not attempt.done.wait(max(0.0, wait)):
        said = (f"{bound:g} s" if bound is not None and bound < limit
                else f"{limit:g} s (setting: libvirt:timeout)")
        raise LibvirtError(cannot_connect(uri, f"no answer within {said}"))
    if attempt.error is not None:
        raise attempt.error
    assert attempt.conn is not None
    return attempt.conn


PROBE_BOUND = 5.0
_unreachable: dict[str, tuple[float, str]] = {}  # uri -> (until when, why), for probe


def probe(uri: str) -> str | None:
    """None when ``uri`` answers (an open connection counts), else why not, in one line.

    Waits at most ``PROBE_BOUND`` seconds (or the timeout, if shorter); a failure is remembered
    for the timeout, so that a preview of many resources on a dead host waits once.
    """
    now = time.monotonic()
    remembered = _unreachable.get(uri)
    if remembered is not None and remembered[0] > now:
        return remembered[1]
    try:
        connect(uri, bound=min(PROBE_BOUND, timeout()))
    except LibvirtError as exc:
        _unreachable[uri] = (time.monotonic() + timeout(), str(exc))
        return str(exc)
    _unreachable.pop(uri, None)
    return None


def forget(uri: str, conn: libvirt.virConnect | None = None) -> None:
    """Drop the cached connection to ``uri`` (only if it is ``conn``, when given)."""
    host = _host(uri)
    with host.lock:
        cached = host.conn
        if cached is None or (conn is not None and cached is not conn):
            return
        host.conn = None
    _close_later(cached)


def run(uri: str, action: Callable[[libvirt.virConnect], T]) -> T:
    """Call ``action(conn)``; when the connection turns out dead, reconnect and call it again.

    A host that stopped answering (keepalive) is not retried: it fails at once, naming the host.
    """
    conn = connect(uri)
    try:
        return action(conn)
    except libvirt.libvirtError as exc:
        if not dead(exc):
            raise
        forget(uri, conn)
        if _keepalive_lost(exc):
            raise LibvirtError(f"libvirt at {uri} stopped answering: {message(exc)} "
                               f"(setting: libvirt:timeout)") from None
        return action(connect(uri))
