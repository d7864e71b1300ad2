"""Tests for the engine-protocol harness, with the toy File provider (tests/harness/toy.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pulumi
import pytest
from harness import (
    CheckFailed,
    Engine,
    ProtectedResource,
    ProviderError,
    ProviderHost,
    is_secret,
    is_unknown,
)
from harness.toy import File, FileProvider
from pulumi.dynamic.dynamic import serialize_provider

URN_A = "urn:pulumi:stack::project::pulumi-python:dynamic/toy:File::a"
MUTATING = {"Create", "Update", "Delete"}


def journal(directory: Path) -> list[str]:
    path = directory / ".journal"
    return path.read_text().splitlines() if path.exists() else []


def files(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir() if p.name != ".journal"}


def two_files(directory: Path, content: str = "hello", name: str = "a.txt", tag: str = "t1"):
    """A program: `a`, and `b` whose content is a's computed `path` output."""

    def program() -> None:
        a = File("a", dir=str(directory), name=name, content=content, tag=tag)
        File("b", dir=str(directory), name="b.txt", content=a.path)
        pulumi.export("a_path", a.path)

    return program


@pytest.fixture
def engine() -> Engine:
    return Engine({"toy:label": "blue"})


# -- ProviderHost ------------------------------------------------------------------------------


def test_host_round_trip_and_errors(tmp_path: Path) -> None:
    provider = serialize_provider(FileProvider())
    props = {"__provider": provider, "dir": str(tmp_path), "name": "a", "content": "hi"}
    with ProviderHost(config={"toy:label": "red"}) as host:
        answer = host.configure({"toy:label": "red"})
        assert answer["acceptSecrets"] is False and answer["supportsPreview"] is False

        bad = host.check(URN_A, {}, {**props, "name": "x/y", "content": 3})
        assert {(f.property, f.reason) for f in bad.failures} == {
            ("name", "invalid file name 'x/y'"),
            ("content", "expected a string, got float"),  # numbers arrive as floats
        }

        id_, outs = host.create(URN_A, props)
        assert id_ == str(tmp_path / "a")
        assert outs["size"] == 2 and outs["label"] == "red"
        host.wait_for_stderr(f"info: toy: writing {tmp_path / 'a'}")

        with pytest.raises(ProviderError) as err:
            host.create(URN_A, props)
        assert str(err.value) == f"file {tmp_path / 'a'} already exists"
        assert err.value.exception_type == "FileExistsError"
        assert err.value.details.startswith("Traceback")

        read = host.read(URN_A, id_, outs, props)
        assert read.id == id_ and read.outputs["content"] == "hi" and read.inputs is None
        host.delete(URN_A, id_, outs)
        assert host.read(URN_A, id_, outs, props).id == ""
    assert [c.method for c in host.calls] == [
        "Configure",
        "Check",
        "Create",
        "Create",
        "Read",
        "Delete",
        "Read",
    ]


# -- preview and up ------------------------------------------------------------------------------


def test_a_host_left_open_dies_with_the_test_process() -> None:
    """A test whose cleanup fails before it closes its engine leaves no provider host behind."""
    script = ("from harness import ProviderHost\n"
              "print(ProviderHost().pid, flush=True)\n")
    tests = Path(__file__).parent
    result = subprocess.run([sys.executable, "-c", script], cwd=tests, capture_output=True,
                            text=True, check=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(tests)})
    pid = int(result.stdout.split()[0])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), f"provider host {pid} outlived its test process"


def test_preview_creates_nothing_and_sends_unknowns_to_check(
    engine: Engine, tmp_path: Path
) -> None:
    plan = engine.preview(two_files(tmp_path))
    assert plan.ops == {"a": "create", "b": "create"}
    assert files(tmp_path) == set() and journal(tmp_path) == [] and engine.state == {}
    assert not {c.method for c in plan.calls} & MUTATING
    # b's content is a's computed output: unknown during preview, and sent as such to Check.
    check_b = [c for c in plan.calls if c.method == "Check" and c.urn.endswith("::b")]
    assert is_unknown(check_b[0].request["news"]["content"])
    assert is_unknown(plan.exports["a_path"])


def test_up_creates_then_second_preview_is_empty(engine: Engine, tmp_path: Path) -> None:
    result = engine.up(two_files(tmp_path))
    assert [(s.name, s.op) for s in result.steps] == [("a", "create"), ("b", "create")]
    assert (tmp_path / "a.txt").read_text() == "hello"
    # Real outputs flow into dependents.
    assert (tmp_path / "b.txt").read_text() == str(tmp_path / "a.txt")
    assert result.outputs["b"]["content"] == str(tmp_path / "a.txt")
    assert result.exports == {"a_path": str(tmp_path / "a.txt")}
    assert engine.outputs("a")["label"] == "blue"

    plan = engine.preview(two_files(tmp_path))
    assert plan.empty and plan.ops == {"a": "same", "b": "same"}
    assert engine.up(two_files(tmp_path)).changes == []
    assert journal(tmp_path) == ["create a.txt tag=t1", "create b.txt tag=None"]


def test_update_in_place(engine: Engine, tmp_path: Path) -> None:
    engine.up(two_files(tmp_path))
    plan = engine.preview(two_files(tmp_path, content="changed"))
    assert plan.step("a").op == "update" and plan.step("a").changed == ["content"]
    assert (tmp_path / "a.txt").read_text() == "hello"

    result = engine.up(two_files(tmp_path, content="changed"))
    assert [(s.name, s.op) for s in result.steps] == [("a", "update"), ("b", "same")]
    assert (tmp_path / "a.txt").read_text() == "changed"
    assert engine.outputs("a")["size"] == 7
    assert journal(tmp_path)[-1] == "update a.txt"


def test_replacement_creates_new_before_deleting_old(engine: Engine, tmp_path: Path) -> None:
    engine.up(two_files(tmp_path))
    plan = engine.preview(two_files(tmp_path, name="renamed.txt"))
    step = plan.step("a")
    assert step.op == "replace" and step.replaces == ["name"] and not step.delete_before_replace
    # The dependent sees a's new path as unknown: its update is planned too.
    assert plan.step("b").op == "update"

    result = engine.up(two_files(tmp_path, name="renamed.txt"))
    assert [(s.name, s.op) for s in result.steps] == [("a", "replace"), ("b", "update")]
    assert journal(tmp_path)[2:] == [
        "create renamed.txt tag=t1",
        "update b.txt",
        "delete a.txt tag=t1",  # the old half goes last
    ]
    assert files(tmp_path) == {"renamed.txt", "b.txt"}
    assert engine.outputs("a")["path"] == str(tmp_path / "renamed.txt")


def test_delete_before_replace(engine: Engine, tmp_path: Path) -> None:
    engine.up(two_files(tmp_path))
    plan = engine.preview(two_files(tmp_path, tag="t2"))
    assert plan.step("a").op == "replace" and plan.step("a").delete_before_replace

    engine.up(two_files(tmp_path, tag="t2"))
    # Same file name: the provider would refuse to create it while the old one exists.
    assert journal(tmp_path)[2:4] == ["delete a.txt tag=t1", "create a.txt tag=t2"]
    assert engine.outputs("a")["tag"] == "t2"


def test_resource_options_replace_on_changes_and_delete_before_replace(
    engine: Engine, tmp_path: Path
) -> None:
    def program(content: str, name: str = "o.txt") -> None:
        opts = pulumi.ResourceOptions(replace_on_changes=["content"], delete_before_replace=True)
        File("o", dir=str(tmp_path), name=name, content=content, opts=opts)

    engine.up(lambda: program("one"))
    registration = next(iter(engine.registrations.values()))
    assert registration.replace_on_changes == ["content"] and registration.delete_before_replace
    step = engine.preview(lambda: program("two")).step("o")
    assert (step.op, step.replaces, step.delete_before_replace) == ("replace", ["content"], True)
    engine.up(lambda: program("three", name="p.txt"))
    assert journal(tmp_path)[1:] == ["delete o.txt tag=None", "create p.txt tag=None"]


def test_retain_on_delete_leaves_the_object_and_forgets_it(engine: Engine, tmp_path: Path) -> None:
    def program(content: str = "kept", tag: str = "t1") -> None:
        File("r", dir=str(tmp_path), name="r.txt", content=content, tag=tag,
             opts=pulumi.ResourceOptions(retain_on_delete=True))

    engine.up(program)
    assert engine.resource("r").retain_on_delete
    plan = engine.preview(lambda: None)
    assert plan.ops == {"r": "delete"} and plan.step("r").retain
    steps = engine.destroy()
    assert [(s.name, s.op, s.retain) for s in steps] == [("r", "delete", True)]
    assert engine.state == {} and files(tmp_path) == {"r.txt"}  # still there, no longer managed
    assert "Delete" not in [c.method for c in engine.last_calls]
    assert journal(tmp_path) == ["create r.txt tag=t1"]

    # Removed from the program: the same.
    (tmp_path / "r.txt").unlink()
    engine.up(program)
    engine.up(lambda: None)
    assert engine.state == {} and files(tmp_path) == {"r.txt"}


def test_protect_refuses_delete_and_replace_at_preview(engine: Engine, tmp_path: Path) -> None:
    def program(protect: bool, tag: str = "t1") -> None:
        File("p", dir=str(tmp_path), name="p.txt", content="x", tag=tag,
             opts=pulumi.ResourceOptions(protect=protect))

    engine.up(lambda: program(True))
    urn = engine.resource("p").urn
    for attempt in (engine.preview, engine.up):
        with pytest.raises(ProtectedResource) as err:
            attempt(lambda: program(True, tag="t2"))  # a replacement
        assert str(err.value).startswith(f'unable to replace resource "{urn}"\nas it is '
                                         "currently marked for protection.")
    with pytest.raises(ProtectedResource, match="unable to delete resource"):
        engine.preview(lambda: None)
    with pytest.raises(ProtectedResource, match="pulumi state unprotect"):
        engine.destroy()
    assert files(tmp_path) == {"p.txt"} and journal(tmp_path) == ["create p.txt tag=t1"]
    # Unprotecting and replacing in one update is allowed; then destroy works.
    engine.up(lambda: program(False, tag="t2"))
    engine.destroy()
    assert files(tmp_path) == set() and engine.state == {}


def test_ignore_changes_keeps_the_old_input(engine: Engine, tmp_path: Path) -> None:
    def program(content: str) -> None:
        File("i", dir=str(tmp_path), name="i.txt", content=content,
             opts=pulumi.ResourceOptions(ignore_changes=["content"]))

    engine.up(lambda: program("first"))
    assert engine.preview(lambda: program("second")).empty
    engine.up(lambda: program("second"))
    assert (tmp_path / "i.txt").read_text() == "first"


def test_removed_resources_are_deleted_dependents_first(engine: Engine, tmp_path: Path) -> None:
    engine.up(two_files(tmp_path))
    plan = engine.preview(lambda: None)
    assert plan.ops == {"a": "delete", "b": "delete"} and files(tmp_path) == {"a.txt", "b.txt"}
    result = engine.up(lambda: None)
    assert [(s.name, s.op) for s in result.steps] == [("b", "delete"), ("a", "delete")]
    assert files(tmp_path) == set() and engine.state == {}


def test_check_failures_surface_with_property_and_reason(engine: Engine, tmp_path: Path) -> None:
    def program() -> None:
        File("bad", dir=str(tmp_path), name="../escape", content="x")

    with pytest.raises(CheckFailed) as err:
        engine.preview(program)
    [failure] = err.value.failures
    assert (failure.name, failure.property) == ("bad", "name")
    assert failure.reason == "invalid file name '../escape'"
    with pytest.raises(CheckFailed):
        engine.up(program)
    assert files(tmp_path) == set() and engine.state == {}


def test_provider_error_keeps_what_succeeded(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "taken.txt").write_text("not ours")

    def program() -> None:
        a = File("a", dir=str(tmp_path), name="a.txt", content="x")
        File("taken", dir=str(tmp_path), name="taken.txt", content=a.path)

    with pytest.raises(ProviderError, match="taken.txt already exists"):
        engine.up(program)
    assert [s.name for s in engine.state.values()] == ["a"]
    assert (tmp_path / "taken.txt").read_text() == "not ours"


# -- secrets, config, refresh, destroy ------------------------------------------------------------


def test_secrets_are_stripped_for_the_provider_and_marked_again(
    engine: Engine, tmp_path: Path
) -> None:
    def program() -> None:
        File("s", dir=str(tmp_path), name="s.txt", content="c", token=pulumi.Output.secret("tok"))

    engine.up(program)
    registration = next(iter(engine.registrations.values()))
    assert is_secret(registration.inputs["token"]) and is_secret(registration.inputs["__provider"])
    create = next(c for c in engine.last_calls if c.method == "Create")
    assert create.request["properties"]["token"] == "tok"  # plain on the wire
    # token: same name as a secret input; digest: additionalSecretOutputs of the resource class.
    assert engine.secret_outputs("s") == {"token", "digest"}
    assert engine.outputs("s")["token"] == "tok"
    engine.refresh()
    assert engine.secret_outputs("s") == {"token", "digest"}


def test_config_reaches_program_and_provider(tmp_path: Path) -> None:
    engine = Engine({"toy:label": "green", "toy:dir": str(tmp_path)})

    def program() -> None:
        config = pulumi.Config("toy")
        File("f", dir=config.require("dir"), name="f.txt", content=config.require("label"))

    engine.up(program)
    assert engine.outputs("f")["content"] == "green"  # the program's view
    assert engine.outputs("f")["label"] == "green"  # the provider's configure()


def test_refresh_sees_changes_and_deletions(engine: Engine, tmp_path: Path) -> None:
    engine.up(two_files(tmp_path))
    (tmp_path / "a.txt").write_text("edited behind our back")
    (tmp_path / "b.txt").unlink()
    result = engine.refresh()
    assert result.deleted == ["b"]
    assert result.changes["a"]["content"] == ("hello", "edited behind our back")
    assert [c.method for c in result.calls] == ["Configure", "Read", "Read"]
    assert list(engine.state) == [URN_A]
    # The next up puts things back: a differs from its inputs again, b is created anew.
    plan = engine.preview(two_files(tmp_path))
    assert plan.ops == {"a": "update", "b": "create"}
    engine.up(two_files(tmp_path))
    assert (tmp_path / "a.txt").read_text() == "hello" and (tmp_path / "b.txt").exists()


def test_destroy_removes_everything(engine: Engine, tmp_path: Path) -> None:
    engine.up(two_files(tmp_path))
    steps = engine.destroy()
    assert [(s.name, s.op) for s in steps] == [("b", "delete"), ("a", "delete")]
    assert files(tmp_path) == set() and engine.state == {}


def test_persistent_host_serves_every_operation(tmp_path: Path) -> None:
    with Engine({"toy:label": "x"}, persistent_host=True) as engine:
        engine.up(two_files(tmp_path))
        host = engine.host
        assert host is not None and engine.last_calls[0].method == "Configure"
        assert engine.preview(two_files(tmp_path)).empty
        engine.destroy()
        assert engine.host is host and [c.method for c in engine.last_calls] == ["Delete"] * 2
        engine.config["toy:label"] = "y"  # new config: a new host
        engine.up(two_files(tmp_path))
        assert engine.host is not host and engine.outputs("a")["label"] == "y"
    assert engine.host is None and host._proc.poll() is not None


def test_program_from_a_project_directory(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: toyproj\nruntime: python\n")
    (project / "__main__.py").write_text(
        "import os\n"
        "import pulumi\n"
        "from harness.toy import File\n"
        "config = pulumi.Config()\n"
        "f = File('f', dir=config.require('dir'), name='p.txt', content=os.getcwd())\n"
        "pulumi.export('path', f.path)\n"
    )
    engine = Engine({"toyproj:dir": str(tmp_path)})
    result = engine.up(project)
    assert engine.project == "toyproj"
    assert result.exports == {"path": str(tmp_path / "p.txt")}
    assert (tmp_path / "p.txt").read_text() == str(project)  # runs in its directory
    assert os.getcwd() != str(project)
    assert next(iter(engine.state)).startswith("urn:pulumi:stack::toyproj::")
