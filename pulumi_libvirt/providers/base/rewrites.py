"""What libvirt stores otherwise than it was asked: found after every apply, said to the user,
and no diff while nothing changes.

libvirt rewrites some input on define (a newer version fills in what an older one left alone,
or "fixes" an inconsistent document: the vCPUs no NUMA cell names go into cell 0). Such a
field differs between what the program writes and what libvirt stores after every update
alike, so the preview would show a change that no ``up`` can make. After create, adopt and
update, each top-level input whose fields libvirt stored otherwise gets two fingerprints in the
hidden output ``__rewrites``: of what the program asked (in canonical form, so another spelling
of the same meaning is the same) and of what libvirt stored (the projected outputs). At diff,
an input whose both fingerprints still match (the program asks the same, nothing drifted since:
refresh carries the record over and shows drift in the outputs) is taken as applied, and the
preview repeats the warning instead. Any other change of that input, unknowns at preview,
drift, or state written before this record existed, diff as before.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from ... import xml
from ...xml import has_unknown
from ..inputs import nested_values
from .diff import Diffing
from .plan import Diff

REWRITES = "__rewrites"  # hidden output: {top-level input: {"asked": sha256, "stored": sha256}}
SECRET = "(secret)"
_INDEX = re.compile(r"\[\d+\]")
_LONGEST = 120  # characters of a value shown in a warning
_MATCH = "Write libvirt's values (and leave out what it dropped) to match it"


@dataclass(frozen=True)
class Rewrite:
    """One field libvirt stored otherwise: its path as the user wrote it (list items by
    index), the value written and the value stored (None: not there)."""

    path: str
    asked: Any
    stored: Any
    secret: bool = False

    def words(self) -> str:
        asked = SECRET if self.secret else _brief(self.asked)
        stored = SECRET if self.secret else _brief(self.stored)
        if self.stored is None:
            return f"{self.path}: wrote {asked}, libvirt dropped it"
        if self.asked is None:
            return f"{self.path}: not written, libvirt stored {stored}"
        return f"{self.path}: wrote {asked}, libvirt stored {stored}"


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _LONGEST else text[:_LONGEST - 1] + "…"


def _order(path: str) -> list:
    """A path's sort key: list indexes as numbers (``[2]`` before ``[10]``), whatever order
    the dicts came in."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"[.\[\]]+", path) if part]


def fingerprint(value: Any) -> str:
    """sha256 of a canonical JSON form (keys sorted): the same for the same meaning, in every
    process; no value in clear."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


class Rewrites(Diffing):
    """Rewrites found after an apply, and the diff that knows them (``plan``)."""

    def hides(self, path: str, value: Any) -> bool:
        """Whether the value at ``path`` (a field path as written, list items as ``[i]``) is
        or holds a secret, never shown in messages: here, a secret input or output."""
        top = re.split(r"[.\[]", path, maxsplit=1)[0]
        secret = {i.name for i in self.all_inputs().values() if i.secret}
        return top in secret or top in self.secret_outputs

    def rewritten(self, asked: dict, asked_keys, stored: dict,
                  stored_keys) -> dict[str, list[Rewrite]]:
        """The fields whose values in ``stored`` (outputs) mean something else than in
        ``asked`` (inputs), by the top-level input they belong to."""
        keys = set(asked_keys) | set(stored_keys)
        found: dict[str, list[Rewrite]] = {}
        changed = xml.changed_values(self.kind, self.desired_model(asked, keys=asked_keys),
                                     self.desired_model(stored, keys=stored_keys))
        for path, wrote, kept in sorted(changed, key=lambda change: _order(change[0])):
            top = self._input_for(_INDEX.sub("", path), keys)
            secret = self.hides(path, wrote) or self.hides(path, kept)
            found.setdefault(top, []).append(Rewrite(path, wrote, kept, secret))
        return found

    def _asked_mark(self, props: dict, key: str) -> str:
        """The fingerprint of what the program asks under ``key``: its XML in canonical
        form, and the provider-only keys inside it (``wait_for_ip``)."""
        model = self.desired_model(props, keys=[key])
        nested = nested_values(self.kind, self.nested_inputs, {key: props.get(key)})
        return fingerprint({"xml": xml.canonical(self.kind, xml.load(self.kind), model),
                            "nested": sorted(map(list, nested.items()), key=repr)})

    def _stored_mark(self, outs: dict, key: str) -> str:
        model = self.desired_model(outs, keys=[key])
        return fingerprint(xml.canonical(self.kind, xml.load(self.kind), model))

    def record_rewrites(self, props: dict, outs: dict, what: str, uri: str) -> dict:
        """After create, adopt or update: the outputs with the record of what libvirt stored
        otherwise than ``props`` ask (nothing when it stored everything as asked), and a
        warning that says each field, both values and what to write to match libvirt."""
        outs.pop(REWRITES, None)
        keys = self.written_keys(props)
        found = self.rewritten(props, keys, outs, self.user_keys(outs) or keys)
        for key in self.irreversible(outs, props):  # left as it is on purpose (a volume
            found.pop(key, None)                    # grown outside): the kind's diff says so
        if not found:
            return outs
        outs[REWRITES] = {key: {"asked": self._asked_mark(props, key),
                                "stored": self._stored_mark(outs, key)}
                          for key in sorted(found)}
        fields = "; ".join(r.words() for key in sorted(found) for r in found[key])
        self.warnings.append(
            f"{what} on {uri}: libvirt stored some of what the program wrote otherwise: "
            f"{fields}. {_MATCH}; until then previews plan no change for these fields while "
            f"neither the program nor the {self.noun} changes")
        return outs

    def settled(self, olds: dict, news: dict) -> list[str]:
        """The top-level inputs that differ only as libvirt rewrote them at the last apply:
        the program asks the same as then, and the outputs are what libvirt stored then."""
        record = olds.get(REWRITES)
        if not isinstance(record, dict):
            return []
        written = set(self.written_keys(news)) & set(self.user_keys(olds))
        found = []
        for key, marks in record.items():
            if key not in written or not isinstance(marks, dict) or has_unknown(news.get(key)):
                continue
            if (marks.get("asked") == self._asked_mark(news, key)
                    and marks.get("stored") == self._stored_mark(olds, key)):
                found.append(key)
        return sorted(found)

    def plan(self, olds: dict, news: dict) -> Diff:
        """The diff the engine gets: ``diff`` with the inputs libvirt rewrote taken as
        applied (``settled``), and a warning that says so, field by field."""
        settled = self.settled(olds, news)
        if not settled:
            return self.diff(olds, news)
        result = self.diff({**olds, **{key: news[key] for key in settled}}, news)
        if result.replaces:
            return result  # a new object: its create says what libvirt rewrites
        found = self.rewritten(news, self.written_keys(news), olds, self.user_keys(olds))
        fields = "; ".join(r.words() for key in settled for r in found.get(key, ()))
        if fields:
            result.warnings.append(
                f"{self.describe(news)} on {self.uri(news)}: no change planned for what libvirt "
                "stores otherwise than the program writes (it did so at the last `pulumi up`, "
                f"and neither changed since): {fields}. {_MATCH}")
        return result
