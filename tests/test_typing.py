"""The typed API (issue 13): mypy, run by the suite, passes every example and the package's
public API and names each mistake in a bad program; signatures and documentation are there at
run time; both call forms reach the provider alike; unknown keys still reach Check.
"""

from __future__ import annotations

import inspect
import pydoc
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pulumi
import pytest
from harness import CheckFailed, Engine, run_with_mocks

import pulumi_libvirt as libvirt
from pulumi_libvirt.providers import LOGIC

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/__main__.py"))


def mypy(*paths: Path | str) -> subprocess.CompletedProcess[str]:
    """mypy with the project's configuration (strict), from the repository's root."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--no-error-summary", "--show-error-codes", *map(str, paths)],
        capture_output=True, text=True, cwd=ROOT,
    )


def errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if ": error:" in line]


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_checks_clean(example: Path) -> None:
    used = set(re.findall(r"libvirt\.([A-Z]\w+)\(", (example / "__main__.py").read_text()))
    missing = sorted(name for name in used if not hasattr(libvirt, name))
    if missing:
        pytest.skip(f"the example uses {' and '.join(missing)}, not on this branch yet")
    result = mypy(example / "__main__.py")
    assert result.returncode == 0 and not errors(result), result.stdout + result.stderr


def test_the_public_api_passes_a_strict_check() -> None:
    """The package, its resources, types and lookups under mypy --strict (pyproject.toml)."""
    result = mypy("-p", "pulumi_libvirt")
    assert result.returncode == 0 and not errors(result), result.stdout + result.stderr


MISTAKES = '''
import pulumi
import pulumi_libvirt as libvirt

pool = libvirt.Pool("images", name="images", type="dir", target={"path": "/srv/images"})
libvirt.Volume("a", name="a.qcow2", pool=pool.name, fromat="qcow2")
libvirt.Volume("b", name="b.qcow2", pool=pool.name, format="qcow3")
libvirt.Volume("c", name="c.qcow2", pool=pool.name, capacity="20G")
disk = libvirt.Volume("d", name="d.qcow2", pool=pool.name, capacity=1 << 30)
pulumi.export("path", disk.pth)
libvirt.Pool("e", name="e", type="dir", target={"pth": "/srv/e"})
libvirt.Pool("f", name="f", type="dir", source={"format": {"type": "ext5"}})
libvirt.Volume("g", args=libvirt.VolumeArgs(name="g", pool="images", capacity="big"))
target: libvirt.types.PoolTargetArgsDict = {"path": "/srv/h", "permisions": {"mode": "0755"}}
source: libvirt.types.PoolSourceArgsDict = {"format": {"type": "ext5"}}
libvirt.get_volume(pool="default", nme="base.qcow2")
pulumi.export("base", libvirt.get_volume(key="/x").pth)
libvirt.Domain("i", name="i", type="qemu", devices={"interface": {"wait_for_ip": {"source": "x"}}})
wait: libvirt.types.DomainWaitForIpArgsDict = {"source": "arp", "timeout": 30}
nic: libvirt.types.DomainDevicesInterfaceArgsDict = {"wait_for_ip": {"timeout": "9"}}
where: libvirt.types.DomainInterfaceSourceArgsDict = {"network": "n", "wait_for_ip": True}
libvirt.Domain("j", name="j", type="qemu", devices={"interfaces": [
    {"type": "network", "wait_for_ip": {"source": "lease", "timeout": 30}}, {"wait_for_ip": True}]})
'''


def test_each_mistake_gets_one_error_naming_it(tmp_path: Path) -> None:
    program = tmp_path / "mistakes.py"
    program.write_text(textwrap.dedent(MISTAKES))
    found: dict[int, list[str]] = {}
    for line in errors(mypy(program)):
        number = int(line.split(":")[1])
        found.setdefault(number, []).append(line.split(": error: ", 1)[1])
    expected = {
        6: 'Unexpected keyword argument "fromat" for "Volume"; did you mean "format"?',
        7: 'Argument "format" to "Volume" has incompatible type "Literal[\'qcow3\']"',
        8: 'Argument "capacity" to "Volume" has incompatible type "str"',
        10: '"Volume" has no attribute "pth"; maybe "path"?',
        # In a nested dict written in the call, mypy names the argument that holds the
        # mistake (the value may also be an Output, so the dict's type is not exhaustive) ...
        11: 'Argument "target" to "Pool" has incompatible type "dict[str, str]"',
        12: 'Argument "source" to "Pool" has incompatible type "dict[str, dict[str, str]]"',
        13: 'Incompatible types (expression has type "str", TypedDict item "capacity"',
        # ... and with the nested type written out, the key itself or the key that holds it.
        14: 'Extra key "permisions" for TypedDict "PoolTargetArgsDict"',
        15: 'Incompatible types (expression has type "dict[str, str]", TypedDict item "format"',
        16: 'Unexpected keyword argument "nme" for "get_volume"; did you mean "name"?',
        17: '"VolumeInfo" has no attribute "pth"; maybe "path"?',
        # wait_for_ip, a provider-only key of an interface: typed there, and only there
        18: 'Argument "devices" to "Domain" has incompatible type',
        19: 'Incompatible types (expression has type "Literal[\'arp\']", TypedDict item "source"',
        20: 'Incompatible types (expression has type "dict[str, str]", TypedDict item '
            '"wait_for_ip"',
        21: 'Extra key "wait_for_ip" for TypedDict "DomainInterfaceSourceArgsDict"',
    }
    assert sorted(found) == sorted(expected), found
    for number, words in expected.items():
        assert len(found[number]) == 1 and words in found[number][0], (number, found[number])


def test_signature_lists_every_keyword() -> None:
    parameters = inspect.signature(libvirt.Volume).parameters
    keywords = [n for n, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    logic = LOGIC["Volume"]
    assert keywords == [*logic.xml_keys(), *logic.aliases, *logic.all_inputs()]
    for name in ("name", "pool", "capacity", "format", "backing_store", "source", "clone_from",
                 "uri", "adopt"):
        assert name in keywords
    assert list(parameters)[:3] == ["resource_name", "args", "opts"]
    assert "pulumi.Input[" in str(parameters["capacity"].annotation)
    assert "qcow2" in str(parameters["format"].annotation)


@pytest.mark.parametrize("type_name", sorted(LOGIC))
def test_help_documents_every_input_and_output(type_name: str) -> None:
    cls = getattr(libvirt, type_name)
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    logic = LOGIC[type_name]
    for name in (*logic.xml_keys(), *logic.aliases, *logic.all_inputs(), *logic.computed):
        assert f"``{name}``:" in text, name
    assert "https://libvirt.org/format" in text
    assert "(Provider input, not libvirt XML.)" in text
    assert "A change " in text
    assert "resource_name" in text and "args" in text  # the signature


def test_volume_docs_say_values_units_changes_and_where() -> None:
    doc = libvirt.Volume.__doc__ or ""
    assert "'qcow2'" in doc  # the allowed values
    assert "an integer in bytes" in doc  # the unit
    assert "``capacity``: Element ``<capacity>``, a size" in doc
    assert "A change is applied live" in doc  # capacity grows in place
    assert "A change replaces the volume" in doc  # format
    assert "https://libvirt.org/formatstorage.html#target-elements-1" in doc


class Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.inputs: dict[str, dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.inputs[args.name] = {k: v for k, v in args.inputs.items()
                                  if k != "__provider" and not k.startswith("__name")}
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


def test_args_and_keywords_reach_the_provider_alike() -> None:
    given: dict[str, Any] = {"name": "web.qcow2", "pool": "images", "format": "qcow2",
                             "capacity": {"value": 2, "unit": "GiB"},
                             "permissions": {"mode": "0640"}}

    def program() -> None:
        opts = pulumi.ResourceOptions(protect=False)
        libvirt.Volume("keywords", opts=opts, **given)
        libvirt.Volume("args", args=libvirt.VolumeArgs(**given), opts=opts)
        libvirt.Volume("positional", libvirt.VolumeArgs(**given), opts)
        libvirt.Volume("options-second", opts, **given)  # the form before the typed API

    mocks = Recorder()
    run_with_mocks(program, mocks, {"libvirt:uri": "test:///default"})
    first = mocks.inputs["keywords"]
    assert first["format"] == "qcow2" and first["capacity"] == {"value": 2, "unit": "GiB"}
    for name in ("args", "positional", "options-second"):
        assert mocks.inputs[name] == first, name


def test_mixing_args_and_keywords_is_refused() -> None:
    def program() -> None:
        libvirt.Volume("both", args=libvirt.VolumeArgs(name="a"), name="b")

    with pytest.raises(Exception, match="name given both in args and as keywords"):
        run_with_mocks(program, Recorder(), {"libvirt:uri": "test:///default"})


def test_unknown_keys_still_reach_check_at_preview() -> None:
    """Without a type checker, a misspelt key is Check's "did you mean" at preview, as before."""
    def program() -> None:
        extra: dict[str, Any] = {"fromat": "qcow2"}
        libvirt.Volume("disk", name="disk.qcow2", pool="default", capacity=1 << 20, **extra)
        libvirt.Volume("viaargs", args={"name": "x.img", "pool": "default", "capacity": 1,
                                        "pol": "default"})  # type: ignore[typeddict-unknown-key]

    engine = Engine({"libvirt:uri": "test:///default"})
    try:
        with pytest.raises(CheckFailed) as failed:
            engine.preview(program)
    finally:
        engine.close()
    reasons = {(f.name, f.property): f.reason for f in failed.value.failures}
    assert reasons[("disk", "fromat")] == "unknown key 'fromat'; did you mean 'format'?"
    assert reasons[("viaargs", "pol")].startswith("unknown key 'pol'; did you mean 'pool'")


def test_a_resource_with_program_side_behaviour_derives_from_its_own_base(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``resources.<Name>Base`` (hand-written) is what the generated class derives from."""
    from pulumi_libvirt import resources
    from pulumi_libvirt.typegen.resources import ResourceModule
    from pulumi_libvirt.typegen.types import KindTypes

    module = ResourceModule(LOGIC["Volume"], KindTypes("volume", "volume"))
    assert 'class Volume(LibvirtResource, module="libvirt"' in module.render()
    monkeypatch.setattr(resources, "VolumeBase",
                        type("VolumeBase", (resources.LibvirtResource,), {}), raising=False)
    text = module.render()
    assert 'class Volume(VolumeBase, module="libvirt", name="Volume")' in text
    assert "from ..resources import VolumeBase" in text


def test_provider_keys_inside_items_land_only_where_the_logic_takes_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``ResourceLogic.nested_inputs`` is one row for checking, the types and schema.json. An
    element spec shared by several paths (``<ip>`` of an interface, of its source, of a
    hostdev) gets a type of its own at the path that takes the key, in both."""
    from pulumi_libvirt.providers import DomainLogic, Input
    from pulumi_libvirt.schema import build_schema
    from pulumi_libvirt.typegen.types import KindTypes

    probe = Input("probe", "str", "A probe.", values=("on", "off"))
    monkeypatch.setattr(DomainLogic, "nested_inputs",
                        {**DomainLogic.nested_inputs, "devices.interfaces.ips": (probe,)})
    text = KindTypes("domain", "domain").render()

    def typed_dict(name: str) -> str:
        start = text.index(f"\nclass {name}(")
        return text[start:text.index("\nclass ", start + 1)]

    def item_type(holder: str, key: str) -> str:
        found = re.search(rf"\n    {key}: pulumi\.Input\[Sequence\[pulumi\.Input\[(\w+)\]",
                          typed_dict(holder))
        assert found, (holder, key)
        return found.group(1)

    own = item_type("DomainDevicesInterfaceArgsDict", "ips")
    shared = item_type("DomainInterfaceSourceArgsDict", "ips")
    assert own != shared and item_type("DomainHostdevArgsDict", "ips") == shared
    assert "probe: pulumi.Input[Literal['on', 'off']]" in typed_dict(own)
    assert "(Provider input, not libvirt XML.)" in typed_dict(own)
    assert "probe" not in typed_dict(shared)

    types = build_schema()["types"]

    def schema_item(holder: str, key: str) -> dict[str, Any]:
        ref = types[f"libvirt:index:{holder}"]["properties"][key]["items"]["$ref"]
        body: dict[str, Any] = types[ref.rsplit("/", 1)[1]]
        return body

    assert "probe" in schema_item("DomainDevicesInterface", "ips")["properties"]
    assert "probe" not in schema_item("DomainDevicesInterfaceSource", "ips")["properties"]
    nic = {"type": "network", "ips": [{"address": "10.210.0.5", "probe": "maybe"}]}
    _checked, problems = DomainLogic().check({}, {"name": "web", "type": "kvm",
                                                  "devices": {"interfaces": [nic]}})
    assert [(p.path, p.message) for p in problems] == [
        ("devices.interfaces[0].ips[0].probe", "expected one of 'on', 'off', got 'maybe'")]
    assert "probe" not in str(DomainLogic().desired_model({"devices": {"interfaces": [nic]}}))
