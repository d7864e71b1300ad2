"""UEFI guests with Debian's OVMF: firmware autoselection (plain and secure boot) and an
explicit loader with an NVRAM template; NVRAM kept across a restart for an update (made afresh
with start_options reset_nvram), removed with the domain; no diff on the second preview."""

from __future__ import annotations

import os

import pytest
from daemons import host_path
from domains import domain_id, virsh
from harness import Engine

import pulumi_libvirt as libvirt

SECURE = {"features": [{"name": "secure-boot", "enabled": True},
                       {"name": "enrolled-keys", "enabled": True}]}
NO_SECURE_BOOT = {"features": [{"name": "secure-boot", "enabled": False}]}
# Debian's firmware descriptors put the secure, keys-enrolled build first: plain "efi" gets it.
VARIANTS = {
    "efi": ({"firmware": "efi"}, {"acpi": True}, "OVMF_CODE_4M.ms.fd"),
    "efi-no-secure-boot": ({"firmware": "efi", "firmware_features": NO_SECURE_BOOT},
                           {"acpi": True}, "OVMF_CODE_4M.fd"),
    "secure-boot": ({"firmware": "efi", "firmware_features": SECURE},
                    {"acpi": True, "smm": True}, "OVMF_CODE_4M.ms.fd"),
    "explicit-loader": ({"loader": {"value": "/usr/share/OVMF/OVMF_CODE_4M.fd",
                                    "readonly": True, "type": "pflash"},
                         "nvram": {"template": "/usr/share/OVMF/OVMF_VARS_4M.fd"}},
                        {"acpi": True}, "OVMF_CODE_4M.fd"),
}


# The variant started with start_options reset_nvram: every start copies the template afresh.
RESET_NVRAM = "efi-no-secure-boot"


def uefi_guest(name: str, variant: str, memory: int = 128):
    os_extra, features, _code = VARIANTS[variant]
    options = {"reset_nvram": True} if variant == RESET_NVRAM else None

    def program() -> None:
        libvirt.Domain("vm", name=name, type="qemu", memory={"value": memory, "unit": "MiB"},
                       os={"type": {"value": "hvm", "machine": "q35"}, **os_extra},
                       features=features, devices={"serials": [{"type": "pty"}]},
                       shutdown_timeout=0, start_options=options)

    return program


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_uefi_guest(variant: str, system_uri: str, run_prefix: str) -> None:
    uri, name = system_uri, f"{run_prefix}uefi-{variant}"
    nvram = f"/var/lib/libvirt/qemu/nvram/{name}_VARS.fd"
    engine = Engine({"libvirt:uri": uri})
    try:
        vm = engine.up(uefi_guest(name, variant)).outputs["vm"]
        assert vm["running"] is True
        running = virsh(uri, "dumpxml", name)
        assert f"/usr/share/OVMF/{VARIANTS[variant][2]}</loader>" in running
        assert f"{nvram}</nvram>" in running
        inode = os.stat(host_path(uri, nvram)).st_ino
        assert engine.preview(uefi_guest(name, variant)).empty

        # A change that needs a restart: the same NVRAM file, not a fresh copy of the template
        # (unless start_options ask for one: libvirt writes a new file and renames it over).
        vm = engine.up(uefi_guest(name, variant, memory=160)).outputs["vm"]
        assert vm["domain_id"] == domain_id(uri, name)
        kept = os.stat(host_path(uri, nvram)).st_ino == inode
        assert kept is (variant != RESET_NVRAM)
        assert engine.preview(uefi_guest(name, variant, memory=160)).empty
        if "firmware" in VARIANTS[variant][0]:
            assert "<os firmware='efi'>" in virsh(uri, "dumpxml", "--inactive", name)

        engine.destroy()
        assert not host_path(uri, nvram).exists()  # removed with the domain
    finally:
        engine.destroy()
        engine.close()
