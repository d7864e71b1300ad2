"""Storage pools, volumes, networks and domains spread over several libvirt hosts: one program,
one stack per set of hosts, every resource placed on its host with `uri=`.

Calls to different hosts run side by side; a host that does not answer fails its own resources
within `libvirt:timeout` seconds (`pulumi up --continue-on-error` lets the others finish).
"""

import pulumi

import pulumi_libvirt as libvirt

config = pulumi.Config()
hosts = config.require_object("hosts")  # [{"name": "kvm1", "uri": "qemu+ssh://..."}, ...]
disks_per_host = config.get_int("disksPerHost") or 2
prefix = config.get("namePrefix") or ""
lan = config.get("lanSubnet") or "10.17.3"  # the first three octets of each host's /24
running = config.get_bool("running")
running = True if running is None else running

for host in hosts:
    name, uri = host["name"], host["uri"]
    pool = libvirt.Pool(
        f"{name}-images",
        name=f"{prefix}images",  # the same libvirt name on every host: they are apart
        type="dir",
        target={"path": f"/var/lib/libvirt/images/{prefix}images"},
        delete_target=True,
        uri=uri,
    )
    disks = [
        libvirt.Volume(
            f"{name}-disk{i}",
            name=f"{prefix}disk{i}.qcow2",
            pool=pool.name,
            capacity={"value": 10, "unit": "GiB"},
            format="qcow2",
            uri=uri,
        )
        for i in range(disks_per_host)
    ]
    network = libvirt.Network(
        f"{name}-lan",
        name=f"{prefix}lan",  # hosts are apart: the same name and subnet on each
        forward={"mode": "nat"},
        ips=[{"address": f"{lan}.1", "prefix": 24,
              "dhcp": {"ranges": [{"start": f"{lan}.100", "end": f"{lan}.199"}]}}],
        uri=uri,
    )
    vm = libvirt.Domain(
        f"{name}-vm",
        name=f"{prefix}vm",
        type="kvm",
        memory={"value": 1, "unit": "GiB"},
        vcpu=1,
        os={"type": "hvm"},
        devices={
            "disks": [{"type": "volume", "device": "disk", "driver": {"type": "qcow2"},
                       "source": {"pool": pool.name, "volume": disks[0].name},
                       "target": {"dev": "vda", "bus": "virtio"}}],
            "interfaces": [{"type": "network", "source": {"network": network.name},
                            "model": {"type": "virtio"}}],
        },
        running=running,
        uri=uri,
    )
    pulumi.export(f"{name}_pool_uuid", pool.uuid)
    pulumi.export(f"{name}_vm_uuid", vm.uuid)
    pulumi.export(f"{name}_bridge", network.bridge_name)
    pulumi.export(f"{name}_disk_paths", [disk.path for disk in disks])
