"""What every resource's logic shares: inputs split into libvirt XML and provider-only inputs,
checking, intent-preserving diff and outputs, in-place patching, safe adoption, and the checks
that decide a replacement before the engine deletes anything.

Plain dicts in, plain dicts out; nothing here knows ``pulumi.dynamic`` (see ``dynamic.py``).
Outputs hold the live values of what the user wrote, in the user's shape (``xml.project``),
the provider-only inputs, the computed outputs (which win over a same-named XML value: always
their own type, such as integer bytes), the resolved ``uri``, and under ``__input_keys`` which
top-level keys the user wrote. The engine gives diff/update/read old outputs, never old inputs,
so that list must be an output; its ``__`` prefix is the engine's mark for internal properties:
the CLI never displays them and the SDK gives the program no attribute for them.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

import libvirt

from .. import xml
from ..connection import LibvirtError, described, resolve_uri, run
from ..connection import uri as uris
from ..xml import UNKNOWN, Problem, has_unknown
from ..xml.check import suggest
from .inputs import (
    Input,
    input_problems,
    nested_problems,
    nested_values,
    restore_nested,
    strip_nested,
)

INPUT_KEYS = "__input_keys"  # hidden output: the top-level keys the user wrote
RESOURCE_NAME = "__name"  # hidden input: Pulumi's name for the resource (resources.py sets it)


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


COMMON_INPUTS = (
    Input("uri", "str", "libvirt connection URI; default: stack config libvirt:uri, then "
          "LIBVIRT_DEFAULT_URI, then qemu:///system. Changing it replaces the resource.",
          on_change="replace"),
    Input("adopt", "bool", "Take over an existing object of the same name instead of failing "
          "(dynamic providers cannot `pulumi import`).", default=False, on_change="none"),
)

def get_path(model: Any, path: str) -> Any:
    for step in path.split("."):
        if not isinstance(model, dict):
            return None
        model = model.get(step)
    return model


def set_path(model: dict, path: str, value: Any) -> None:
    steps = path.split(".")
    for step in steps[:-1]:
        inner = model.get(step)
        if not isinstance(inner, dict):
            inner = {} if inner is None or inner is True else {"value": inner}
            model[step] = inner
        model = inner
    model[steps[-1]] = value


def set_state(obj: Any, active: bool, autostart: bool) -> None:
    """Start or stop a pool or network, and set whether libvirtd starts it, as asked."""
    if active and not obj.isActive():
        obj.create()
    elif not active and obj.isActive():
        obj.destroy()
    if bool(obj.autostart()) != autostart:
        obj.setAutostart(int(autostart))


def persistent_xml(obj: Any, inactive_flag: int) -> str:
    """A pool's or network's persistent definition (what it is on its next start)."""
    try:
        return obj.XMLDesc(inactive_flag)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() not in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
            raise
        return obj.XMLDesc(0)  # the test driver knows no flags


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


class ResourceLogic:
    """One libvirt object kind managed as a Pulumi resource."""

    kind: ClassVar[str]  # XML kind, see pulumi_libvirt.xml.KINDS
    type_name: ClassVar[str]  # Pulumi type name: "Pool"
    noun: ClassVar[str]  # used in messages: "pool"
    inputs: ClassVar[tuple[Input, ...]] = ()
    # Provider-only keys inside XML items: model path (``devices.interfaces``) -> their rows.
    # Checked, kept out of the XML and in the outputs; typed and documented like ``inputs``.
    nested_inputs: ClassVar[dict[str, tuple[Input, ...]]] = {}
    aliases: ClassVar[dict[str, str]] = {}  # input name -> XML path it stands for
    read_only_xml: ClassVar[frozenset] = frozenset()  # top-level XML keys not taken as inputs
    required: ClassVar[dict[str, str]] = {}  # input -> what it is ("required: <what>")
    # output name -> (schema type name, or a schema dict, doc)
    computed: ClassVar[dict[str, tuple[str | dict, str]]] = {}
    secret_outputs: ClassVar[tuple[str, ...]] = ()  # computed outputs the state keeps secret
    restart_note: ClassVar[str] = "takes effect by restarting it"  # said in the preview

    def __init__(self, configured_uri: str | None = None):
        self.configured_uri = configured_uri

    # ------------------------------------------------------------ shapes

    @classmethod
    def all_inputs(cls) -> dict[str, Input]:
        return {i.name: i for i in (*cls.inputs, *COMMON_INPUTS)}

    @classmethod
    def xml_keys(cls) -> list[str]:
        """Top-level XML model keys a user may write (a list's singular for one item too)."""
        provider = cls.all_inputs()
        spec = xml.load(cls.kind)
        return [
            key for key in (*spec.fields, *spec.singulars)
            if key not in provider and key not in cls.read_only_xml and key not in cls.aliases
        ]

    def uri(self, props: dict) -> str:
        return resolve_uri(props.get("uri"), self.configured_uri)

    def desired_model(self, props: dict, keys=None) -> dict:
        """The XML model the user asks for (aliases written at their paths)."""
        wanted = set(keys) if keys is not None else None
        model = {
            key: copy.deepcopy(props[key]) for key in self.xml_keys()
            if key in props and props[key] is not None and (wanted is None or key in wanted)
        }
        for alias, path in self.aliases.items():
            if props.get(alias) is not None and (wanted is None or alias in wanted):
                set_path(model, path, props[alias])
        return strip_nested(self.kind, self.nested_inputs, model)

    @staticmethod
    def user_keys(outs: dict) -> list[str]:
        """The top-level keys the user wrote, as recorded in the outputs."""
        return list(outs.get(INPUT_KEYS) or ())

    @staticmethod
    def written_keys(props: dict) -> list[str]:
        """The top-level keys the user writes in these inputs."""
        return [k for k, v in props.items() if v is not None and not k.startswith("__")]

    def describe(self, props: dict) -> str:
        """The object in messages: "pool 'images'"."""
        return f"{self.noun} '{props.get('name')}'"

    identity_keys: ClassVar[tuple[str, ...]] = ("name",)  # what names the object on its host

    def identity(self, props: dict) -> tuple | None:
        """What names the object on its host (kind, host, ``identity_keys`` values), or None
        while a part is unknown. Two objects with one identity are one libvirt object."""
        uri = props.get("uri")
        values = [props.get(key) for key in self.identity_keys]
        if uri is UNKNOWN or any(v is None or has_unknown(v) for v in values):
            return None
        return (self.kind, self.uri(props), *values)

    # ------------------------------------------------------------ libvirt hooks

    def lookup(self, conn: Any, id_: str, fresh: bool = False) -> Any:
        """The object with this id, or None when it is gone (``fresh``: rescan first)."""
        raise NotImplementedError

    def find(self, conn: Any, props: dict, uri: str) -> Any:
        """The object these inputs name, if it exists (create adopts or refuses it)."""
        raise NotImplementedError

    def make(self, conn: Any, props: dict, what: str, uri: str) -> Any:
        """Create the object; on failure remove whatever was made, then raise."""
        raise NotImplementedError

    def apply(self, obj: Any, olds: dict, news: dict, what: str, uri: str) -> None:
        """Bring an existing object in line with ``news`` (``olds``: the old outputs)."""
        raise NotImplementedError

    def snapshot(self, obj: Any, props: dict, user_keys) -> dict:
        """The outputs, read from the live object."""
        raise NotImplementedError

    def identify(self, obj: Any) -> str:
        """The resource id of an object."""
        raise NotImplementedError

    def remove(self, obj: Any, outs: dict) -> None:
        """Delete the object for good."""
        raise NotImplementedError

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

    # ------------------------------------------------------------ lifecycle

    def create(self, props: dict) -> tuple[str, dict]:
        """Create (or, with ``adopt``, take over) the object; nothing is left if it fails."""
        uri, what = self.uri(props), self.describe(props)

        def action(conn):
            existing = self.find(conn, props, uri)
            if existing is not None:
                if not props.get("adopt"):
                    raise LibvirtError(
                        f"{what} already exists on {uri}. If it was made outside this program, "
                        "set adopt=True to manage it; if another resource of this program "
                        "names it, give one of them another name")
                return self.adopt(existing, props, what, uri)
            made = self.make(conn, props, what, uri)
            try:
                return self.identify(made), self.snapshot(made, props, self.written_keys(props))
            except BaseException:
                try:
                    self.remove(made, props)
                except Exception:  # noqa: BLE001 - the original error says more
                    pass
                raise

        return run(uri, action)

    def adopt(self, obj: Any, props: dict, what: str, uri: str) -> tuple[str, dict]:
        """Take over an existing object, refusing (with nothing changed) when it differs from
        the program where libvirt cannot change it in place."""
        keys = self.written_keys(props)
        live = self.snapshot(obj, props, keys)
        conflicts = self.irreversible(live, props)
        for key in self.diff(live, props).replaces:
            conflicts.setdefault(key, "libvirt cannot change it in place")
        if conflicts:
            details = "; ".join(
                f"{key} is {_shown(live.get(key))} where the program says "
                f"{_shown(props.get(key))} ({why})" for key, why in sorted(conflicts.items()))
            writes = ", ".join(f"{key}={live.get(key)!r}" for key in sorted(conflicts))
            raise ChangeRefused(
                f"cannot adopt {what} on {uri}: {details}. Write {writes} to adopt it as it "
                f"is, or remove the existing {self.noun} first to have it made anew")
        self.apply(obj, {}, props, what, uri)
        return self.identify(obj), self.snapshot(obj, props, keys)

    def read(self, id_: str, outs: dict) -> dict | None:
        """The live outputs, or None when the object is gone."""
        uri = outs.get("uri") or self.uri(outs)

        def action(conn):
            obj = self.lookup(conn, id_, fresh=True)
            if obj is None:
                return None
            with described(self.describe(outs), uri, "read"):
                return self.snapshot(obj, outs, self.user_keys(outs))

        return run(uri, action)

    def update(self, id_: str, olds: dict, news: dict) -> dict:
        uri, what = self.uri(news), self.describe(news)

        def action(conn):
            obj = self.lookup(conn, id_)
            if obj is None:
                raise LibvirtError(f"{what} not found on {uri} (deleted outside Pulumi? run "
                                   "`pulumi refresh`)")
            self.apply(obj, olds, news, what, uri)
            return self.snapshot(obj, news, self.written_keys(news))

        return run(uri, action)

    def delete(self, id_: str, outs: dict) -> None:
        """Delete the object; one that is already gone is fine."""
        uri = outs.get("uri") or self.uri(outs)

        def action(conn):
            obj = self.lookup(conn, id_)
            if obj is not None:
                with described(self.describe(outs), uri, "delete"):
                    self.remove(obj, outs)

        run(uri, action)

    # ------------------------------------------------------------ check

    def check(self, olds: dict, news: dict) -> tuple[dict, list[Problem]]:
        """Validate shape, types and values (never look up objects: they may not exist yet).

        Problems are named as the user wrote them: under an alias (``permissions.owner``) when
        the user wrote the alias, not under the path it stands for."""
        problems: list[Problem] = []
        provider = self.all_inputs()
        known = [*self.xml_keys(), *provider, *self.aliases]
        for key, value in news.items():
            if key.startswith("__") or value is None or value is UNKNOWN:
                continue
            if key in provider:
                problems.extend(input_problems(provider[key], value, key))
            elif key not in known:
                hint = suggest(key, known)
                if key in self.read_only_xml:
                    hint = f" ({key} is reported by libvirt, not set)"
                problems.append(Problem(key, f"unknown key {key!r}{hint}"))
        name = news.get("name")
        if name is not None and name is not UNKNOWN and not isinstance(name, str):
            problems.append(Problem("name", f"expected a string, got {type(name).__name__} "
                                            f"{name!r} (write name={str(name)!r})"))
        xml_problems = xml.check(self.kind, self.desired_model(news))
        for alias, path in self.aliases.items():
            direct = get_path(self.desired_model(news, keys=[path.split(".")[0]]), path)
            if news.get(alias) is not None and direct is not None and direct != news[alias]:
                problems.append(Problem(alias, f"conflicts with {path} ({direct!r})"))
        nested = nested_problems(self.kind, self.nested_inputs, news)
        for problem in (*xml_problems, *nested, *self.validate(olds, news)):
            problems.append(self._as_written(problem, news))
        problems.extend(self._claim(news))
        if isinstance(news.get("uri"), str):
            problems.extend(Problem("uri", text) for text in uris.problems(news["uri"]))
        checked = dict(news)
        for name, spec in provider.items():
            if spec.default is not None and checked.get(name) is None:
                checked[name] = spec.default
        return checked, problems

    def _as_written(self, problem: Problem, news: dict) -> Problem:
        """The problem under the alias the user wrote, when its path lies under one."""
        for alias, path in self.aliases.items():
            if news.get(alias) is None:
                continue
            if problem.path == path or problem.path.startswith(path + "."):
                return Problem(alias + problem.path[len(path):], problem.message)
        return problem

    def _claim(self, news: dict) -> list[Problem]:
        """A problem when another resource of the program names the same libvirt object."""
        owner, identity = news.get(RESOURCE_NAME), self.identity(news)
        if not isinstance(owner, str) or identity is None:
            return []
        other = CLAIMS.claim(identity, owner)
        if other is None:
            return []
        return [Problem("name", f"another resource of this program, '{other}', already names "
                                f"{self.describe(news)} on {self.uri(news)}: one libvirt "
                                "object can be managed by one resource only; give one of them "
                                "another name (adopt=True does not help here)")]

    def validate(self, olds: dict, news: dict) -> list[Problem]:
        """Resource-specific checks beyond the XML table (here: the required inputs)."""
        return [Problem(key, f"required: {what}") for key, what in self.required.items()
                if news.get(key) is None]

    # ------------------------------------------------------------ diff

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

    def check_replacement(self, olds: dict, news: dict, diff: Diff) -> None:
        """Before the engine acts on a replacement (at preview, and again at up before it
        deletes anything): refuse, with nothing changed, what creating the new object would
        fail on. Contacts the host; values still unknown are skipped."""
        if not diff.replaces or news.get("uri") is UNKNOWN:
            return
        if type(self).preflight is ResourceLogic.preflight:
            return  # nothing to check for this kind: no connection needed
        uri, what = self.uri(news), self.describe(news)
        freed = olds if diff.delete_before_replace else None
        problems = run(uri, lambda conn: self.preflight(conn, news, freed, uri))
        if problems:
            order = ("deleting the old one first would leave neither"
                     if diff.delete_before_replace else "the old one is kept")
            raise ChangeRefused(f"cannot replace {what} on {uri} ({', '.join(diff.replaces)} "
                                f"changed): {_sentences(problems)}; nothing was changed "
                                f"({order})")

    # ------------------------------------------------------------ outputs

    def outputs(self, props: dict, user_keys, live_model: dict, live_inputs: dict,
                computed: dict) -> dict:
        """Outputs from the live object, shaped by what the user wrote (``props``)."""
        user_keys = [k for k in user_keys if k != INPUT_KEYS]
        desired = self.desired_model(props, keys=user_keys)
        projected = xml.project(self.kind, live_model, desired)
        outs: dict = {}
        for key in self.xml_keys():
            if key in computed:
                continue  # a computed output keeps its own type (bytes, not the user's shape)
            if key in desired and key in user_keys:
                if key in projected:
                    outs[key] = projected[key]
                else:
                    outs.pop(key, None)
        for alias, path in self.aliases.items():
            source = projected if alias in user_keys else live_model
            value = get_path(source, path)
            if value is not None:
                outs[alias] = value
        for name, spec in self.all_inputs().items():
            if spec.live and name in live_inputs:
                outs[name] = live_inputs[name]
            elif props.get(name) is not None:
                outs[name] = props[name]
        restore_nested(self.kind, self.nested_inputs, outs,
                       {k: v for k, v in props.items() if k in user_keys})
        outs.update(whole_numbers(computed))
        outs["uri"] = self.uri(props)
        outs[INPUT_KEYS] = sorted(set(user_keys))
        return outs


def whole_numbers(value: Any) -> Any:
    """Whole floats as ints, at any depth (the engine's numbers are floats)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [whole_numbers(v) for v in value]
    return value


def _shown(value: Any) -> str:
    return "not set" if value is None else repr(value)


def _sentences(problems: list[Problem]) -> str:
    return "; ".join(str(p) for p in problems)

