"""A whole VM from a cloud image: pool, base image, overlay disk, cloud-init seed, NAT network
and domain; exports the address the VM leased.

    pulumi config set imageUrl https://…/debian-12-genericcloud-amd64.qcow2
    pulumi config set imageSha256 …        # optional, checked while the image streams
    pulumi config set sshPublicKey "$(cat ~/.ssh/id_ed25519.pub)"
    pulumi up                               # waits until the VM has leased an address
    ssh debian@$(pulumi stack output ip)
"""

import pulumi

import pulumi_libvirt as libvirt

config = pulumi.Config()
prefix = config.get("namePrefix") or ""
net = config.get("subnet") or "10.17.3"
ssh_key = config.get("sshPublicKey") or ""

pool = libvirt.Pool(
    "images",
    name=f"{prefix}cloud-vm",
    type="dir",
    target={"path": config.get("poolPath") or "/var/lib/libvirt/images/cloud-vm"},
)

# The image is downloaded once, streamed straight into the volume.
base = libvirt.Volume(
    "base",
    name=f"{prefix}base.qcow2",
    pool=pool.name,
    format="qcow2",
    source={"url": config.require("imageUrl"), "sha256": config.get("imageSha256") or None},
)

# The VM writes to a copy-on-write overlay; the base stays pristine for other VMs.
disk = libvirt.Volume(
    "disk",
    name=f"{prefix}vm.qcow2",
    pool=pool.name,
    format="qcow2",
    capacity={"value": config.get_int("diskGiB") or 20, "unit": "GiB"},
    backing_store={"path": base.path, "format": "qcow2"},
)

user_data = "#cloud-config\n" + (f"ssh_authorized_keys:\n  - {ssh_key}\n" if ssh_key else "")
seed = libvirt.CloudInitDisk(
    "seed",
    name=f"{prefix}vm-seed.iso",
    pool=pool.name,
    user_data=user_data,  # kept secret in the state
    hostname="vm",
    network_config={"version": 2, "ethernets": {
        "nic": {"match": {"name": "en*"}, "dhcp4": True}}},
)

lan = libvirt.Network(
    "lan",
    name=f"{prefix}cloud-vm",
    forward={"mode": "nat"},
    ips=[{
        "address": f"{net}.1",
        "prefix": 24,
        "dhcp": {"ranges": [{"start": f"{net}.10", "end": f"{net}.200"}]},
    }],
    autostart=True,
)

vm = libvirt.Domain(
    "vm",
    name=f"{prefix}vm",
    # kvm, or qemu (emulated) where the host has no usable KVM: a choice between literals,
    # so that a type checker knows the value is one libvirt takes
    type="qemu" if config.get("domainType") == "qemu" else "kvm",
    memory={"value": 2, "unit": "GiB"},
    vcpu=2,
    os={"type": {"value": "hvm", "machine": "q35"}},
    features={"acpi": True},
    devices={
        "controllers": [{"type": "scsi", "model": "virtio-scsi"}],
        "disks": [
            {"type": "volume", "device": "disk", "driver": {"name": "qemu", "type": "qcow2"},
             "source": {"pool": pool.name, "volume": disk.name},
             "target": {"dev": "vda", "bus": "virtio"}},
            {"type": "volume", "device": "cdrom", "driver": {"name": "qemu", "type": "raw"},
             "source": {"pool": pool.name, "volume": seed.name},
             "target": {"dev": "sda", "bus": "scsi"}, "readonly": True},
        ],
        "interfaces": [{"type": "network", "source": {"network": lan.name},
                        "model": {"type": "virtio"}, "wait_for_ip": True}],
        "serials": [{"type": "pty"}],
        "consoles": [{"type": "pty", "target": {"type": "serial"}}],
    },
    running=True,
    autostart=True,
)

# ip_addresses: per interface, {"mac": ..., "addresses": [...]}; the first NIC's first address.
pulumi.export("ip", vm.ip_addresses.apply(lambda nics: nics[0]["addresses"][0]))
pulumi.export("disk_path", disk.path)
