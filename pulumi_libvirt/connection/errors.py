"""libvirt errors turned into one line that names the object, the host and the cause."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import libvirt

T = TypeVar("T")


class LibvirtError(Exception):
    """A libvirt failure, described with the object, the host URI and the cause."""


def message(exc: libvirt.libvirtError) -> str:
    """libvirt's message on one line (tool output may span several), without the final dot."""
    text = exc.get_error_message() or str(exc)
    return " ".join(text.split()).rstrip(".")


def reason(exc: libvirt.libvirtError) -> str:
    """libvirt's message of an error, on one line (the same as ``message``)."""
    return message(exc)


# Errors that mean the connection itself is gone, not that the call was refused.
_DEAD = {
    getattr(libvirt, name)
    for name in ("VIR_ERR_RPC", "VIR_ERR_NO_CONNECT", "VIR_ERR_INVALID_CONN")
    if hasattr(libvirt, name)
}
# A system error is the socket's (end of file, reset, broken pipe) only when the RPC layer
# raised it; a driver's ("Cannot check QEMU binary ...") is the call's and leaves the
# connection as it was.
_TRANSPORT_DOMAINS = {libvirt.VIR_FROM_RPC, libvirt.VIR_FROM_REMOTE}


def keepalive_lost(exc: libvirt.libvirtError) -> bool:
    """Whether libvirt closed the connection because the host stopped answering keepalives."""
    return "keepalive" in message(exc)


def dead(exc: BaseException) -> bool:
    """Whether a libvirt error says the connection is gone (rather than the call refused)."""
    if not isinstance(exc, libvirt.libvirtError):
        return False
    code = exc.get_error_code()
    return (code in _DEAD or keepalive_lost(exc) or (
        code == libvirt.VIR_ERR_SYSTEM_ERROR and exc.get_error_domain() in _TRANSPORT_DOMAINS))


def cannot_connect(uri: str, cause: str) -> str:
    """The one line that says a host could not be reached, and why."""
    hint = " (is libvirtd running?)" if "socket" in cause and "ssh" not in cause else ""
    return f"cannot connect to libvirt at {uri}: {cause}{hint}"


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

    ``what`` reads like "pool 'images'" or "volume 'a.qcow2' in pool 'images'". A lost
    connection passes through untouched: ``run`` reconnects, or names the host and why.
    """
    try:
        yield
    except libvirt.libvirtError as exc:
        if dead(exc):
            raise
        if not_found(exc) and action is None:
            raise LibvirtError(f"{what} not found on {uri}") from None
        verb = f"cannot {action} " if action else ""
        raise LibvirtError(f"{verb}{what} on {uri}: {message(exc)}") from None
