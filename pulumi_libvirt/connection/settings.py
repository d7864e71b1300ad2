"""Process-wide settings of the connection layer."""

from __future__ import annotations

import os

from .errors import LibvirtError

DEFAULT_TIMEOUT = 30.0
TIMEOUT_ENV = "PULUMI_LIBVIRT_TIMEOUT"

_timeout: float | None = None  # set by stack config libvirt:timeout (see configure)


def configure(timeout: float | str | None) -> None:
    """Set the process-wide timeout (stack config ``libvirt:timeout``, seconds)."""
    global _timeout
    _timeout = _seconds(timeout, "libvirt:timeout") if timeout not in (None, "") else None


def timeout() -> float:
    """Seconds a host may stay silent before its calls fail: stack config ``libvirt:timeout``,
    else the environment's ``PULUMI_LIBVIRT_TIMEOUT``, else 30."""
    if _timeout is not None:
        return _timeout
    from_env = os.environ.get(TIMEOUT_ENV)
    return _seconds(from_env, TIMEOUT_ENV) if from_env else DEFAULT_TIMEOUT


def _seconds(value: float | str, name: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise LibvirtError(f"{name}: expected a number of seconds, got {value!r}") from None
    if seconds <= 0:
        raise LibvirtError(f"{name}: expected a positive number of seconds, got {value!r}")
    return seconds
