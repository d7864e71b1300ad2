"""A small Pulumi engine: runs a program and drives the dynamic-provider host as the CLI does.

The program runs in this process under ``pulumi.runtime.set_mocks`` with a monitor that, instead
of mocking, turns each ``RegisterResource`` into the engine's steps against a real
``ProviderHost`` (one host process per operation, as each ``pulumi`` command starts its own):

- preview: Check (olds = old inputs), then Diff (olds = old outputs) for resources in state.
  Nothing is created, changed or deleted; outputs of resources that would be created or
  changed reach the program as the checked inputs only (the rest is unknown), as the engine
  answers for providers without preview support.
- up: the same, then Create / Update / replace (create-before-delete, or delete-before-replace
  when Diff or the resource option asks for it). Resources no longer in the program and the
  old halves of replacements are deleted at the end, dependents first.
- refresh: Read every resource; a blank id drops it from state.
- destroy: Delete everything, dependents first.

Resource options are played as the engine plays them: ``ignore_changes`` (old input values kept
at those paths before Check), ``replace_on_changes`` and ``delete_before_replace`` (in the
step), ``protect`` (a protected resource is neither replaced nor deleted: the operation fails
before any step, at preview too) and ``retain_on_delete`` (its delete steps drop it from the
state without calling the provider's Delete, so the object stays).

Steps run concurrently as in the engine: a resource registers as soon as its inputs resolve
(the SDK registers from a thread pool), is planned (Check, Diff) one registration at a time in
arrival order, and its Create or Update runs at once, beside the others in flight; deletes run
as soon as their dependents are gone and refresh reads all at once (``schedule``), at most
``parallel`` at a time. The provider host serves up to 4 calls at once.

Secrets follow the engine's rules for providers that answer ``acceptSecrets=False``: markers
are stripped before each call; afterwards outputs named like a secret input, and outputs
listed in ``additionalSecretOutputs``, are marked secret again.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import re
import runpy
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.config import set_all_config
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks, set_mocks
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.settings import SETTINGS, get_root_resource
from pulumi.runtime.stack import run_pulumi_func

from .host import Call, DiffResult, ProviderError, ProviderHost
from .props import (
    annotate_secrets,
    contains_unknowns,
    from_struct,
    is_secret,
    make_secret,
    secret_keys,
    strip_secrets,
    to_struct,
)
from .schedule import DEFAULT_PARALLEL, run_graph

Program = Callable[[], Any] | str | os.PathLike
PROVIDER_KEY = "__provider"
STACK_TYPE = "pulumi:pulumi:Stack"


class CheckFailed(Exception):
    """The provider's Check refused some inputs; ``failures`` lists them."""

    def __init__(self, failures: list[ResourceCheckFailure]) -> None:
        self.failures = failures
        lines = [f"{f.name}: {f.property}: {f.reason}" for f in failures]
        super().__init__("check failed:\n  " + "\n  ".join(lines))


class DeploymentAborted(Exception):
    """Raised to the program for registrations after a step failed (the engine stops too)."""


class ProtectedResource(Exception):
    """A step would replace or delete a resource marked ``protect`` (the engine's message)."""

    def __init__(self, urn: str, action: str) -> None:
        self.urn = urn
        how = (
            "remove the `protect` flag from the resource in your Pulumi program and run "
            "`pulumi up`"
            if action == "replace"
            else "either remove the `protect` flag from the resource in your Pulumi program or "
            f"use the command:\n`pulumi state unprotect {urn}`"
        )
        super().__init__(
            f'unable to {action} resource "{urn}"\nas it is currently marked for protection. '
            f"To unprotect the resource, {how}"
        )


@dataclass
class ResourceCheckFailure:
    """A check failure with the resource it belongs to."""

    urn: str
    name: str
    property: str
    reason: str


@dataclass
class Registration:
    """What the program sent in one RegisterResource request."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    additional_secret_outputs: list[str]
    delete_before_replace: bool
    replace_on_changes: list[str]
    ignore_changes: list[str]
    timeouts: dict[str, float | None]
    protect: bool = False
    retain_on_delete: bool = False

    @classmethod
    def from_request(cls, urn: str, req: resource_pb2.RegisterResourceRequest) -> Registration:
        timeouts = req.customTimeouts
        return cls(
            urn=urn,
            type=req.type,
            name=req.name,
            custom=req.custom,
            parent=req.parent,
            inputs=from_struct(req.object),
            dependencies=list(req.dependencies),
            property_dependencies={k: list(v.urns) for k, v in req.propertyDependencies.items()},
            additional_secret_outputs=list(req.additionalSecretOutputs),
            delete_before_replace=req.deleteBeforeReplace,
            replace_on_changes=list(req.replaceOnChanges),
            ignore_changes=list(req.ignoreChanges),
            timeouts={
                "create": parse_duration(timeouts.create),
                "update": parse_duration(timeouts.update),
                "delete": parse_duration(timeouts.delete),
            },
            protect=req.protect,
            retain_on_delete=req.retainOnDelete,
        )

    def all_dependencies(self) -> list[str]:
        """Resource and property dependencies, deduplicated, in order."""
        urns = list(self.dependencies)
        for deps in self.property_dependencies.values():
            urns.extend(deps)
        return list(dict.fromkeys(u for u in urns if u))


@dataclass
class ResourceState:
    """One resource in the engine's state. Inputs and outputs keep their secret markers."""

    urn: str
    type: str
    name: str
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: list[str] = field(default_factory=list)
    additional_secret_outputs: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    timeouts: dict[str, float | None] = field(default_factory=dict)
    protect: bool = False
    retain_on_delete: bool = False

    def plain_outputs(self) -> dict[str, Any]:
        """Outputs as the CLI shows them: without secret markers and without internal keys
        (``__provider`` and any other ``__``-prefixed key, which the CLI never displays)."""
        return {k: v for k, v in strip_secrets(self.outputs).items() if not is_internal(k)}

    def internal_outputs(self) -> dict[str, Any]:
        """The ``__``-prefixed outputs other than ``__provider`` (provider bookkeeping)."""
        return {
            k: v
            for k, v in strip_secrets(self.outputs).items()
            if is_internal(k) and k != PROVIDER_KEY
        }

    def secret_outputs(self) -> set[str]:
        """Names of outputs that are secret."""
        return secret_keys(self.outputs) - {PROVIDER_KEY}


@dataclass
class Step:
    """One planned or executed step.

    ``op`` is "same", "create", "update", "replace" or "delete"; ``changed`` the input keys that
    differ, ``replaces`` those that force replacement; ``retain``: a delete that only drops the
    resource from the state (``retain_on_delete``).
    """

    op: str
    urn: str
    type: str
    name: str
    changed: list[str] = field(default_factory=list)
    replaces: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    diff: DiffResult | None = None
    retain: bool = False


@dataclass
class Plan:
    """Result of ``Engine.preview``."""

    steps: list[Step]
    calls: list[Call]
    exports: dict[str, Any]

    @property
    def ops(self) -> dict[str, str]:
        """Step op by resource name (a replaced and a deleted resource share a name: last wins)."""
        return {s.name: s.op for s in self.steps}

    @property
    def changes(self) -> list[Step]:
        """Steps other than "same"."""
        return [s for s in self.steps if s.op != "same"]

    @property
    def empty(self) -> bool:
        """True when nothing would change (every step is "same")."""
        return not self.changes

    def step(self, name: str) -> Step:
        """The step for the resource called `name`."""
        matches = [s for s in self.steps if s.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} steps for {name!r}")
        return matches[0]


@dataclass
class UpResult(Plan):
    """Result of ``Engine.up``: the steps taken and everyone's outputs afterwards."""

    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs_by_urn: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class RefreshResult:
    """Result of ``Engine.refresh``: changed outputs (name -> key -> (old, new)) and deletions."""

    changes: dict[str, dict[str, tuple[Any, Any]]]
    deleted: list[str]
    calls: list[Call]


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float | None:
    """Seconds in a Go duration string such as "1h30m" or "90s"; None when empty."""
    if not text:
        return None
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def is_internal(key: str) -> bool:
    """Whether the CLI treats a property as internal and never shows it (``__`` prefix)."""
    return key.startswith("__")


def _delete_step(state: ResourceState) -> Step:
    return Step("delete", state.urn, state.type, state.name, retain=state.retain_on_delete)


def _refuse_protected(states: list[ResourceState]) -> None:
    for state in states:
        if state.protect:
            raise ProtectedResource(state.urn, "delete")


def _differing_keys(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """Top-level keys whose plain values differ (``__provider`` left out)."""
    keys = dict.fromkeys([*olds, *news])
    old_plain, new_plain = strip_secrets(olds), strip_secrets(news)
    return [
        k
        for k in keys
        if k != PROVIDER_KEY
        and (contains_unknowns(new_plain.get(k)) or old_plain.get(k) != new_plain.get(k))
    ]


def _apply_ignore_changes(
    old_inputs: dict[str, Any], news: dict[str, Any], paths: list[str]
) -> dict[str, Any]:
    """Keep old input values at the ignored paths ("a" or "a.b.c"), as the engine does."""
    result = _copy(news)
    for path in paths:
        keys = path.split(".")
        old: Any = old_inputs
        for key in keys:
            old = old.get(key) if isinstance(old, dict) else None
        target = result
        for key in keys[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        if old is None:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = old
    return result


def _copy(value: Any) -> Any:
    """Copy nested dicts and lists (leaves are shared)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _mark_additional_secrets(outputs: dict[str, Any], names: list[str]) -> dict[str, Any]:
    result = dict(outputs)
    for name in names:
        if name in result and not is_secret(result[name]):
            result[name] = make_secret(result[name])
    return result


class _NoMocks(Mocks):
    """The monitor below never asks the mocks; invokes are not part of dynamic providers."""

    def call(self, args: MockCallArgs) -> tuple[dict, list | None]:
        raise NotImplementedError(f"invoke {args.token} is not supported by the harness")

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        raise NotImplementedError("the harness engine registers resources itself")


class _EngineMonitor(MockMonitor):
    """A resource monitor that hands each registration to the engine."""

    def __init__(self, register: Callable[[Registration], tuple[str, dict[str, Any]]]) -> None:
        super().__init__(_NoMocks())
        self._register = register

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """URNs as the engine makes them: parent types chained, the root stack left out."""
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != STACK_TYPE:
                type_ = f"{parent_type}${type_}"
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def GetDeploymentInfo(self, request: Any) -> resource_pb2.DeploymentInfo:
        # A provider that does not accept resource references gets their ids instead; leaving
        # the feature out makes the SDK send ids, which is what the host then sees.
        info = super().GetDeploymentInfo(request)
        features = [
            f
            for f in info.supportedFeatures
            if f != resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES
        ]
        return resource_pb2.DeploymentInfo(supportedFeatures=features)

    def ReadResource(self, request: Any) -> Any:
        raise NotImplementedError("reading existing resources (get/import) is not supported")

    def RegisterResource(self, request: Any) -> resource_pb2.RegisterResourceResponse:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK_TYPE:
            return resource_pb2.RegisterResourceResponse(urn=urn)
        if not request.custom:
            # Components have no provider: the engine records them and echoes the inputs.
            return resource_pb2.RegisterResourceResponse(urn=urn, object=request.object)
        id_, outputs = self._register(Registration.from_request(urn, request))
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, id_, outputs)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=to_struct(outputs))


class _Deployment:
    """One preview or up: the steps of one program run against one provider host."""

    def __init__(
        self, engine: Engine, host: ProviderHost, preview: bool, continue_on_error: bool = False
    ) -> None:
        self.engine = engine
        self.host = host
        self.preview = preview
        self.continue_on_error = continue_on_error
        self._slots: list[Step | None] = []  # registration order; None until planned
        # The engine's step generator plans one registration at a time (Check, Diff); the
        # steps themselves run concurrently.
        self._planning = threading.Lock()
        self.registered: dict[str, Registration] = {}
        self.failures: list[ResourceCheckFailure] = []
        self.error: BaseException | None = None
        self.condemned: list[ResourceState] = []

    # -- steps -------------------------------------------------------------------------------

    @property
    def steps(self) -> list[Step]:
        """The steps planned so far, in registration order."""
        return [step for step in self._slots if step is not None]

    def register(self, reg: Registration) -> tuple[str, dict[str, Any]]:
        """Plan (and, unless previewing, apply) the step for one registration.

        Called from the SDK's threads. As in the engine, steps are planned (Check, Diff) one
        registration at a time, in arrival order, and applied (Create, Update) concurrently.
        """
        with self.engine._lock:
            if self.error is not None and not self.preview and not self.continue_on_error:
                raise DeploymentAborted(f"not registering {reg.name}: an earlier step failed")
            if reg.urn in self.registered:
                raise ValueError(f"Duplicate resource URN '{reg.urn}'")
            self.registered[reg.urn] = reg
            slot = len(self._slots)
            self._slots.append(None)
        try:
            return self._step(reg, slot)
        except BaseException as exc:
            with self.engine._lock:
                if self.error is None:
                    self.error = exc
            raise

    def _check(
        self, reg: Registration, olds: dict[str, Any], news: dict[str, Any]
    ) -> dict[str, Any]:
        result = self.host.check(reg.urn, strip_secrets(olds), strip_secrets(news))
        if result.failures:
            found = [
                ResourceCheckFailure(reg.urn, reg.name, f.property, f.reason)
                for f in result.failures
            ]
            with self.engine._lock:
                self.failures.extend(found)
            raise CheckFailed(found)
        return annotate_secrets(result.inputs, news)

    def _step(self, reg: Registration, slot: int) -> tuple[str, dict[str, Any]]:
        with self._planning:
            old = self.engine.state.get(reg.urn)
            news = reg.inputs
            if old is not None and reg.ignore_changes:
                news = _apply_ignore_changes(old.inputs, news, reg.ignore_changes)
            checked = self._check(reg, old.inputs if old else {}, news)
            step = Step("create", reg.urn, reg.type, reg.name)
            if old is not None:
                step = self._diff(reg, old, checked)
                if step.op == "replace":
                    # A replacement is a new resource: check again without old inputs.
                    checked = self._check(reg, {}, news)
            self._slots[slot] = step
        if self.preview:
            return self._preview_result(reg, old, step, checked)
        return self._apply(reg, old, step, checked)

    def _diff(self, reg: Registration, old: ResourceState, checked: dict[str, Any]) -> Step:
        diff = self.host.diff(
            reg.urn,
            old.id,
            strip_secrets(old.outputs),
            strip_secrets(checked),
            old_inputs=strip_secrets(old.inputs),
            ignore_changes=reg.ignore_changes,
        )
        differing = _differing_keys(old.inputs, checked)
        if diff.changes == "unknown":
            # The engine falls back to comparing old and new inputs.
            changed, replaces = differing, list(diff.replaces)
        elif diff.changes == "none":
            changed, replaces = [], []
        else:
            changed, replaces = (diff.diffs or differing), list(diff.replaces)
        forced = [
            k for k in changed if k in reg.replace_on_changes or "*" in reg.replace_on_changes
        ]
        replaces += [k for k in forced if k not in replaces]
        if replaces:
            op = "replace"
            if reg.protect and old.protect:
                raise ProtectedResource(reg.urn, "replace")
        elif changed or diff.changes == "some":
            op = "update"
        else:
            op = "same"
        return Step(
            op,
            reg.urn,
            reg.type,
            reg.name,
            changed=changed,
            replaces=replaces,
            delete_before_replace=op == "replace"
            and (diff.delete_before_replace or reg.delete_before_replace),
            diff=diff,
        )

    def _preview_result(
        self, reg: Registration, old: ResourceState | None, step: Step, checked: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        if step.op == "same":
            assert old is not None
            return old.id, old.outputs
        # Without provider preview support the engine answers with the checked inputs:
        # everything else is unknown to the program.
        outputs = _mark_additional_secrets(checked, reg.additional_secret_outputs)
        return (old.id if step.op == "update" and old else ""), outputs

    def _apply(
        self, reg: Registration, old: ResourceState | None, step: Step, checked: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        host, plain = self.host, strip_secrets(checked)
        if step.op == "same":
            assert old is not None
            id_, outputs = old.id, old.outputs
        elif step.op == "update":
            assert old is not None
            raw = host.update(
                reg.urn,
                old.id,
                strip_secrets(old.outputs),
                plain,
                old_inputs=strip_secrets(old.inputs),
                timeout=reg.timeouts.get("update"),
                ignore_changes=reg.ignore_changes,
            )
            id_, outputs = old.id, raw
        else:
            if step.op == "replace" and step.delete_before_replace:
                assert old is not None
                self.engine._delete(host, old)
            id_, outputs = host.create(reg.urn, plain, timeout=reg.timeouts.get("create"))
            if not id_:
                raise RuntimeError(f"provider returned an empty id from Create for {reg.urn}")
            if step.op == "replace" and not step.delete_before_replace:
                assert old is not None
                old.protect = reg.protect  # unprotecting and replacing in one update is allowed
                with self.engine._lock:
                    self.condemned.append(old)
        if step.op != "same":
            outputs = annotate_secrets(outputs, checked)
        outputs = _mark_additional_secrets(outputs, reg.additional_secret_outputs)
        state = ResourceState(
            urn=reg.urn,
            type=reg.type,
            name=reg.name,
            id=id_,
            inputs=checked,
            outputs=outputs,
            dependencies=reg.all_dependencies(),
            additional_secret_outputs=reg.additional_secret_outputs,
            delete_before_replace=reg.delete_before_replace,
            timeouts=reg.timeouts,
            protect=reg.protect,
            retain_on_delete=reg.retain_on_delete,
        )
        self.engine.state[reg.urn] = state
        return id_, outputs


class Engine:
    """A mini Pulumi engine with state, for one stack.

    ``config`` is stack config keyed ``namespace:key`` (``{"libvirt:uri": "test:///default"}``):
    the program reads it with ``pulumi.Config("libvirt").get("uri")`` and the provider host gets
    all of it through Configure and ``PULUMI_CONFIG``, as dynamic providers do. Keys listed in
    ``secret_config`` are secret.

    Each operation starts its own provider host, as each ``pulumi`` command does. With
    ``persistent_host=True`` one host serves every operation (restarted only when the config
    changes): needed for ``test:///default``, whose objects live in the host process's memory.
    The host then keeps its cache of configured providers between operations.

    Example::

        engine = Engine({"libvirt:uri": "test:///default"}, persistent_host=True)
        assert engine.preview(lambda: program(size=1)).ops == {"disk": "create"}
        engine.up(lambda: program(size=1))
        assert engine.preview(lambda: program(size=1)).empty
        engine.destroy()
    """

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        *,
        secret_config: list[str] | None = None,
        project: str | None = None,
        stack: str = "stack",
        host_cwd: str | os.PathLike[str] | None = None,
        host_env: dict[str, str] | None = None,
        call_timeout: float | None = None,
        persistent_host: bool = False,
        parallel: int = DEFAULT_PARALLEL,
    ) -> None:
        self.config = dict(config or {})
        self.secret_config = list(secret_config or [])
        self.project = project
        self.stack = stack
        self.host_cwd = host_cwd
        self.host_env = host_env
        self.call_timeout = call_timeout
        self.persistent_host = persistent_host
        self.parallel = parallel
        self._kept: tuple[tuple[Any, ...], ProviderHost] | None = None
        self.state: dict[str, ResourceState] = {}
        self.pending_deletes: list[ResourceState] = []
        self.registrations: dict[str, Registration] = {}
        self.last_calls: list[Call] = []
        self.last_stderr = ""
        self._lock = threading.RLock()

    # -- config and host -----------------------------------------------------------------------

    def _config_strings(self) -> dict[str, str]:
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in self.config.items()}

    def _start_host(self, cwd: Path | None) -> ProviderHost:
        config = self._config_strings()
        host = ProviderHost(
            cwd=self.host_cwd or cwd,
            env=self.host_env,
            project=self.project or "project",
            config=config,
            call_timeout=self.call_timeout,
        )
        try:
            args = {k: make_secret(v) if k in self.secret_config else v for k, v in config.items()}
            host.configure(args)
        except BaseException:
            host.close()
            raise
        return host

    @contextmanager
    def _host(self, cwd: Path | None = None) -> Iterator[ProviderHost]:
        """A configured host for one operation; ``host.calls`` holds only this operation's."""
        if not self.persistent_host:
            host = self._start_host(cwd)
        else:
            key = (self._config_strings(), self.secret_config, self.project, cwd)
            if self._kept is not None and self._kept[0] != key:
                self.close()
            if self._kept is None:
                self._kept = (key, self._start_host(cwd))
            else:
                self._kept[1].calls = []
            host = self._kept[1]
        try:
            yield host
        finally:
            if not self.persistent_host:
                host.close()
            self.last_calls = list(host.calls)
            self.last_stderr = host.stderr

    @property
    def host(self) -> ProviderHost | None:
        """The persistent host, once started (None without ``persistent_host``)."""
        return self._kept[1] if self._kept is not None else None

    def close(self) -> None:
        """Stop the persistent host, if any."""
        if self._kept is not None:
            self._kept[1].close()
            self._kept = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running a program ----------------------------------------------------------------------

    def _resolve_program(self, program: Program) -> tuple[Callable[[], Any], Path | None]:
        """The program as a callable, and its project directory when given as a path."""
        if callable(program):
            return program, None
        path = Path(program)
        main = path / "__main__.py" if path.is_dir() else path
        directory = main.parent
        if self.project is None and (directory / "Pulumi.yaml").exists():
            self.project = yaml.safe_load((directory / "Pulumi.yaml").read_text())["name"]

        def run_project() -> None:
            old_cwd, old_path = os.getcwd(), list(sys.path)
            os.chdir(directory)
            sys.path.insert(0, str(directory))
            try:
                runpy.run_path(str(main), run_name="__main__")
            finally:
                os.chdir(old_cwd)
                sys.path[:] = old_path

        return run_project, directory

    def _run(self, func: Callable[[], Any], deployment: _Deployment) -> dict[str, Any]:
        """Run the program in a fresh context and event loop; returns its stack exports."""
        return contextvars.Context().run(self._run_in_context, func, deployment)

    def _run_in_context(self, func: Callable[[], Any], deployment: _Deployment) -> dict[str, Any]:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            set_all_config(self._config_strings(), self.secret_config)
            set_mocks(
                _NoMocks(),
                project=self.project or "project",
                stack=self.stack,
                preview=deployment.preview,
                monitor=_EngineMonitor(deployment.register),
            )
            # These two default to objects shared by every context: give this run its own.
            SETTINGS.outputs = set()
            SETTINGS.lock = threading.Lock()
            loop.set_exception_handler(_quiet_known_failures)
            try:
                loop.run_until_complete(run_pulumi_func(func))
            except BaseException as exc:
                if deployment.failures:
                    raise CheckFailed(deployment.failures) from exc
                if deployment.error is not None and deployment.error is not exc:
                    raise deployment.error from exc
                raise
            if deployment.failures:
                raise CheckFailed(deployment.failures)
            return loop.run_until_complete(_resolve_exports())
        finally:
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            asyncio.set_event_loop(None)

    # -- operations ------------------------------------------------------------------------------

    def preview(self, program: Program) -> Plan:
        """Plan `program` against the state: Check and Diff only. Raises CheckFailed."""
        func, directory = self._resolve_program(program)
        with self._host(directory) as host:
            deployment = _Deployment(self, host, preview=True)
            try:
                exports = self._run(func, deployment)
            finally:
                self.registrations = dict(deployment.registered)
            removed = self._removed(deployment)
            _refuse_protected(removed + self.pending_deletes)
            steps = deployment.steps + [_delete_step(s) for s in removed]
            steps += [_delete_step(s) for s in self.pending_deletes]
            return Plan(steps, list(host.calls), exports)

    def up(self, program: Program, continue_on_error: bool = False) -> UpResult:
        """Deploy `program`. Provider errors propagate; the state keeps what succeeded.

        ``continue_on_error`` plays ``pulumi up --continue-on-error``: after a failed step, the
        resources that do not depend on it are still registered and their steps run.
        """
        old_order = list(self.state)
        func, directory = self._resolve_program(program)
        with self._host(directory) as host:
            deployment = _Deployment(self, host, preview=False,
                                     continue_on_error=continue_on_error)
            try:
                exports = self._run(func, deployment)
            finally:
                self.registrations = dict(deployment.registered)
                self.pending_deletes.extend(deployment.condemned)
            steps = list(deployment.steps)
            removed = self._removed(deployment)
            steps += self._delete_all(host, self.pending_deletes + removed, old_order)
            # The new state lists resources in registration order.
            self.state = {u: self.state[u] for u in deployment.registered if u in self.state}
            outputs_by_urn = {u: s.plain_outputs() for u, s in self.state.items()}
            outputs = {s.name: s.plain_outputs() for s in self.state.values()}
            return UpResult(steps, list(host.calls), exports, outputs, outputs_by_urn)

    def refresh(self) -> RefreshResult:
        """Read every resource; update outputs (and inputs, when Read returns them)."""
        changes: dict[str, dict[str, tuple[Any, Any]]] = {}
        deleted: list[str] = []
        with self._host() as host:
            states = list(self.state.items())
            results: dict[str, Any] = {}

            def read(urn: str) -> None:
                state = self.state[urn]
                results[urn] = host.read(
                    urn, state.id, strip_secrets(state.outputs), strip_secrets(state.inputs)
                )

            run_graph([urn for urn, _ in states], lambda _urn: set(), read, self.parallel)
            for urn, state in states:
                result = results[urn]
                if not result.id:
                    del self.state[urn]
                    deleted.append(state.name)
                    continue
                outputs = annotate_secrets(result.outputs, state.outputs)
                old_plain, new_plain = strip_secrets(state.outputs), strip_secrets(outputs)
                diff = {
                    k: (old_plain.get(k), new_plain.get(k))
                    for k in dict.fromkeys([*old_plain, *new_plain])
                    if k != PROVIDER_KEY and old_plain.get(k) != new_plain.get(k)
                }
                if diff:
                    changes[state.name] = diff
                state.id = result.id
                state.outputs = outputs
                if result.inputs is not None:
                    state.inputs = annotate_secrets(result.inputs, state.inputs)
            return RefreshResult(changes, deleted, list(host.calls))

    def destroy(self) -> list[Step]:
        """Delete every resource, dependents first, and clear the state."""
        with self._host() as host:
            return self._delete_all(
                host, self.pending_deletes + list(self.state.values()), list(self.state)
            )

    def _delete_all(
        self, host: ProviderHost, states: list[ResourceState], order: list[str]
    ) -> list[Step]:
        """Delete `states`, each once its dependents are gone, independent ones concurrently.

        Returns the delete steps of resources in the state (not of pending deletes) in the
        order a one-at-a-time engine would take them.
        """
        doomed = self._delete_order(states, order)
        _refuse_protected(doomed)
        pending = [any(s is p for p in self.pending_deletes) for s in doomed]

        def dependents(index: int) -> set[int]:
            return {j for j, other in enumerate(doomed) if doomed[index].urn in other.dependencies}

        def delete(index: int) -> None:
            self._delete(host, doomed[index])
            if pending[index]:
                with self._lock:
                    self.pending_deletes = [p for p in self.pending_deletes
                                            if p is not doomed[index]]

        run_graph(range(len(doomed)), dependents, delete, self.parallel)
        return [
            _delete_step(state)
            for state, was_pending in zip(doomed, pending, strict=True)
            if not was_pending
        ]

    # -- helpers -------------------------------------------------------------------------------

    def _removed(self, deployment: _Deployment) -> list[ResourceState]:
        return [s for u, s in self.state.items() if u not in deployment.registered]

    @staticmethod
    def _delete_order(states: list[ResourceState], order: list[str]) -> list[ResourceState]:
        """Reverse creation order, never deleting a resource before one that depends on it."""
        position = {urn: i for i, urn in enumerate(order)}
        remaining = sorted(states, key=lambda s: position.get(s.urn, -1))
        result = []
        while remaining:
            for candidate in reversed(remaining):
                if not any(
                    candidate.urn in other.dependencies
                    for other in remaining
                    if other is not candidate
                ):
                    break
            else:
                candidate = remaining[-1]  # a dependency cycle: fall back to reverse order
            remaining.remove(candidate)
            result.append(candidate)
        return result

    def _delete(self, host: ProviderHost, state: ResourceState) -> None:
        """Delete through the provider, or, with ``retain_on_delete``, only forget it."""
        if not state.retain_on_delete:
            host.delete(
                state.urn,
                state.id,
                strip_secrets(state.outputs),
                old_inputs=strip_secrets(state.inputs),
                timeout=state.timeouts.get("delete"),
            )
        if self.state.get(state.urn) is state:
            del self.state[state.urn]

    def resource(self, name: str) -> ResourceState:
        """The state of the resource called `name` (or with that URN)."""
        if name in self.state:
            return self.state[name]
        matches = [s for s in self.state.values() if s.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r} in state")
        return matches[0]

    def outputs(self, name: str) -> dict[str, Any]:
        """Plain outputs of a resource (secrets unwrapped, ``__provider`` left out)."""
        return self.resource(name).plain_outputs()

    def secret_outputs(self, name: str) -> set[str]:
        """Names of the resource's outputs that the state keeps secret."""
        return self.resource(name).secret_outputs()


def run_with_mocks(
    program: Program,
    mocks: Mocks,
    config: dict[str, Any] | None = None,
    project: str | None = None,
    stack: str = "stack",
    preview: bool = False,
) -> dict[str, Any]:
    """Run a program under ``pulumi.runtime.set_mocks`` (no provider host); return its exports.

    ``program`` is a callable or a project directory (or its ``__main__.py``); ``config`` is
    stack config keyed ``namespace:key``; the project's name comes from its Pulumi.yaml unless
    given. Each resource goes to ``mocks.new_resource``.
    """
    engine = Engine(config, project=project, stack=stack)
    func, _directory = engine._resolve_program(program)

    def run() -> dict[str, Any]:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            set_all_config(engine._config_strings(), [])
            set_mocks(mocks, project=engine.project or "project", stack=stack, preview=preview)
            SETTINGS.outputs = set()
            SETTINGS.lock = threading.Lock()
            loop.run_until_complete(run_pulumi_func(func))
            return loop.run_until_complete(_resolve_exports())
        finally:
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            asyncio.set_event_loop(None)

    return contextvars.Context().run(run)


def _quiet_known_failures(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Drop asyncio's "exception was never retrieved" for failures the engine reports itself.

    A failed registration fails the outputs of the resource (and its dependents) in the SDK;
    nobody awaits them, and the engine raises the failure anyway.
    """
    if isinstance(context.get("exception"),
                  (CheckFailed, ProviderError, DeploymentAborted, ProtectedResource)):
        return
    loop.default_exception_handler(context)


async def _resolve_exports() -> dict[str, Any]:
    root = get_root_resource()
    exports: dict[str, Any] = {}
    for key, value in dict(getattr(root, "outputs", {}) or {}).items():
        exports[key] = await pulumi.Output.from_input(value).future(with_unknowns=True)
    return exports
