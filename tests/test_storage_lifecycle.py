"""Pool and Volume through Pulumi's own dynamic-provider host, as the engine drives them.

Each lifecycle runs on both real daemons (``qemu:///system`` and libvirt 11.3, see
tests/daemons.py) and on libvirt's embedded ``test:///default``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import pool_names, virsh
from harness import CheckFailed, Engine, ProviderError, strip_secrets

import pulumi_libvirt as libvirt

GiB = 1024**3
TEST_URI = "test:///default"


def make_engine(uri: str) -> Engine:
    # test:/// state lives in the provider host process: keep one host for the whole test.
    return Engine({"libvirt:uri": uri}, persistent_host=uri == TEST_URI)


def storage(prefix: str, path: Path, *, autostart: bool = False, capacity=GiB,
            fmt: str = "qcow2"):
    """A program: a dir pool and a volume in it."""

    def program() -> None:
        pool = libvirt.Pool("images", name=f"{prefix}images", type="dir",
                            target={"path": str(path)}, autostart=autostart)
        libvirt.Volume("disk", name="disk.img", pool=pool.name, capacity=capacity, format=fmt)

    return program


def test_lifecycle(uri: str, run_prefix: str, tmp_path: Path) -> None:
    system = uri != TEST_URI
    prefix = f"{run_prefix}life-"
    engine = make_engine(uri)
    try:
        plan = engine.preview(storage(prefix, tmp_path / "pool"))
        assert plan.ops == {"images": "create", "disk": "create"}
        assert not any(c.method == "Create" for c in plan.calls)
        if system:
            assert f"{prefix}images" not in pool_names(uri)

        result = engine.up(storage(prefix, tmp_path / "pool"))
        pool, disk = result.outputs["images"], result.outputs["disk"]
        assert pool["name"] == f"{prefix}images" and len(pool["uuid"]) == 36
        assert pool["running"] is True and pool["autostart"] is False
        assert disk["capacity"] == GiB and disk["format"] == "qcow2"
        assert disk["path"] == str(tmp_path / "pool" / "disk.img") == disk["key"]
        if system:
            autostart = virsh(uri, "pool-info", f"{prefix}images").split("Autostart:")[1]
            assert "yes" not in autostart[:8]
            assert (tmp_path / "pool" / "disk.img").exists()

        assert engine.preview(storage(prefix, tmp_path / "pool")).empty

        # In place: autostart (both hosts); capacity (the test driver cannot resize).
        grown = 2 * GiB if system else GiB
        changed = storage(prefix, tmp_path / "pool", autostart=True, capacity=grown)
        plan = engine.preview(changed)
        expected = {"images": "update", "disk": "update" if system else "same"}
        assert plan.ops == expected
        result = engine.up(changed)
        assert result.outputs["images"]["autostart"] is True
        assert result.outputs["disk"]["capacity"] == grown
        assert engine.preview(changed).empty
        if system:
            assert "Autostart:      yes" in virsh(uri, "pool-info", f"{prefix}images")
            info = virsh(uri, "vol-info", "--bytes", str(tmp_path / "pool" / "disk.img"))
            assert f"{2 * GiB} bytes" in info

            # Behind our back: refresh shows it; the next preview puts autostart back, and
            # says that the grown volume stays as it is (shrinking is refused).
            virsh(uri, "pool-autostart", "--disable", f"{prefix}images")
            virsh(uri, "vol-resize", str(tmp_path / "pool" / "disk.img"), str(3 * GiB))
            refresh = engine.refresh()
            assert refresh.changes["images"]["autostart"] == (True, False)
            assert refresh.changes["disk"]["capacity"] == (2 * GiB, 3 * GiB)  # bytes, as before
            assert engine.preview(changed).ops == {"images": "update", "disk": "same"}
            assert (f"volume 'disk.img' in pool '{prefix}images' is now {3 * GiB} bytes, more "
                    f"than the {2 * GiB} bytes of capacity in the program (grown outside "
                    "Pulumi?); shrinking is refused, so it stays as it is: write "
                    f"capacity={3 * GiB} to match it") in engine.last_stderr
            engine.up(changed)
            assert engine.preview(changed).empty
            bigger = storage(prefix, tmp_path / "pool", autostart=True, capacity=3 * GiB)
            assert engine.preview(bigger).empty  # the program now agrees

        before = {name: engine.resource(name) for name in ("images", "disk")}
        engine.destroy()
        assert engine.state == {}
        if system:
            assert f"{prefix}images" not in pool_names(uri)
            assert not (tmp_path / "pool" / "disk.img").exists()
        else:
            for state in before.values():  # gone, as the same provider host sees it
                outputs = strip_secrets(state.outputs)
                assert engine.host.read(state.urn, state.id, outputs).id == ""
    finally:
        engine.close()


def test_bad_input_fails_at_check_and_creates_nothing(uri: str, run_prefix: str,
                                                      tmp_path: Path) -> None:
    prefix = f"{run_prefix}bad-"

    pool = f"{prefix}images"
    programs = [
        lambda: libvirt.Pool("images", name=pool, type="dir", target={"path": str(tmp_path)},
                             autostartt=True),
        lambda: libvirt.Volume("disk", name="d.img", pool=pool, capacity="big", format="qcow3"),
        lambda: libvirt.Volume("other", name="o.img", pool=pool, capacity=GiB, adopt="yes"),
    ]
    engine = make_engine(uri)
    try:
        reasons = {}
        for program in programs:
            with pytest.raises(CheckFailed) as failed:
                engine.up(program)
            reasons.update({(f.name, f.property): f.reason for f in failed.value.failures})
        assert reasons[("images", "autostartt")] == (
            "unknown key 'autostartt'; did you mean 'autostart'?"
        )
        assert reasons[("disk", "capacity")].startswith("expected an integer")
        assert "got 'qcow3'" in reasons[("disk", "format")]
        assert "'qcow2'" in reasons[("disk", "format")]
        assert reasons[("other", "adopt")].startswith("expected a boolean")
        assert engine.state == {}
        assert not any(c.method == "Create" for c in engine.last_calls)
        if uri != TEST_URI:
            assert f"{prefix}images" not in pool_names(uri)
    finally:
        engine.close()


def test_volume_on_missing_pool_fails_at_create(uri: str, run_prefix: str) -> None:
    missing = f"{run_prefix}no-such-pool"

    def program() -> None:
        libvirt.Volume("disk", name=f"{run_prefix}orphan.img", pool=missing, capacity=GiB)

    engine = make_engine(uri)
    try:
        assert engine.preview(program).ops == {"disk": "create"}  # the pool may come later
        with pytest.raises(ProviderError) as error:
            engine.up(program)
        assert str(error.value) == f"pool '{missing}' not found on {uri}"
        assert engine.state == {}
        if uri != TEST_URI:
            assert f"{run_prefix}orphan.img" not in virsh(uri, "vol-list", "--pool", "default",
                                                          check=False)
    finally:
        engine.close()


def test_shrinking_is_refused_at_check(system_uri: str, run_prefix: str, tmp_path: Path) -> None:
    prefix = f"{run_prefix}shrink-"
    engine = make_engine(system_uri)
    try:
        engine.up(storage(prefix, tmp_path, capacity=2 * GiB))
        with pytest.raises(CheckFailed) as failed:
            engine.preview(storage(prefix, tmp_path, capacity=GiB))
        (failure,) = failed.value.failures
        assert failure.property == "capacity"
        assert f"cannot shrink the volume from {2 * GiB} to {GiB} bytes" in failure.reason
    finally:
        engine.destroy()
        engine.close()


def test_format_change_replaces_old_first(uri: str, run_prefix: str, tmp_path: Path) -> None:
    prefix = f"{run_prefix}fmt-"
    engine = make_engine(uri)
    try:
        engine.up(storage(prefix, tmp_path, fmt="raw"))
        old_key = engine.resource("disk").id
        step = engine.preview(storage(prefix, tmp_path, fmt="qcow2")).step("disk")
        assert step.op == "replace" and step.replaces == ["format"]
        assert step.delete_before_replace  # same name in the same pool: the old must go first
        result = engine.up(storage(prefix, tmp_path, fmt="qcow2"))
        assert result.outputs["disk"]["format"] == "qcow2"
        assert engine.resource("disk").id == old_key  # same path, a new volume
        methods = [c.method for c in result.calls if c.urn.endswith("::disk")]
        assert methods.index("Delete") < methods.index("Create")
        if uri != TEST_URI:
            info = subprocess.run(["qemu-img", "info", str(tmp_path / "disk.img")],
                                  capture_output=True, text=True, check=True).stdout
            assert "file format: qcow2" in info
    finally:
        engine.destroy()
        engine.close()


def test_adopt_takes_over_an_existing_pool(system_uri: str, run_prefix: str,
                                           tmp_path: Path) -> None:
    name = f"{run_prefix}adopt"
    virsh(system_uri, "pool-define-as", name, "dir", "--target", str(tmp_path))
    try:
        def program(adopt: bool):
            def run() -> None:
                libvirt.Pool("images", name=name, type="dir", target={"path": str(tmp_path)},
                             autostart=True, adopt=adopt)
            return run

        engine = make_engine(system_uri)
        with pytest.raises(ProviderError) as error:
            engine.up(program(False))
        assert str(error.value) == (
            f"pool '{name}' already exists on {system_uri}. If it was made outside this "
            "program, set adopt=True to manage it; if another resource of this program names "
            "it, give one of them another name"
        )
        result = engine.up(program(True))
        assert result.outputs["images"]["running"] is True
        assert "Autostart:      yes" in virsh(system_uri, "pool-info", name)
        assert engine.preview(program(True)).empty
        engine.destroy()
        assert name not in pool_names(system_uri)
        engine.close()
    finally:
        virsh(system_uri, "pool-destroy", name, check=False)
        virsh(system_uri, "pool-undefine", name, check=False)


def test_overlay_on_a_base_volume_unknown_during_preview(uri: str, run_prefix: str,
                                                         tmp_path: Path) -> None:
    prefix = f"{run_prefix}cow-"

    def program() -> None:
        pool = libvirt.Pool("images", name=f"{prefix}images", type="dir",
                            target={"path": str(tmp_path)})
        base = libvirt.Volume("base", name="base.qcow2", pool=pool.name, capacity=GiB,
                              format="qcow2")
        libvirt.Volume("overlay", name="overlay.qcow2", pool=pool.name, format="qcow2",
                       backing_store={"path": base.path, "format": "qcow2"})

    engine = make_engine(uri)
    try:
        plan = engine.preview(program)  # base.path is unknown until base exists
        assert plan.ops == {"images": "create", "base": "create", "overlay": "create"}
        result = engine.up(program)
        overlay = result.outputs["overlay"]
        assert overlay["backing_store"] == {"path": str(tmp_path / "base.qcow2"),
                                            "format": "qcow2"}
        assert overlay["capacity"] == GiB  # taken from the base when not given
        assert engine.preview(program).empty
        if uri != TEST_URI:
            info = subprocess.run(["qemu-img", "info", str(tmp_path / "overlay.qcow2")],
                                  capture_output=True, text=True, check=True).stdout
            assert f"backing file: {tmp_path / 'base.qcow2'}" in info
    finally:
        engine.destroy()
        engine.close()
