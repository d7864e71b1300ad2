"""Start the Pulumi SDK's dynamic-provider host and call it over gRPC, as the engine does.

The engine runs ``python -u -m pulumi.dynamic``; the host prints its port on the first line of
stdout and serves ``pulumirpc.ResourceProvider``. Every resource carries its pickled provider in
the ``__provider`` input; the host unpickles it (once per distinct string, then cached) and calls
the provider's ``configure()`` with the config from the last Configure call.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from .props import from_struct, to_struct

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTS_DIR = REPO_ROOT / "tests"

_DIFF_CHANGES = {
    provider_pb2.DiffResponse.DIFF_UNKNOWN: "unknown",
    provider_pb2.DiffResponse.DIFF_NONE: "none",
    provider_pb2.DiffResponse.DIFF_SOME: "some",
}


class ProviderError(Exception):
    """A provider call failed. ``str(e)`` is the provider's exception message.

    The dynamic host aborts a failed call with the whole Python traceback as the gRPC details;
    ``details`` holds that text, ``exception_type`` the exception's class name (when the
    details are a traceback), ``code`` the gRPC status code and ``method`` the call.
    """

    def __init__(self, method: str, code: grpc.StatusCode, details: str) -> None:
        self.method = method
        self.code = code
        self.details = details
        self.exception_type, message = _exception_from_traceback(details)
        super().__init__(message)


def _exception_from_traceback(details: str) -> tuple[str | None, str]:
    """Split a formatted traceback into (exception class name, message)."""
    lines = details.rstrip().splitlines()
    if not lines or not lines[0].startswith("Traceback"):
        return None, details.strip()
    # The exception's own lines follow the last indented line (frames and source lines).
    last_indented = max((i for i, line in enumerate(lines) if line.startswith(" ")), default=0)
    tail = lines[last_indented + 1 :] or lines[-1:]
    match = re.match(r"^([\w.]+)(?:: (.*))?$", tail[0], re.S)
    if not match:
        return None, "\n".join(tail)
    exc_type, first = match.group(1), match.group(2)
    if first is None and len(tail) == 1:
        return exc_type, exc_type
    return exc_type, "\n".join([first or ""] + tail[1:]).strip()


@dataclass
class CheckFailure:
    """One property the provider's check refused."""

    property: str
    reason: str


@dataclass
class CheckResult:
    """Checked inputs and failures. Failures are data: Check itself succeeded."""

    inputs: dict[str, Any]
    failures: list[CheckFailure] = field(default_factory=list)


@dataclass
class DiffResult:
    """What the provider's diff answered.

    ``changes`` is "some", "none" or "unknown" (the SDK maps ``DiffResult(changes=None)`` to
    unknown; the engine then compares inputs itself).
    """

    changes: str
    replaces: list[str] = field(default_factory=list)
    stables: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    diffs: list[str] = field(default_factory=list)


@dataclass
class ReadResult:
    """Read's answer: a blank ``id`` means the object is gone."""

    id: str
    outputs: dict[str, Any]
    inputs: dict[str, Any] | None = None


@dataclass
class Call:
    """One RPC sent to the host, for tests that check what the engine sent and in which order."""

    method: str
    urn: str
    request: dict[str, Any]


def _urn_parts(urn: str) -> tuple[str, str]:
    """(type, name) from ``urn:pulumi:stack::project::[parent$]type::name``."""
    parts = urn.split("::")
    if len(parts) < 4:
        return "", urn
    return parts[2].split("$")[-1], parts[3]


_running: weakref.WeakSet[ProviderHost] = weakref.WeakSet()


@atexit.register
def _close_running() -> None:
    """The engine kills its provider plugins; so does a test process that ends with hosts
    still up (a test whose cleanup failed before closing its engine)."""
    for host in list(_running):
        host.close()


class ProviderHost:
    """The SDK's dynamic-provider host in a subprocess, with a typed gRPC client.

    Arguments and results are plain dicts (see ``harness.props`` for secrets and unknowns).
    ``stderr`` holds what the host wrote so far (provider logs, ``pulumi.log.info`` lines,
    tracebacks); ``calls`` every request sent.
    """

    def __init__(
        self,
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        project: str = "project",
        config: dict[str, Any] | None = None,
        start_timeout: float = 30.0,
        call_timeout: float | None = None,
    ) -> None:
        """Start the host. `config` is also passed as ``PULUMI_CONFIG``, as the engine does."""
        self.calls: list[Call] = []
        self.call_timeout = call_timeout
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self._lock = threading.Lock()
        self._closed = False
        self._proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.dynamic"],
            cwd=str(cwd or REPO_ROOT),
            env=self._environment(env, project, config),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _running.add(self)
        try:
            port = self._read_port(start_timeout)
            self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            grpc.channel_ready_future(self._channel).result(timeout=start_timeout)
        except BaseException:
            self.close()
            raise
        self._stub = provider_pb2_grpc.ResourceProviderStub(self._channel)
        self.pid = self._proc.pid
        self.port = port

    @staticmethod
    def _environment(
        env: dict[str, str] | None, project: str, config: dict[str, Any] | None
    ) -> dict[str, str]:
        result = dict(os.environ if env is None else env)
        paths = [str(REPO_ROOT), str(TESTS_DIR)]
        if result.get("PYTHONPATH"):
            paths.append(result["PYTHONPATH"])
        result["PYTHONPATH"] = os.pathsep.join(paths)
        result["PULUMI_PROJECT"] = project
        if config is not None:
            result["PULUMI_CONFIG"] = json.dumps(config)
        return result

    def _read_port(self, timeout: float) -> int:
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._drains = [
            threading.Thread(
                target=self._drain, args=(self._proc.stderr, self._stderr), daemon=True
            )
        ]
        self._drains[0].start()
        first: list[str] = []
        reader = threading.Thread(
            target=lambda: first.append(self._proc.stdout.readline()), daemon=True
        )
        reader.start()
        reader.join(timeout)
        if not first or not first[0].strip().isdigit():
            self._proc.kill()
            self._proc.wait()
            self._drains[0].join(timeout=5)
            raise RuntimeError(
                f"dynamic provider host did not report a port (got {first!r});"
                f" stderr:\n{self.stderr}"
            )
        out = threading.Thread(
            target=self._drain, args=(self._proc.stdout, self._stdout), daemon=True
        )
        out.start()
        self._drains.append(out)
        return int(first[0])

    def _drain(self, stream: Any, sink: list[str]) -> None:
        for line in stream:
            with self._lock:
                sink.append(line)

    @property
    def stderr(self) -> str:
        """Everything the host wrote to stderr so far."""
        with self._lock:
            return "".join(self._stderr)

    def wait_for_stderr(self, text: str, timeout: float = 10.0) -> str:
        """Wait until `text` appears on the host's stderr (read by a thread); return stderr."""
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            if self._proc.poll() is not None:
                self._drains[0].join(timeout=5)
                if text in self.stderr:
                    break
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise AssertionError(f"{text!r} not on provider host stderr:\n{self.stderr}")
            time.sleep(0.02)
        return self.stderr

    @property
    def stdout(self) -> str:
        """What the host wrote to stdout after the port line (e.g. a provider's print())."""
        with self._lock:
            return "".join(self._stdout)

    def _call(self, method: str, urn: str, request: Any, log: dict[str, Any]) -> Any:
        self.calls.append(Call(method, urn, log))
        try:
            return getattr(self._stub, method)(request, timeout=self.call_timeout)
        except grpc.RpcError as exc:
            raise ProviderError(method, exc.code(), exc.details() or "") from None

    def configure(self, config: dict[str, Any]) -> dict[str, bool]:
        """Configure with the whole stack config keyed ``namespace:key``, as dynamic providers get.

        Returns the host's answer: ``acceptSecrets``, ``supportsPreview``, ``acceptResources``.
        """
        variables = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
        request = provider_pb2.ConfigureRequest(
            variables=variables,
            args=to_struct(config),
            acceptSecrets=True,
            acceptResources=True,
            sends_old_inputs=True,
            sends_old_inputs_to_delete=True,
        )
        response = self._call("Configure", "", request, {"config": config})
        return {
            "acceptSecrets": response.acceptSecrets,
            "supportsPreview": response.supportsPreview,
            "acceptResources": response.acceptResources,
        }

    def check(
        self,
        urn: str,
        olds: dict[str, Any],
        news: dict[str, Any],
        old_outputs: dict[str, Any] | None = None,
    ) -> CheckResult:
        """Check `news` against `olds` (old inputs). Failures are returned, not raised."""
        type_, name = _urn_parts(urn)
        request = provider_pb2.CheckRequest(
            urn=urn,
            name=name,
            type=type_,
            olds=to_struct(olds),
            news=to_struct(news),
            old_outputs=to_struct(old_outputs or {}),
        )
        response = self._call("Check", urn, request, {"olds": olds, "news": news})
        failures = [CheckFailure(f.property, f.reason) for f in response.failures]
        return CheckResult(from_struct(response.inputs), failures)

    def diff(
        self,
        urn: str,
        id: str,
        olds: dict[str, Any],
        news: dict[str, Any],
        old_inputs: dict[str, Any] | None = None,
        ignore_changes: list[str] | None = None,
    ) -> DiffResult:
        """Diff old *outputs* (`olds`) against new checked inputs (`news`)."""
        type_, name = _urn_parts(urn)
        request = provider_pb2.DiffRequest(
            id=id,
            urn=urn,
            name=name,
            type=type_,
            olds=to_struct(olds),
            news=to_struct(news),
            old_inputs=to_struct(old_inputs or {}),
            ignoreChanges=ignore_changes or [],
        )
        response = self._call("Diff", urn, request, {"id": id, "olds": olds, "news": news})
        return DiffResult(
            changes=_DIFF_CHANGES[response.changes],
            replaces=list(response.replaces),
            stables=list(response.stables),
            delete_before_replace=response.deleteBeforeReplace,
            diffs=list(response.diffs),
        )

    def create(
        self, urn: str, props: dict[str, Any], timeout: float | None = None, preview: bool = False
    ) -> tuple[str, dict[str, Any]]:
        """Create from checked inputs; returns (id, outputs)."""
        type_, name = _urn_parts(urn)
        request = provider_pb2.CreateRequest(
            urn=urn,
            name=name,
            type=type_,
            properties=to_struct(props),
            timeout=timeout or 0,
            preview=preview,
        )
        response = self._call("Create", urn, request, {"properties": props})
        return response.id, from_struct(response.properties)

    def read(
        self, urn: str, id: str, props: dict[str, Any], inputs: dict[str, Any] | None = None
    ) -> ReadResult:
        """Read the live state of `id` given old outputs (`props`) and old inputs."""
        type_, name = _urn_parts(urn)
        request = provider_pb2.ReadRequest(
            id=id,
            urn=urn,
            name=name,
            type=type_,
            properties=to_struct(props),
            inputs=to_struct(inputs or {}),
        )
        response = self._call(
            "Read", urn, request, {"id": id, "properties": props, "inputs": inputs}
        )
        new_inputs = from_struct(response.inputs) if response.HasField("inputs") else None
        return ReadResult(response.id, from_struct(response.properties), new_inputs)

    def update(
        self,
        urn: str,
        id: str,
        olds: dict[str, Any],
        news: dict[str, Any],
        old_inputs: dict[str, Any] | None = None,
        timeout: float | None = None,
        ignore_changes: list[str] | None = None,
    ) -> dict[str, Any]:
        """Update `id` from old outputs (`olds`) to new checked inputs; returns the new outputs."""
        type_, name = _urn_parts(urn)
        request = provider_pb2.UpdateRequest(
            id=id,
            urn=urn,
            name=name,
            type=type_,
            olds=to_struct(olds),
            news=to_struct(news),
            old_inputs=to_struct(old_inputs or {}),
            timeout=timeout or 0,
            ignoreChanges=ignore_changes or [],
        )
        response = self._call("Update", urn, request, {"id": id, "olds": olds, "news": news})
        return from_struct(response.properties)

    def delete(
        self,
        urn: str,
        id: str,
        props: dict[str, Any],
        old_inputs: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Delete `id` given its outputs."""
        type_, name = _urn_parts(urn)
        request = provider_pb2.DeleteRequest(
            id=id,
            urn=urn,
            name=name,
            type=type_,
            properties=to_struct(props),
            old_inputs=to_struct(old_inputs or {}),
            timeout=timeout or 0,
        )
        self._call("Delete", urn, request, {"id": id, "properties": props})

    def close(self) -> None:
        """Kill the host process (the engine kills provider plugins when it is done)."""
        if self._closed:
            return
        self._closed = True
        channel = getattr(self, "_channel", None)
        if channel is not None:
            channel.close()
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        for thread in getattr(self, "_drains", []):
            thread.join(timeout=5)

    def __enter__(self) -> ProviderHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()
