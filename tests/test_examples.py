"""The quickstart example, run as `pulumi up` runs it, through the engine-protocol harness."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from harness import Engine

QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart"


def dev_stack_config() -> dict:
    return yaml.safe_load((QUICKSTART / "Pulumi.dev.yaml").read_text())["config"]


def test_quickstart_dev_stack_needs_no_setup(run_prefix: str) -> None:
    config = dev_stack_config()
    assert config["libvirt:uri"] == "test:///default"
    engine = Engine({**config, "libvirt-quickstart:namePrefix": run_prefix}, persistent_host=True)
    try:
        assert engine.preview(QUICKSTART).ops == {"quickstart": "create", "disk": "create"}
        result = engine.up(QUICKSTART)
        pool_path = "/var/lib/libvirt/images/quickstart"  # the project's default poolPath
        assert result.exports["disk_path"] == f"{pool_path}/{run_prefix}disk.qcow2"
        assert engine.preview(QUICKSTART).empty
        engine.destroy()
    finally:
        engine.close()


def test_quickstart_on_qemu_system(system_uri: str, run_prefix: str, tmp_path: Path) -> None:
    engine = Engine({
        "libvirt:uri": system_uri,  # what `pulumi config set libvirt:uri qemu:///system` sets
        "libvirt-quickstart:namePrefix": run_prefix,
        "libvirt-quickstart:poolPath": str(tmp_path / "pool"),
    })
    result = engine.up(QUICKSTART)
    disk = tmp_path / "pool" / f"{run_prefix}disk.qcow2"
    assert result.exports["disk_path"] == str(disk)
    assert result.exports["pool_available_bytes"] > 0
    info = subprocess.run(["qemu-img", "info", str(disk)], capture_output=True, text=True,
                          check=True).stdout
    assert "virtual size: 1 GiB" in info and "file format: qcow2" in info
    assert engine.preview(QUICKSTART).empty
    engine.destroy()
    assert not disk.exists()
    pools = subprocess.run(["virsh", "-c", system_uri, "pool-list", "--all", "--name"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert f"{run_prefix}quickstart" not in pools
