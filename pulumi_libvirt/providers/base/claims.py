"""Which resource of the program names which libvirt object."""

from __future__ import annotations

import threading


class _Claims:
    """Which resource of the program names which libvirt object, as seen by this process.

    The engine runs one provider host per command and Checks every resource of the program in
    it, so two resources naming one object meet here (at preview when both names are known).
    """

    def __init__(self) -> None:
        self._owners: dict[tuple, str] = {}
        self._lock = threading.Lock()

    def claim(self, identity: tuple, owner: str) -> str | None:
        """Record ``owner`` for ``identity``; the other owner when one claimed it first."""
        with self._lock:
            first = self._owners.setdefault(identity, owner)
        return None if first == owner else first


CLAIMS = _Claims()
