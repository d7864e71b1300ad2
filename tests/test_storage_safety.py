"""Pool and Volume as a new user meets them (issue 8), through the provider host on real
qemu:///system: no volume lost to a replacement that could not succeed, safe adopt, clones that
keep what they copy, typed outputs, errors at preview under the key the user wrote, and the
right advice.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pulumi
import pytest
from conftest import virsh
from harness import CheckFailed, Engine, ProviderError
from test_volume_upload import download, image_program

import pulumi_libvirt as libvirt
from pulumi_libvirt import xml
from pulumi_libvirt.dynamic import to_core
from pulumi_libvirt.providers import LOGIC

MiB = 1024**2
README = Path(__file__).resolve().parent.parent / "README.md"


def pool_definition(uri: str, name: str) -> str:
    """The pool's XML without its figures (the filesystem's use moves on its own)."""
    text = virsh(uri, "pool-dumpxml", "--inactive", name)
    return re.sub(r"\s*<(capacity|allocation|available) unit='bytes'>\d+</\1>", "", text)


def qemu_img_info(path: Path) -> str:
    return subprocess.run(["qemu-img", "info", "-U", str(path)], capture_output=True, text=True,
                          check=True).stdout


def methods(engine: Engine, name: str) -> list[str]:
    return [c.method for c in engine.last_calls if c.urn.endswith(f"::{name}")]


@pytest.fixture
def pool_name(run_prefix: str, request) -> str:
    return f"{run_prefix}safe-{request.node.name[5:28]}".replace("[", "-").replace("]", "")


# -- 1. no lost volumes on replacement --------------------------------------------------------


def test_format_change_that_cannot_succeed_keeps_the_old_volume(
    engine, server, images, system_uri, pool_name, tmp_path
) -> None:
    data = images["random.raw"].read_bytes()
    url = server.url("normal", "random.raw")
    raw = image_program(pool_name, tmp_path / "pool", source={"url": url})
    engine.up(raw)
    before = engine.outputs("disk")
    assert before["format"] == "raw"

    qcow2 = image_program(pool_name, tmp_path / "pool", source={"url": url}, format="qcow2")
    for attempt in (engine.preview, engine.up):
        with pytest.raises(ProviderError) as error:
            attempt(qcow2)
        assert str(error.value) == (
            f"cannot replace volume 'disk.img' in pool '{pool_name}' on {system_uri} (format "
            f"changed): format: {url}: the volume format is qcow2 but the image is raw data "
            "(no qcow2 header): set the volume's format to 'raw'; nothing was changed "
            "(deleting the old one first would leave neither)")
        assert "Delete" not in methods(engine, "disk") and "Create" not in methods(engine, "disk")
    assert download(system_uri, pool_name, "disk.img", tmp_path) == data  # untouched
    assert engine.outputs("disk") == before
    assert engine.preview(raw).empty


def test_replacement_refused_before_anything_is_deleted_or_downloaded(
    engine, server, images, system_uri, pool_name, tmp_path
) -> None:
    small = images["small.raw"].read_bytes()
    program = image_program(pool_name, tmp_path / "pool",
                            source={"url": server.url("normal", "small.raw")})
    engine.up(program)
    prefix = f"cannot replace volume 'disk.img' in pool '{pool_name}' on {system_uri} (source "

    missing = server.url("normal", "missing.img")
    with pytest.raises(ProviderError) as error:
        engine.up(image_program(pool_name, tmp_path / "pool", source={"url": missing}))
    assert str(error.value) == (
        f"{prefix}changed): source: GET {missing} returned 404 Not Found; nothing was changed "
        "(deleting the old one first would leave neither)")

    # A capacity smaller than the image: refused at preview, from the image's first 64 KiB.
    big = server.url("normal", "random.raw")
    size = images["random.raw"].stat().st_size
    with pytest.raises(ProviderError) as error:
        engine.preview(image_program(pool_name, tmp_path / "pool", source={"url": big},
                                     capacity=MiB))
    assert str(error.value).startswith(
        f"{prefix}changed): capacity: {MiB} bytes is less than the {size} bytes of the disk in "
        f"{big}: give capacity={size} or more, or leave capacity out to size the volume from "
        "the image; nothing was changed")
    assert [entry[1] for entry in server.requests_for(big)] == ["bytes=0-65535"]

    assert download(system_uri, pool_name, "disk.img", tmp_path) == small
    assert engine.preview(program).empty


def test_pool_space_counts_what_the_old_volume_frees(
    engine, server, images, run_prefix, tmp_path, make_loop_device
) -> None:
    directory = images["random.raw"].parent
    for mib in (6, 9, 24):
        (directory / f"{mib}m.raw").write_bytes(os.urandom(mib * MiB))
        server.files[f"{mib}m.raw"] = directory / f"{mib}m.raw"
    urls = {mib: server.url("normal", f"{mib}m.raw") for mib in (6, 9, 24)}
    device = make_loop_device(16 * MiB)
    name = f"{run_prefix}safe-space"

    def program(mib: int):
        def run() -> None:
            pool = libvirt.Pool("images", name=name, type="fs",
                                source={"devices": [{"path": str(device)}], "format": "ext4"},
                                target={"path": str(tmp_path / "mnt")})
            libvirt.Volume("disk", name="disk.img", pool=pool.name, source={"url": urls[mib]})
        return run

    engine.up(program(9))
    engine.refresh()
    available = engine.outputs("images")["available"]
    assert available < 9 * MiB  # 9 MiB more fit only once the old volume is gone

    with pytest.raises(ProviderError) as error:
        engine.preview(program(24))
    message = str(error.value)
    assert re.search(rf"source: needs {24 * MiB} bytes and pool '{name}' has \d+ bytes "
                     r"available, counting the space the old volume frees; nothing was "
                     "changed", message), message
    assert engine.outputs("disk")["capacity"] == 9 * MiB

    engine.up(program(6))  # fits, counting what the old one frees
    assert engine.outputs("disk")["capacity"] == 6 * MiB
    assert engine.preview(program(6)).empty


# -- 2. adopt is safe; 8. retain_on_delete -------------------------------------------------------


def test_adopt_refuses_what_libvirt_cannot_change_and_retain_keeps_it(
    engine, system_uri, pool_name, tmp_path
) -> None:
    virsh(system_uri, "pool-define-as", pool_name, "dir", "--target", str(tmp_path))
    virsh(system_uri, "pool-build", pool_name)
    virsh(system_uri, "pool-start", pool_name)
    virsh(system_uri, "vol-create-as", pool_name, "existing.img", str(2 * MiB), "--format", "raw")
    try:
        def program(**volume):
            def run() -> None:
                keep = pulumi.ResourceOptions(retain_on_delete=True)
                pool = libvirt.Pool("images", name=pool_name, type="dir",
                                    target={"path": str(tmp_path)}, adopt=True, opts=keep)
                libvirt.Volume("disk", name="existing.img", pool=pool.name, adopt=True,
                               opts=keep, **volume)
            return run

        def other_type() -> None:
            libvirt.Pool("images", name=pool_name, type="netfs", adopt=True,
                         source={"host": {"name": "127.0.0.1"}, "dir": {"path": "/srv"}},
                         target={"path": str(tmp_path)})

        definition = pool_definition(system_uri, pool_name)
        with pytest.raises(ProviderError) as error:
            engine.up(other_type)
        assert str(error.value) == (
            f"cannot adopt pool '{pool_name}' on {system_uri}: type is 'dir' where the program "
            "says 'netfs' (libvirt cannot change it in place). Write type='dir' to adopt it as "
            "it is, or remove the existing pool first to have it made anew")
        assert engine.state == {} and pool_definition(system_uri, pool_name) == definition

        wrong = program(format="qcow2", capacity=MiB)
        with pytest.raises(ProviderError) as error:
            engine.up(wrong)
        assert str(error.value) == (
            f"cannot adopt volume 'existing.img' in pool '{pool_name}' on {system_uri}: "
            f"capacity is {2 * MiB} where the program says {MiB} (it is {2 * MiB} bytes; "
            f"shrinking to {MiB} is refused: it would lose data at the end of the disk); "
            "format is 'raw' where the program says 'qcow2' (libvirt cannot change it in "
            f"place). Write capacity={2 * MiB}, format='raw' to adopt it as it is, or remove "
            "the existing volume first to have it made anew")
        assert [s.name for s in engine.state.values()] == ["images"]  # adopted as it is
        info = qemu_img_info(tmp_path / "existing.img")
        assert "file format: raw" in info and f"({2 * MiB} bytes)" in info  # untouched

        right = program(format="raw", capacity=2 * MiB)
        engine.up(right)
        assert engine.outputs("disk")["path"] == str(tmp_path / "existing.img")
        assert engine.preview(right).empty

        # The README's advice: adopt + retain_on_delete, and destroy leaves both in place.
        steps = engine.destroy()
        assert [(s.name, s.retain) for s in steps] == [("disk", True), ("images", True)]
        assert engine.state == {}
        assert "running" in virsh(system_uri, "pool-info", pool_name)
        assert "existing.img" in virsh(system_uri, "vol-list", pool_name)

        # adopt=True on something that does not exist creates it (the README says so).
        engine.up(_fresh(pool_name, tmp_path))
        assert (tmp_path / "fresh.img").exists()
        engine.destroy()
        assert not (tmp_path / "fresh.img").exists()
    finally:
        virsh(system_uri, "vol-delete", "--pool", pool_name, "existing.img", check=False)
        virsh(system_uri, "pool-destroy", pool_name, check=False)
        virsh(system_uri, "pool-undefine", pool_name, check=False)


def _fresh(pool_name: str, path: Path):
    def run() -> None:
        pool = libvirt.Pool("images", name=pool_name, type="dir", target={"path": str(path)},
                            adopt=True, opts=pulumi.ResourceOptions(retain_on_delete=True))
        libvirt.Volume("fresh", name="fresh.img", pool=pool.name, capacity=MiB, adopt=True)
    return run


# -- 3. clones keep what they copy --------------------------------------------------------------


def test_clones_keep_format_backing_file_and_capacity(engine, images, pool_name,
                                                      tmp_path) -> None:
    pool_dir = tmp_path / "pool"

    def program(clones: bool):
        def run() -> None:
            pool = libvirt.Pool("images", name=pool_name, type="dir",
                                target={"path": str(pool_dir)})
            base = libvirt.Volume("base", name="base.qcow2", pool=pool.name,
                                  source={"path": str(images["disk.qcow2"])}, format="qcow2")
            overlay = libvirt.Volume("overlay", name="overlay.qcow2", pool=pool.name,
                                     format="qcow2",
                                     backing_store={"path": base.path, "format": "qcow2"})
            if clones:
                libvirt.Volume("copy", name="copy.qcow2", pool=pool.name,
                               clone_from=overlay.key)
                libvirt.Volume("flat", name="flat.qcow2", pool=pool.name, clone_from=base.key)
        return run

    engine.up(program(False))
    subprocess.run(["qemu-io", "-c", "write -P 0x5a 64k 128k", str(pool_dir / "overlay.qcow2")],
                   check=True, capture_output=True)
    result = engine.up(program(True))
    overlay, copy, flat = (result.outputs[n] for n in ("overlay", "copy", "flat"))
    assert copy["format"] == "qcow2" and flat["format"] == "qcow2"  # not converted to raw
    assert copy["capacity"] == overlay["capacity"] == result.outputs["base"]["capacity"]
    info = qemu_img_info(pool_dir / "copy.qcow2")
    assert f"backing file: {pool_dir / 'base.qcow2'}" in info
    assert "backing file format: qcow2" in info and "file format: qcow2" in info
    for a, b in (("overlay", "copy"), ("base", "flat")):
        compared = subprocess.run(["qemu-img", "compare", "-U", str(pool_dir / f"{a}.qcow2"),
                                   str(pool_dir / f"{b}.qcow2")], capture_output=True, text=True)
        assert compared.returncode == 0, compared.stdout + compared.stderr
    assert "file format: qcow2" in qemu_img_info(pool_dir / "flat.qcow2")
    assert engine.preview(program(True)).empty

    def smaller() -> None:
        program(True)()
        libvirt.Volume("small", name="small.qcow2", pool=pool_name, capacity=MiB,
                       clone_from=str(pool_dir / "base.qcow2"))

    with pytest.raises(ProviderError) as error:
        engine.up(smaller)
    capacity = int(result.outputs["base"]["capacity"])
    assert str(error.value).endswith(
        f"capacity: {MiB} bytes is less than the {capacity} bytes of the disk in volume "
        f"{pool_dir / 'base.qcow2'}: give capacity={capacity} or more, or leave capacity out "
        "to size the volume from the volume it copies")
    assert not (pool_dir / "small.qcow2").exists()


def test_a_volume_grown_outside_is_left_as_it_is_by_an_update(engine, server, system_uri,
                                                              pool_name, tmp_path) -> None:
    url = server.url("normal", "small.raw")

    def program(token: str):
        return image_program(pool_name, tmp_path / "pool", capacity=MiB,
                             source={"url": url, "headers": {"Authorization": token}})

    engine.up(program("Bearer one"))
    virsh(system_uri, "vol-resize", "--pool", pool_name, "disk.img", str(2 * MiB))
    assert engine.refresh().changes["disk"]["capacity"] == (MiB, 2 * MiB)
    plan = engine.preview(program("Bearer two"))
    assert plan.step("disk").op == "update" and plan.step("disk").changed == ["source"]
    warning = (f"volume 'disk.img' in pool '{pool_name}' is now {2 * MiB} bytes, more than the "
               f"{MiB} bytes of capacity in the program (grown outside Pulumi?); shrinking is "
               f"refused, so it stays as it is: write capacity={2 * MiB} to match it")
    assert warning in engine.last_stderr
    engine.up(program("Bearer two"))  # the new headers; the size is not touched
    assert engine.outputs("disk")["capacity"] == 2 * MiB
    assert f"{2 * MiB} bytes" in virsh(system_uri, "vol-info", "--bytes", "--pool", pool_name,
                                       "disk.img")
    assert engine.preview(program("Bearer two")).empty
    # Still said as what it is (not as something libvirt rewrote) at every preview.
    assert warning in engine.last_stderr and "libvirt stores otherwise" not in engine.last_stderr


# -- 4. stable, typed outputs -------------------------------------------------------------------


def test_outputs_are_integer_bytes_and_hide_bookkeeping(engine, pool_name, tmp_path) -> None:
    def program() -> None:
        pool = libvirt.Pool("images", name=pool_name, type="dir",
                            target={"path": str(tmp_path / "pool")})
        disk = libvirt.Volume("disk", name="disk.img", pool=pool.name, format="raw",
                              capacity={"value": 64, "unit": "MiB"},
                              permissions={"mode": "0640", "owner": 0})
        for key in ("capacity", "allocation", "permissions"):
            pulumi.export(f"disk_{key}", getattr(disk, key))
        for key in ("capacity", "allocation", "available"):
            pulumi.export(f"pool_{key}", getattr(pool, key))

    result = engine.up(program)
    exports = result.exports
    assert exports["disk_capacity"] == 64 * MiB and type(exports["disk_capacity"]) is int
    assert exports["disk_permissions"] == {"mode": "0640", "owner": 0}
    assert type(exports["disk_permissions"]["owner"]) is int
    for key in ("disk_allocation", "pool_capacity", "pool_allocation", "pool_available"):
        assert type(exports[key]) is int, (key, exports[key])

    outputs = engine.outputs("disk")  # as the CLI shows them
    assert outputs["capacity"] == 64 * MiB  # bytes, not the {"value", "unit"} written
    logic = libvirt.Volume._logic
    declared = {*logic.xml_keys(), *logic.all_inputs(), *logic.aliases, *logic.computed}
    assert set(outputs) <= declared and "_input_keys" not in outputs
    assert engine.resource("disk").internal_outputs() == {
        "__input_keys": ["adopt", "capacity", "format", "name", "permissions", "pool", "uri"]}
    assert engine.preview(program).empty

    refresh = engine.refresh()
    assert "disk" not in refresh.changes  # the type does not change on refresh
    assert engine.preview(program).empty
    again = engine.up(program).exports
    assert again["disk_capacity"] == 64 * MiB and type(again["disk_capacity"]) is int


# -- 6. more caught at preview ------------------------------------------------------------------


def test_bad_input_is_caught_at_preview_under_the_key_written(engine, pool_name,
                                                              tmp_path) -> None:
    def program() -> None:
        def volume(resource: str, **props) -> None:
            libvirt.Volume(resource, **{"name": f"{resource}.img", "pool": pool_name,
                                        "capacity": MiB, **props})

        volume("negative", capacity=-1)
        volume("zero", capacity={"value": 0, "unit": "GiB"})
        volume("mode", permissions={"mode": 0o640})
        volume("digits", permissions={"mode": 640})
        volume("numbered", name=5)
        volume("owner", permissions={"owner": "qemu"})
        volume("direct", target={"permissions": {"owner": "qemu"}})
        libvirt.Pool("pool", name=pool_name, type="dir",
                     target={"path": str(tmp_path), "permissions": {"mode": 0o755}})

    with pytest.raises(CheckFailed) as failed:
        engine.preview(program)
    reasons = {(f.name, f.property): f.reason for f in failed.value.failures}
    assert reasons == {
        ("negative", "capacity"): "expected more than 0 bytes, got -1",
        ("zero", "capacity"): "expected more than 0 bytes, got 0 GiB",
        ("mode", "permissions.mode"): "a mode is an octal string such as '0755': write "
                                      "'0640' (416 is 0o640); got the integer 416",
        ("digits", "permissions.mode"): "a mode is an octal string such as '0755': write "
                                        "'0640' (640 reads as the octal digits of a mode); got "
                                        "the integer 640",
        ("numbered", "name"): "expected a string, got int 5 (write name='5')",
        ("owner", "permissions.owner"): "expected an integer or one of '-1', got 'qemu'",
        ("direct", "target.permissions.owner"): "expected an integer or one of '-1', got 'qemu'",
        ("pool", "target.permissions.mode"): "a mode is an octal string such as '0755': write "
                                             "'0755' (493 is 0o755); got the integer 493",
    }
    assert engine.state == {} and not [c for c in engine.last_calls if c.method == "Create"]


# -- 7. right advice -----------------------------------------------------------------------------


def test_two_resources_naming_one_volume_are_told_so(engine, system_uri, pool_name,
                                                     tmp_path) -> None:
    def program() -> None:
        pool = libvirt.Pool("images", name=pool_name, type="dir",
                            target={"path": str(tmp_path)})
        libvirt.Volume("first", name="same.img", pool=pool.name, capacity=MiB)
        libvirt.Volume("second", name="same.img", pool=pool.name, capacity=2 * MiB,
                       adopt=True)

    expected = (f"another resource of this program, 'first', already names volume 'same.img' "
                f"in pool '{pool_name}' on {system_uri}: one libvirt object can be managed by "
                "one resource only; give one of them another name (adopt=True does not help "
                "here)")
    for attempt in (engine.preview, engine.up):
        with pytest.raises(CheckFailed) as failed:
            attempt(program)
        assert [(f.name, f.property, f.reason) for f in failed.value.failures] == [
            ("second", "name", expected)]
        assert "Create" not in methods(engine, "second")
    # up made what came before the second resource, and never adopted the first's volume.
    assert sorted(s.name for s in engine.state.values()) == ["first", "images"]
    assert f"{MiB} bytes" in virsh(system_uri, "vol-info", "--bytes", str(tmp_path / "same.img"))


def test_delete_target_refuses_while_foreign_files_remain(engine, system_uri, pool_name,
                                                          tmp_path) -> None:
    pool_dir = tmp_path / "pool"

    def program() -> None:
        pool = libvirt.Pool("images", name=pool_name, type="dir",
                            target={"path": str(pool_dir)}, delete_target=True, autostart=True)
        libvirt.Volume("disk", name="disk.img", pool=pool.name, capacity=MiB)

    engine.up(program)
    (pool_dir / "notes.txt").write_text("made outside Pulumi")
    (pool_dir / ".hidden").write_text("")
    with pytest.raises(ProviderError) as error:
        engine.destroy()
    assert str(error.value) == (
        f"cannot delete pool '{pool_name}' on {system_uri} with delete_target=True: its target "
        f"{pool_dir} still holds 2 volume(s) Pulumi does not manage here: .hidden, notes.txt. "
        "Move or remove them, or set delete_target=False to keep the target; the pool is left "
        "as it was")
    info = virsh(system_uri, "pool-info", pool_name)
    assert re.search(r"State:\s+running", info) and re.search(r"Autostart:\s+yes", info)
    assert [s.name for s in engine.state.values()] == ["images"]  # the volume went first
    assert sorted(p.name for p in pool_dir.iterdir()) == [".hidden", "notes.txt"]

    (pool_dir / "notes.txt").unlink()
    (pool_dir / ".hidden").unlink()
    engine.destroy()
    assert not pool_dir.exists() and engine.state == {}
    assert pool_name not in virsh(system_uri, "pool-list", "--all", "--name").split()


# -- 9. the README's _extra examples --------------------------------------------------------


def test_readme_extra_examples_use_resources_that_exist(run_prefix: str) -> None:
    text = README.read_text()
    section = text[text.index("### libvirt XML newer than the tables"):]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "_extra" in block
    used = set(re.findall(r"libvirt\.(\w+)\(", block))
    assert used and used <= set(libvirt.__all__)

    engine = Engine({"libvirt:uri": "test:///default"})
    plan = engine.preview(lambda: exec(block, {"libvirt": libvirt, "GiB": 1024**3}))
    assert all(step.op == "create" for step in plan.steps) and plan.steps
    documents = []
    for call in plan.calls:
        if call.method == "Check":
            kind = call.urn.split("::")[2].rsplit(":", 1)[-1]
            logic = LOGIC[kind]("test:///default")
            documents.append(xml.to_xml(logic.kind, logic.desired_model(to_core(
                {k: v for k, v in call.request["news"].items() if k != "__provider"}))))
    assert any('<format type="qcow2" newattr="on"/>' in text for text in documents), documents
    assert any("<newelement/>" in text for text in documents), documents
