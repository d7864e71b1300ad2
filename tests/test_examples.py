"""The quickstart example, run as `pulumi up` runs it, through the engine-protocol harness."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pulumi
import pytest
import yaml
from harness import Engine, is_secret, run_with_mocks, strip_secrets

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


CLOUD_VM = QUICKSTART.parent / "cloud-vm"


class CloudVmMocks(pulumi.runtime.Mocks):
    """Answers as libvirt would: volume paths in the pool, the leased address of the VM."""

    def __init__(self) -> None:
        self.resources: dict[str, pulumi.runtime.MockResourceArgs] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources[args.name] = args
        outputs = dict(args.inputs)
        kind = args.typ.rsplit(":", 1)[-1]
        if kind in ("Volume", "CloudInitDisk"):
            outputs["path"] = f"/pool/{args.inputs['name']}"
            outputs["key"] = outputs["path"]
        if kind == "Domain":
            outputs["ip_addresses"] = [{"mac": "52:54:00:12:34:56", "addresses": ["10.17.3.57"]}]
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def test_cloud_vm_example_with_mocks() -> None:
    import pulumi_libvirt as libvirt
    from pulumi_libvirt.providers import LOGIC

    missing = [name for name in ("Network", "Domain") if not hasattr(libvirt, name)]
    if missing:
        pytest.skip(f"the example uses {' and '.join(missing)}, not on this branch yet")
    mocks = CloudVmMocks()
    exports = run_with_mocks(CLOUD_VM, mocks, {
        "libvirt-cloud-vm:imageUrl": "https://images.example/debian-12-genericcloud.qcow2",
        "libvirt-cloud-vm:sshPublicKey": "ssh-ed25519 AAAAC3Nza example",
    }, stack="dev")
    assert exports == {"ip": "10.17.3.57", "disk_path": "/pool/vm.qcow2"}
    kinds = {name: args.typ.rsplit(":", 1)[-1] for name, args in mocks.resources.items()}
    assert kinds == {"images": "Pool", "base": "Volume", "disk": "Volume",
                     "seed": "CloudInitDisk", "lan": "Network", "vm": "Domain"}
    assert is_secret(mocks.resources["seed"].inputs["user_data"])
    inputs = {name: {k: v for k, v in strip_secrets(args.inputs).items() if k != "__provider"}
              for name, args in mocks.resources.items()}
    for name, kind in kinds.items():  # every resource passes its provider's check
        _checked, problems = LOGIC[kind]().check({}, inputs[name])
        assert problems == [], (name, problems)
    assert inputs["disk"]["backing_store"] == {"path": "/pool/base.qcow2", "format": "qcow2"}
    assert "ssh-ed25519 AAAAC3Nza example" in inputs["seed"]["user_data"]
    devices = inputs["vm"]["devices"]
    cdrom = next(d for d in devices["disks"] if d["device"] == "cdrom")
    assert cdrom["source"] == {"pool": "cloud-vm", "volume": "vm-seed.iso"}
    assert cdrom["target"]["bus"] == "scsi"
    assert devices["controllers"] == [{"type": "scsi", "model": "virtio-scsi"}]
    assert devices["interfaces"][0]["source"] == {"network": "cloud-vm"}


MANY_HOSTS = Path(__file__).resolve().parent.parent / "examples" / "many-hosts"


class _Recorder(pulumi.runtime.Mocks):
    """Mocks that record every resource the program registers."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.resources.append(args)
        return f"{args.name}-id", {**args.inputs, "path": f"/images/{args.inputs.get('name')}"}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


def test_many_hosts_example_places_each_resource_on_its_host() -> None:
    config = yaml.safe_load((MANY_HOSTS / "Pulumi.lab.yaml").read_text())["config"]
    hosts = config["libvirt-many-hosts:hosts"]
    assert len(hosts) == 3 and config["libvirt:timeout"] == "20"
    mocks = _Recorder()
    exports = run_with_mocks(MANY_HOSTS, mocks, config, stack="lab")
    by_name = {r.name: r for r in mocks.resources}
    assert sorted(by_name) == sorted(
        [f"{h['name']}-{kind}" for h in hosts for kind in ("images", "lan", "vm")]
        + [f"{h['name']}-disk{i}" for h in hosts for i in range(2)])
    for host in hosts:
        pool = by_name[f"{host['name']}-images"]
        assert pool.typ == "pulumi-python:dynamic/libvirt:Pool"
        assert pool.inputs["uri"] == host["uri"] and pool.inputs["name"] == "images"
        for i in range(2):
            disk = by_name[f"{host['name']}-disk{i}"].inputs
            assert disk["uri"] == host["uri"] and disk["pool"] == "images"
            assert disk["name"] == f"disk{i}.qcow2"
        assert exports[f"{host['name']}_disk_paths"] == ["/images/disk0.qcow2",
                                                         "/images/disk1.qcow2"]
        lan = by_name[f"{host['name']}-lan"].inputs
        assert lan["uri"] == host["uri"] and lan["forward"] == {"mode": "nat"}
        vm = by_name[f"{host['name']}-vm"].inputs
        assert vm["uri"] == host["uri"] and vm["running"] is True
        assert vm["devices"]["disks"][0]["source"] == {"pool": "images", "volume": "disk0.qcow2"}
        assert vm["devices"]["interfaces"][0]["source"] == {"network": "lan"}


def test_many_hosts_example_on_three_test_hosts(libvirt_hosts, run_prefix: str) -> None:
    """The example as `pulumi up` runs it, over qemu+ssh to three test hosts."""
    hosts = [{"name": f"h{h.index}", "uri": h.ssh_uri} for h in libvirt_hosts.hosts]
    engine = Engine({"libvirt:timeout": "30", "libvirt-many-hosts:hosts": hosts,
                     "libvirt-many-hosts:namePrefix": run_prefix,
                     "libvirt-many-hosts:disksPerHost": "1",
                     "libvirt-many-hosts:lanSubnet": "10.213.250",  # inside each host
                     "libvirt-many-hosts:running": "false"})  # test hosts run no guests
    try:
        result = engine.up(MANY_HOSTS)
        for host in libvirt_hosts.hosts:
            paths = result.exports[f"h{host.index}_disk_paths"]
            assert paths == [f"/var/lib/libvirt/images/{run_prefix}images/{run_prefix}disk0.qcow2"]
            listed = host.run("virsh", "-c", "qemu:///system", "vol-list",
                              f"{run_prefix}images").stdout
            assert f"{run_prefix}disk0.qcow2" in listed
            assert result.exports[f"h{host.index}_bridge"] in host.run("ip", "-o", "link").stdout
        assert engine.preview(MANY_HOSTS).empty
    finally:
        engine.destroy()
    for host in libvirt_hosts.hosts:
        for kind in ("pool", "net", ""):
            names = host.run("virsh", "-c", "qemu:///system", f"{kind}-list".lstrip("-"),
                             "--all", "--name").stdout
            assert run_prefix not in names
