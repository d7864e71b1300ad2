"""Which libvirt host, one connection per URI per process, and errors that say what happened.

Providers hold only plain data (URIs, names); connections live here, outside anything that is
pickled, opened lazily and reopened when they die (libvirtd restarted).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import libvirt

DEFAULT_URI = "qemu:///system"

T = TypeVar("T")


class LibvirtError(Exception):
    """A libvirt failure, described with the object, the host URI and the cause."""


def resolve_uri(explicit: str | None = None, configured: str | None = None) -> str:
    """The host to use: the resource's ``uri``, else stack config ``libvirt:uri``, else
    ``LIBVIRT_DEFAULT_URI``, else ``qemu:///system``."""
    for candidate in (explicit, configured, os.environ.get("LIBVIRT_DEFAULT_URI")):
        if candidate:
            return candidate
    return DEFAULT_URI


def _quiet(_ctx, _err) -> None:
    """libvirt prints every error to stderr by default; we report them ourselves."""


libvirt.registerErrorHandler(_quiet, None)

_lock = threading.Lock()
_connections: dict[str, libvirt.virConnect] = {}

# Errors that mean the connection itself is gone, not that the call was refused.
_DEAD = {
    getattr(libvirt, name)
    for name in (
        "VIR_ERR_SYSTEM_ERROR", "VIR_ERR_RPC", "VIR_ERR_NO_CONNECT", "VIR_ERR_INVALID_CONN"
    )
    if hasattr(libvirt, name)
}


def _alive(conn: libvirt.virConnect) -> bool:
    try:
        # isAlive() alone keeps saying yes after the daemon restarted until a call fails; a cheap
        # round trip tells for sure.
        return bool(conn.isAlive()) and conn.getLibVersion() > 0
    except libvirt.libvirtError:
        return False


# A connection that answered a call this recently is used without a probing round trip (a
# call that finds it dead is retried by ``run`` on a new one).
_FRESH = 0.25
_answered: dict[str, float] = {}


def connect(uri: str) -> libvirt.virConnect:
    """The open connection to ``uri``, opened on first use and reopened when it has died."""
    with _lock:
        conn = _connections.get(uri)
        if conn is not None:
            recent = time.monotonic() - _answered.get(uri, float("-inf")) < _FRESH
            if (recent and conn.isAlive()) or _alive(conn):
                return conn
        if conn is not None:
            _connections.pop(uri, None)
            try:
                conn.close()
            except libvirt.libvirtError:
                pass
        try:
            conn = libvirt.open(uri)
        except libvirt.libvirtError as exc:
            raise LibvirtError(
                f"cannot connect to libvirt at {uri}: {_message(exc)}"
                + (" (is libvirtd running?)" if "socket" in _message(exc) else "")
            ) from None
        _connections[uri] = conn
        return conn


def forget(uri: str) -> None:
    """Drop the cached connection to ``uri`` (the next ``connect`` opens a new one)."""
    with _lock:
        conn = _connections.pop(uri, None)
    if conn is not None:
        try:
            conn.close()
        except libvirt.libvirtError:
            pass


def run(uri: str, action: Callable[[libvirt.virConnect], T]) -> T:
    """Call ``action(conn)``; when the connection turns out dead, reconnect and call it again."""
    try:
        result = action(connect(uri))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() not in _DEAD:
            raise
        forget(uri)
        result = action(connect(uri))
    _answered[uri] = time.monotonic()
    return result


def _message(exc: libvirt.libvirtError) -> str:
    text = exc.get_error_message() or str(exc)
    return " ".join(text.split()).rstrip(".")  # one line: tool output may span several


def reason(exc: libvirt.libvirtError) -> str:
    """libvirt's message of an error, on one line."""
    return _message(exc)


_NOT_FOUND = {
    libvirt.VIR_ERR_NO_STORAGE_POOL: "pool",
    libvirt.VIR_ERR_NO_STORAGE_VOL: "volume",
    libvirt.VIR_ERR_NO_DOMAIN: "domain",
    libvirt.VIR_ERR_NO_NETWORK: "network",
    libvirt.VIR_ERR_NO_NODE_DEVICE: "node device",
}


def not_found(exc: BaseException) -> bool:
    """Whether a libvirt error says the object does not exist."""
    return isinstance(exc, libvirt.libvirtError) and exc.get_error_code() in _NOT_FOUND


def or_none(lookup: Callable[..., T], *args) -> T | None:
    """``lookup(*args)``, or None when libvirt says the object does not exist."""
    try:
        return lookup(*args)
    except libvirt.libvirtError as exc:
        if not_found(exc):
            return None
        raise


@contextmanager
def described(what: str, uri: str, action: str | None = None) -> Iterator[None]:
    """Turn libvirt errors raised inside into ``LibvirtError`` naming ``what`` and the host.

    ``what`` reads like "pool 'images'" or "volume 'a.qcow2' in pool 'images'".
    """
    try:
        yield
    except libvirt.libvirtError as exc:
        if not_found(exc) and action is None:
            raise LibvirtError(f"{what} not found on {uri}") from None
        verb = f"cannot {action} " if action else ""
        raise LibvirtError(f"{verb}{what} on {uri}: {_message(exc)}") from None
