"""Pool types beyond dir: fs on a loop file (both real daemons), logical and netfs (their
model and XML on test:///default; on this machine's kernel they cannot start, and say why)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import pool_names, virsh
from harness import CheckFailed, Engine, ProviderError

import pulumi_libvirt as libvirt

TEST_URI = "test:///default"
MiB = 1024**2


def fs_pool(name: str, image: Path, mount: Path, fs: str, **extra):
    def program() -> None:
        pool = libvirt.Pool("fs", name=name, type="fs",
                            source={"devices": [{"path": str(image)}], "format": fs},
                            target={"path": str(mount)}, **extra)
        libvirt.Volume("vol", name="data.raw", pool=pool.name, capacity=MiB, format="raw")

    return program


@pytest.fixture
def loop_device(make_loop_device) -> Path:
    return make_loop_device(320 * MiB)  # xfs wants 300 MiB at least


@pytest.mark.parametrize("fs", ["ext4", "xfs"])
def test_fs_pool_on_a_loop_device(fs: str, system_uri: str, run_prefix: str, tmp_path: Path,
                                  loop_device: Path) -> None:
    name = f"{run_prefix}fs-{fs}"
    image, mount = loop_device, tmp_path / "mnt"
    engine = Engine({"libvirt:uri": system_uri})
    try:
        result = engine.up(fs_pool(name, image, mount, fs))
        pool = result.outputs["fs"]
        assert pool["running"] is True and pool["capacity"] > 200 * MiB
        blkid = subprocess.run(["blkid", "-o", "value", "-s", "TYPE", str(image)],
                               capture_output=True, text=True).stdout.strip()
        assert blkid == fs  # build made the filesystem
        assert result.outputs["vol"]["path"] == str(mount / "data.raw")
        assert engine.preview(fs_pool(name, image, mount, fs)).empty

        # autostart and mount options change in place: no replacement
        changed = fs_pool(name, image, mount, fs, autostart=True,
                          fs_mount_opts={"option": {"name": "noatime"}})
        assert engine.preview(changed).ops == {"fs": "update", "vol": "same"}
        assert f"pool '{name}': changing fs_mount_opts takes effect by restarting it" in (
            engine.last_stderr)
        engine.up(changed)
        assert "<fs:option name='noatime'/>" in virsh(system_uri, "pool-dumpxml", name)
        assert "Autostart:      yes" in virsh(system_uri, "pool-info", name)
        assert engine.resource("fs").id == pool["uuid"]
        refreshed = engine.refresh()
        assert "fs" not in refreshed.deleted and "vol" not in refreshed.deleted
        assert engine.preview(changed).empty

        engine.destroy()
        assert name not in pool_names(system_uri)

        # The device keeps its filesystem; building again on it is not an error.
        engine.up(fs_pool(name, image, mount, fs))
        assert engine.outputs("fs")["running"] is True
        engine.destroy()
        assert name not in pool_names(system_uri)
    finally:
        engine.destroy()
        engine.close()


def test_fs_pool_refuses_to_overwrite_another_filesystem(
    system_uri: str, run_prefix: str, tmp_path: Path, loop_device: Path
) -> None:
    name = f"{run_prefix}fs-mismatch"
    image = loop_device
    subprocess.run(["mkfs.ext4", "-q", str(image)], check=True)

    def program() -> None:
        libvirt.Pool("fs", name=name, type="fs",
                     source={"devices": [{"path": str(image)}], "format": "xfs"},
                     target={"path": str(tmp_path / "mnt")})

    engine = Engine({"libvirt:uri": system_uri})
    with pytest.raises(ProviderError) as error:
        engine.up(program)
    message = str(error.value)
    assert message.startswith(f"cannot build pool '{name}' on {system_uri}: ")
    assert "does not match the expected format 'xfs'" in message
    assert name not in pool_names(system_uri) and engine.state == {}
    blkid = subprocess.run(["blkid", "-o", "value", "-s", "TYPE", str(image)],
                           capture_output=True, text=True).stdout.strip()
    assert blkid == "ext4"  # untouched


def logical(name: str, device: str, **extra):
    return lambda: libvirt.Pool(
        "vg", name=name, type="logical",
        source={"devices": [{"path": device}], "name": name, "format": "lvm2"},
        target={"path": f"/dev/{name}"}, **extra)


def netfs(name: str, mount: str, **extra):
    return lambda: libvirt.Pool(
        "nfs", name=name, type="netfs",
        source={"hosts": [{"name": "127.0.0.1"}], "dir": {"path": "/exports"},
                "format": "nfs"},
        target={"path": mount}, **extra)


@pytest.mark.parametrize("kind", ["logical", "netfs"])
def test_logical_and_netfs_on_the_test_driver(kind: str, run_prefix: str) -> None:
    name = f"{run_prefix}{kind}"
    program = logical(name, "/dev/sdz") if kind == "logical" else netfs(name, "/mnt/nfs")
    resource = "vg" if kind == "logical" else "nfs"
    engine = Engine({"libvirt:uri": TEST_URI}, persistent_host=True)
    try:
        result = engine.up(program)
        outputs = result.outputs[resource]
        assert outputs["type"] == kind and outputs["running"] is True
        if kind == "logical":
            assert outputs["source"] == {"devices": [{"path": "/dev/sdz"}], "name": name,
                                         "format": "lvm2"}
        else:
            assert outputs["source"]["hosts"] == [{"name": "127.0.0.1"}]
            assert outputs["source"]["dir"] == {"path": "/exports"}
        assert engine.preview(program).empty
        engine.destroy()
    finally:
        engine.close()


def test_netfs_format_is_checked(run_prefix: str) -> None:
    def program() -> None:
        libvirt.Pool("nfs", name=f"{run_prefix}nfs4", type="netfs",
                     source={"hosts": [{"name": "h"}], "dir": {"path": "/x"}, "format": "nfs5"},
                     target={"path": "/mnt/x"})

    with pytest.raises(CheckFailed) as failed:
        Engine({"libvirt:uri": TEST_URI}).preview(program)
    (failure,) = failed.value.failures
    assert failure.property == "source.format"
    assert "got 'nfs5'" in failure.reason and "'nfs'" in failure.reason


def test_logical_pool_on_this_kernel(system_uri: str, run_prefix: str,
                                     loop_device: Path) -> None:
    """LVM2 builds and starts the volume group; logical volumes need the kernel's
    device-mapper, which these machines lack: creating one then fails, saying so."""
    name = f"{run_prefix}vg"
    has_device_mapper = "device-mapper" in Path("/proc/misc").read_text()

    def program() -> None:
        pool = logical(name, str(loop_device), delete_target=True)()
        libvirt.Volume("lv", name="lv1", pool=pool.name, capacity=8 * MiB)

    engine = Engine({"libvirt:uri": system_uri})
    try:
        if has_device_mapper:
            engine.up(program)
            assert engine.outputs("lv")["path"] == f"/dev/{name}/lv1"
        else:
            with pytest.raises(ProviderError) as error:
                engine.up(program)
            message = str(error.value)
            assert message.startswith(
                f"cannot create volume 'lv1' in pool '{name}' on {system_uri}: ")
            assert "device-mapper" in message
            assert list(engine.state) == ["vg"] or [s.name for s in engine.state.values()] == [
                "vg"]
            assert engine.outputs("vg")["running"] is True
    finally:
        engine.destroy()
        engine.close()
    assert name not in pool_names(system_uri)
    groups = subprocess.run(["vgs", "--noheadings", "-o", "vg_name"], capture_output=True,
                            text=True).stdout.split()
    assert name not in groups  # delete_target removed the volume group


def test_netfs_pool_says_what_the_host_lacks(system_uri: str, run_prefix: str,
                                             tmp_path: Path) -> None:
    if "nfs" in Path("/proc/filesystems").read_text().split():
        pytest.skip("this kernel can mount nfs: the failure shown here cannot happen")
    name = f"{run_prefix}nfs"
    engine = Engine({"libvirt:uri": system_uri})
    with pytest.raises(ProviderError) as error:
        engine.up(netfs(name, str(tmp_path)))
    message = str(error.value)
    assert message.startswith(f"cannot start pool '{name}' on {system_uri}: ")
    assert "unknown filesystem type 'nfs'" in message
    assert message.endswith("(netfs pools need the libvirt host's kernel to support the network "
                            "filesystem (nfs, cifs, glusterfs) and its mount helper)")
    assert name not in pool_names(system_uri) and engine.state == {}
