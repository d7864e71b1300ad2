"""libvirt's event loop, run by one thread of ours.

A remote connection needs it for keepalive (a silent host is noticed and its connection closed)
and to notice a closed socket at once (``isAlive()`` then says so without a round trip). libvirt
wants the loop registered before the first connection is opened; the Pulumi provider host has no
loop of its own, so we run libvirt's default implementation in a daemon thread.
"""

from __future__ import annotations

import threading

import libvirt

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _run() -> None:
    while True:
        # Blocks (without the GIL) until an fd or timer is due; an error is not fatal to the loop.
        if libvirt.virEventRunDefaultImpl() < 0:  # pragma: no cover - libvirt's own failure
            pass


def ensure_running() -> None:
    """Register libvirt's default event loop and start the thread running it (once)."""
    global _thread
    with _lock:
        if _thread is not None:
            return
        libvirt.virEventRegisterDefaultImpl()
        _thread = threading.Thread(target=_run, name="libvirt-events", daemon=True)
        _thread.start()


def running() -> bool:
    """Whether the loop thread runs."""
    return _thread is not None and _thread.is_alive()
