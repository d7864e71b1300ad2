"""Diff: what changes between the old outputs (what the object is) and the new inputs, by
top-level input, and how each change is applied; replacements checked before the engine
deletes anything."""

from __future__ import annotations

from typing import Any

from ... import xml
from ...connection import run
from ...xml import UNKNOWN, Problem, has_unknown
from ..inputs import nested_values
from .plan import ChangeRefused, Diff, sentences
from .shapes import INPUT_KEYS, Shapes


class Diffing(Shapes):
    """The diff step of a resource kind."""

    def diff(self, olds: dict, news: dict) -> Diff:
        result = Diff()
        new_uri = news.get("uri")
        if new_uri is UNKNOWN or self.uri(news) != olds.get("uri", self.uri(olds)):
            result.replaces.append("uri")
        before_keys = set(self.user_keys(olds)) if INPUT_KEYS in olds else set(olds)
        after_keys = set(self.written_keys(news))
        keys = before_keys | after_keys
        old_model = self.desired_model(olds, keys=before_keys)
        new_model = self.desired_model(news, keys=after_keys)
        for path in xml.differences(self.kind, old_model, new_model):
            top = self._input_for(path, keys)
            mode = self.update_mode(path, olds, news)
            if mode == "replace":
                result.replaces.append(top)
            elif mode == "reboot":
                result.reboot.append(top)
            else:
                result.live.append(top)
            result.changes.append(top)
        for name, spec in self.all_inputs().items():
            if name == "uri" or name not in keys:
                continue
            old, new = olds.get(name, spec.default), news.get(name, spec.default)
            if has_unknown(new) or old != new:
                result.changes.append(name)
                if spec.on_change == "replace":
                    result.replaces.append(name)
        self._nested_changes(olds, news, before_keys, after_keys, result)
        result.changes = sorted(set(result.changes) | set(result.replaces))
        result.replaces = sorted(set(result.replaces))
        result.reboot = sorted(set(result.reboot))
        result.live = sorted(set(result.live) - set(result.reboot) - set(result.replaces))
        if result.replaces:
            result.delete_before_replace = self.same_identity(olds, news)
        return result

    def _nested_changes(self, olds: dict, news: dict, before_keys, after_keys,
                        result: Diff) -> None:
        """Top-level keys whose nested inputs (``wait_for_ip`` of an interface) change."""
        if not self.nested_inputs:
            return
        old = nested_values(self.kind, self.nested_inputs,
                            {k: v for k, v in olds.items() if k in before_keys})
        new = nested_values(self.kind, self.nested_inputs,
                            {k: v for k, v in news.items() if k in after_keys})
        rows = {row.name: row for found in self.nested_inputs.values() for row in found}
        for top, name in {*old, *new}:
            if old.get((top, name)) != new.get((top, name)):
                result.changes.append(top)
                if rows[name].on_change == "replace":
                    result.replaces.append(top)

    def _input_for(self, path: str, written=()) -> str:
        """The input the user wrote that a changed XML path belongs to."""
        top = path.split(".")[0]
        for alias, target in self.aliases.items():
            if path == target or path.startswith(target + "."):
                return alias
            if target.startswith(path + ".") and alias in written and top not in written:
                return alias  # a change found at the element the alias fills (target.format)
        return top

    def update_mode(self, path: str, olds: dict, news: dict) -> str:
        return xml.update_mode(self.kind, path)

    def same_identity(self, olds: dict, news: dict) -> bool:
        """Whether a replacement would collide with the old object (same identity): then the
        old one must go first."""
        old = self.identity({**olds, "uri": olds.get("uri", self.uri(olds))})
        return old is not None and old == self.identity(news)

    def preflight(self, conn: Any, props: dict, freed: dict | None, uri: str) -> list[Problem]:
        """Before a replacement: what would make creating ``props`` fail, found without
        changing anything (nothing created, nothing downloaded beyond an image's first bytes).
        ``freed``: the outputs of the old object when it is deleted first (its space becomes
        free), else None. Values still unknown (preview) are skipped. (A plain create needs no
        preflight: ``make`` checks first, and a failed create loses nothing.)"""
        return []

    def irreversible(self, olds: dict, news: dict) -> dict[str, str]:
        """Changes from ``olds`` (outputs: what the object is) to ``news`` that are refused
        without replacing either, such as shrinking a volume: {field: why}."""
        return {}

    def check_replacement(self, olds: dict, news: dict, diff: Diff) -> None:
        """Before the engine acts on a replacement (at preview, and again at up before it
        deletes anything): refuse, with nothing changed, what creating the new object would
        fail on. Contacts the host; values still unknown are skipped."""
        if not diff.replaces or news.get("uri") is UNKNOWN:
            return
        if type(self).preflight is Diffing.preflight:
            return  # nothing to check for this kind: no connection needed
        uri, what = self.uri(news), self.describe(news)
        freed = olds if diff.delete_before_replace else None
        problems = run(uri, lambda conn: self.preflight(conn, news, freed, uri))
        if problems:
            order = ("deleting the old one first would leave neither"
                     if diff.delete_before_replace else "the old one is kept")
            raise ChangeRefused(f"cannot replace {what} on {uri} ({', '.join(diff.replaces)} "
                                f"changed): {sentences(problems)}; nothing was changed "
                                f"({order})")
