"""One connection per host URI per process: opened lazily, with keepalive, reopened when dead.

Nothing here holds a lock across a network round trip: a host that is slow or silent holds up
only the calls made to it. Opening runs in a thread of its own so that the caller can give up
after ``timeout()`` seconds (a TCP connect to a host that drops packets would otherwise block
for minutes); callers for the same host share that one attempt. A host that stops answering
is noticed within about the same time: ssh's ServerAlive ends a ``qemu+ssh`` session (see
``ssh``), libvirt's keepalive (run by ``events``) ends the other remote connections.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import libvirt

from . import events, ssh
from .errors import LibvirtError, cannot_connect, dead, keepalive_lost, message
from .settings import timeout

T = TypeVar("T")


def _quiet(_ctx, _err) -> None:
    """libvirt prints every error to stderr by default; we report them ourselves."""


libvirt.registerErrorHandler(_quiet, None)


def keepalive_interval() -> int:
    """Seconds between keepalive probes: five unanswered ones end a connection in about
    ``timeout()``."""
    return max(1, round(timeout() / 6))


def open_connection(uri: str) -> libvirt.virConnect:
    """A new connection to ``uri`` with keepalive on (blocking; see ``connect`` for the bound)."""
    events.ensure_running()
    conn = ssh.open_safely(uri, libvirt.open)
    interval = keepalive_interval()
    if ssh.relayed(uri):
        # ssh's own ServerAlive ends a silent session, and every call waiting on it sees end
        # of file. libvirt 9.0's keepalive fails only the call that notices; with more calls
        # in flight on the connection the others hang or crash the process (seen here).
        return conn
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
        except Exception as exc:  # noqa: BLE001 - e.g. no room for the relay's socket
            self.error = LibvirtError(cannot_connect(self.host.uri, str(exc)))
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


def connect(uri: str, bound: float | None = None) -> libvirt.virConnect:
    """The open connection to ``uri``, opened on first use and reopened when it has died.

    Gives up ``bound`` (default ``timeout()``) seconds after the call with a ``LibvirtError``
    naming the host and the cause; the attempt goes on in the background for the next caller.
    """
    host = _host(uri)
    limit = timeout()
    budget = limit if bound is None else min(bound, limit)
    arrived = time.monotonic()
    retried = False
    while True:
        with host.lock:
            conn = host.conn
            if conn is not None:
                try:
                    # Local: with the event loop running, a closed socket or a keepalive timeout
                    # shows here at once; a daemon restarted behind an open socket shows on the
                    # next call, which ``run`` retries.
                    if conn.isAlive():
                        return conn
                except libvirt.libvirtError:
                    pass
                # Dropped, not closed: calls in other threads may still hold it, and closing a
                # connection under a call frees it there; the last user's reference closes it.
                host.conn = None
            attempt = host.opening
            if attempt is None:
                attempt = host.opening = _Attempt(host)
        # An attempt pending for longer than the timeout already failed its first caller: fail
        # now rather than have every call to a silent host wait in turn.
        stale = arrived - attempt.started >= limit
        if stale or not attempt.done.wait(max(0.0, arrived + budget - time.monotonic())):
            said = (f"{bound:g} s" if bound is not None and bound < limit
                    else f"{limit:g} s (setting: libvirt:timeout)")
            raise LibvirtError(cannot_connect(uri, f"no answer within {said}"))
        if attempt.error is None:
            assert attempt.conn is not None
            return attempt.conn
        # An attempt begun before this call may have failed on a host that has come back since
        # (an ssh connect begun while it dropped packets): try once more, within the budget.
        if retried or attempt.started >= arrived or time.monotonic() >= arrived + budget:
            raise attempt.error
        retried = True


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
    """Drop the cached connection to ``uri`` (only if it is ``conn``, when given); it closes
    when the last call using it lets go of it."""
    host = _host(uri)
    with host.lock:
        if host.conn is not None and (conn is None or host.conn is conn):
            host.conn = None


def run(uri: str, action: Callable[[libvirt.virConnect], T]) -> T:
    """Call ``action(conn)``; when the connection turns out dead, reconnect and call it again.

    A host that stopped answering (keepalive) is not retried: it fails at once, naming the host.
    """
    conn = connect(uri)
    started = time.monotonic()
    try:
        return action(conn)
    except libvirt.libvirtError as exc:
        if not dead(exc):
            raise
        forget(uri, conn)
        silence = message(exc) if keepalive_lost(exc) else ssh.silence(uri, started)
        if silence is not None:
            raise LibvirtError(f"libvirt at {uri} stopped answering: {silence} "
                               f"(setting: libvirt:timeout)") from None
        try:
            return action(connect(uri))
        except libvirt.libvirtError as again:
            if not dead(again):
                raise
            raise LibvirtError(f"libvirt at {uri} closed the connection twice: "
                               f"{message(again)}") from None
