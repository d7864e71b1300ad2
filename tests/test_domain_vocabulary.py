"""Vocabulary newer than a host: ``os.shim`` is in libvirt 11.3's tables (ours), not in 9.0's.

Check accepts it and it round-trips; a libvirt that knows it defines it with an empty second
preview; libvirt 9.0 refuses it at create (schema validation, not a silent drop), the message
names the domain and the host, and nothing is left defined.
"""

from __future__ import annotations

import libvirt as api
import pytest
from domains import domain_names
from harness import Engine, ProviderError

import pulumi_libvirt as libvirt
from pulumi_libvirt import xml
from pulumi_libvirt.providers import DomainLogic

SHIM = "/usr/share/shim/shimx64.efi"


def shim_domain(name: str) -> dict:
    return {"name": name, "type": "qemu", "memory": {"value": 64, "unit": "MiB"},
            "os": {"firmware": "efi", "type": {"value": "hvm", "machine": "q35"},
                   "kernel": "/var/lib/libvirt/boot/vmlinuz", "shim": SHIM},
            "features": {"acpi": True}}


def test_shim_is_checked_and_round_trips() -> None:
    model = shim_domain("shim")
    _inputs, problems = DomainLogic("test:///default").check({}, {**model, "running": False})
    assert problems == []
    text = xml.to_xml("domain", model)
    assert f"<shim>{SHIM}</shim>" in text
    assert xml.differences("domain", xml.from_xml("domain", text), model) == []


def test_shim_on_each_daemon(system_uri: str, run_prefix: str) -> None:
    uri, name = system_uri, f"{run_prefix}shim"
    conn = api.open(uri)
    version = conn.getLibVersion()
    conn.close()

    def program() -> None:
        libvirt.Domain("vm", running=False, **shim_domain(name))

    engine = Engine({"libvirt:uri": uri})
    try:
        if version >= 11_000_000:
            vm = engine.up(program).outputs["vm"]
            assert vm["os"]["shim"] == SHIM
            assert engine.preview(program).empty
            return
        with pytest.raises(ProviderError) as error:
            engine.up(program)
        message = str(error.value)
        assert message.startswith(f"cannot define domain '{name}' on {uri}: XML document "
                                  "failed to validate against schema")
        assert "os" in message
        assert engine.state == {}
        assert name not in domain_names(uri)
    finally:
        engine.destroy()
        engine.close()
