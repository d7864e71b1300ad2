"""A storage pool and a qcow2 volume in it."""

import pulumi

import pulumi_libvirt as libvirt

config = pulumi.Config()
prefix = config.get("namePrefix") or ""
pool_path = config.get("poolPath") or "/var/lib/libvirt/images/quickstart"

pool = libvirt.Pool(
    "quickstart",
    name=f"{prefix}quickstart",
    type="dir",
    target={"path": pool_path},
    autostart=True,
)

disk = libvirt.Volume(
    "disk",
    name=f"{prefix}disk.qcow2",
    pool=pool.name,
    capacity={"value": 1, "unit": "GiB"},
    format="qcow2",
)

pulumi.export("pool_uuid", pool.uuid)
pulumi.export("pool_available_bytes", pool.available)
pulumi.export("disk_path", disk.path)
