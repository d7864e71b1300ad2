"""A planned change, in the engine's terms and in words for the preview."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...connection import LibvirtError
from ...xml import Problem


@dataclass
class Diff:
    changes: list[str] = field(default_factory=list)  # top-level keys that change
    replaces: list[str] = field(default_factory=list)  # of those, the ones that force replacement
    delete_before_replace: bool = False
    reboot: list[str] = field(default_factory=list)  # applied by redefining and restarting
    warnings: list[str] = field(default_factory=list)  # said at preview (drift not undone, ...)
    live: list[str] = field(default_factory=list)  # applied to the running object as it runs
    notes: list[str] = field(default_factory=list)  # more to say in the preview, in words

    def summary(self, restart_note: str = "takes effect by restarting it") -> str:
        """The change in words, for the preview (the CLI shows no detailed diff for dynamic
        resources): what applies live, what restarts the object (``restart_note``), what
        replaces it."""
        parts = []
        if self.live:
            parts.append(f"changing {', '.join(self.live)} applies live")
        if self.reboot and not self.replaces:
            parts.append(f"changing {', '.join(self.reboot)} {restart_note}")
        if self.replaces:
            parts.append(f"changing {', '.join(self.replaces)} replaces it")
        return "; ".join([*parts, *self.notes])


class ChangeRefused(LibvirtError):
    """A planned change that cannot succeed, refused before anything is changed."""


def shown(value: Any) -> str:
    return "not set" if value is None else repr(value)


def sentences(problems: list[Problem]) -> str:
    return "; ".join(str(p) for p in problems)
