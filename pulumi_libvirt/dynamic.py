"""The thin layer between Pulumi's dynamic-provider protocol and the resource logic.

The provider object is pickled (by dill, by reference to this installed module) into every
resource's ``__provider`` input: it holds only the resource type's name. Connections are opened
in the provider host process when a call needs one.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.output import Unknown

from . import connection, xml
from .connection import uri as uris
from .providers import LOGIC, ResourceLogic


def to_core(value: Any) -> Any:
    """Engine values -> core values: unknowns become ``xml.UNKNOWN``, whole floats ints."""
    if isinstance(value, Unknown):
        return xml.UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: to_core(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_core(v) for v in value]
    return value


def to_engine(value: Any) -> Any:
    if value is xml.UNKNOWN:
        return Unknown()
    if isinstance(value, dict):
        return {k: to_engine(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_engine(v) for v in value]
    return value


def _props(values: dict) -> dict:
    return {k: to_core(v) for k, v in values.items() if k != "__provider"}


def _say(warnings: list[str]) -> None:
    """The logic's warnings, on the engine's warning channel (the CLI shows them)."""
    for warning in warnings:
        pulumi.log.warn(warning)


_warned: set[str] = set()


def _warn_once(text: str) -> None:
    if text not in _warned:
        _warned.add(text)
        pulumi.log.warn(text)


def _say_about_host(logic: ResourceLogic, props: dict) -> None:
    """Warn (once per host and process) about weak credentials in the URI, and when the host
    does not answer: check and diff never touch objects, so without this a preview against a
    dead host would plan changes without a word. A cheap probe: an open connection is reused,
    a dead host is waited on once for at most a few seconds, then remembered."""
    uri = props.get("uri")
    if not (isinstance(uri, str) or uri is None):
        return  # unknown during preview
    uri = logic.uri(props)
    for warning in uris.warnings(uri):
        _warn_once(warning)
    reason = connection.probe(uri)
    if reason is not None:
        _warn_once(f"{reason}: this preview cannot see what is there, and changes to its "
                   "resources will fail until it answers")


class LibvirtProvider(ResourceProvider):
    """Serves one resource type (``Pool``, ``Volume``, ...) to the Pulumi engine."""

    serialize_as_secret_always = False

    def __init__(self, type_name: str):
        super().__init__()
        self.type_name = type_name
        self.configured_uri: str | None = None

    def configure(self, req: ConfigureRequest) -> None:
        self.configured_uri = req.config.get("libvirt:uri")
        connection.configure(req.config.get("libvirt:timeout"))

    def logic(self) -> ResourceLogic:
        return LOGIC[self.type_name](self.configured_uri)

    def check(self, _olds: dict, news: dict) -> CheckResult:
        logic = self.logic()
        inputs, problems = logic.check(_props(_olds), _props(news))
        if not problems:
            _say_about_host(logic, inputs)
        failures = [CheckFailure(p.path or "", p.message) for p in problems]
        return CheckResult(to_engine(inputs), failures)

    def diff(self, _id: str, _olds: dict, _news: dict) -> DiffResult:
        logic, olds, news = self.logic(), _props(_olds), _props(_news)
        _say_about_host(logic, news)
        result = logic.plan(olds, news)
        # Runs before the engine deletes or creates anything: a replacement that cannot
        # succeed fails here, at preview, and again at up before the old object is deleted.
        logic.check_replacement(olds, news, result)
        _say(result.warnings)
        words = result.summary(logic.restart_note) if result.changes else ""
        if words and (result.reboot or result.live or result.notes):
            # The CLI shows no detailed diff for dynamic resources: say it in words.
            pulumi.log.info(f"{logic.describe(news)}: {words}")
        return DiffResult(
            changes=bool(result.changes),
            replaces=result.replaces,
            delete_before_replace=result.delete_before_replace,
        )

    def create(self, props: dict) -> CreateResult:
        logic = self.logic()
        id_, outs = logic.create(_props(props))
        _say(logic.warnings)
        return CreateResult(id_, outs)

    def read(self, id_: str, props: dict) -> ReadResult:
        outs = self.logic().read(id_, _props(props))
        if outs is None:
            return ReadResult(None, {})
        return ReadResult(id_, outs)

    def update(self, _id: str, _olds: dict, _news: dict) -> UpdateResult:
        logic = self.logic()
        outs = logic.update(_id, _props(_olds), _props(_news))
        _say(logic.warnings)
        return UpdateResult(outs)

    def delete(self, _id: str, _props_: dict) -> None:
        self.logic().delete(_id, _props(_props_))
