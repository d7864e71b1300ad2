"""The vocabulary through the provider host, on a real libvirt: a list written one item at a
time, libvirt's schema validation on define and create, and a field of the tables (libvirt
11.3) that the host's libvirt does not know."""

from __future__ import annotations

from pathlib import Path

import libvirt as libvirt_api
import pytest
from conftest import pool_names, virsh
from harness import CheckFailed, Engine, ProviderError

import pulumi_libvirt as libvirt
from pulumi_libvirt import xml

MiB = 1024**2
TEST_URI = "test:///default"


def test_one_device_written_alone(system_uri: str, run_prefix: str, tmp_path: Path,
                                  make_loop_device) -> None:
    """``source={"device": {...}}`` is one item of ``source.devices``: the pool is made from
    it, its output keeps that shape, and neither a second preview nor a refresh shows a
    change; another device is a change of ``source``."""
    name, device = f"{run_prefix}one-device", make_loop_device(64 * MiB)
    mount = tmp_path / "mnt"

    def program(path: Path = device):
        return lambda: libvirt.Pool("fs", name=name, type="fs",
                                    source={"device": {"path": str(path)}, "format": "ext4"},
                                    target={"path": str(mount)})

    engine = Engine({"libvirt:uri": system_uri})
    try:
        outputs = engine.up(program()).outputs["fs"]
        assert outputs["source"] == {"device": {"path": str(device)}, "format": "ext4"}
        assert f"<device path='{device}'/>" in virsh(system_uri, "pool-dumpxml", name)
        assert engine.preview(program()).empty
        refreshed = engine.refresh()
        assert refreshed.deleted == [] and "source" not in refreshed.changes.get("fs", {})
        assert engine.outputs("fs")["source"] == outputs["source"]
        assert engine.preview(program()).empty
        other = make_loop_device(64 * MiB)
        assert engine.preview(program(other)).ops == {"fs": "update"}
    finally:
        engine.destroy()
        engine.close()
    assert name not in pool_names(system_uri)


def test_one_item_errors_name_the_key_as_written(run_prefix: str) -> None:
    def program() -> None:
        libvirt.Pool("fs", name=f"{run_prefix}bad", type="fs", target={"path": "/mnt/x"},
                     source={"device": [{"path": "/dev/a"}], "host": {"nmae": "h"}})

    with pytest.raises(CheckFailed) as failed:
        Engine({"libvirt:uri": TEST_URI}).preview(program)
    reasons = {f.property: f.reason for f in failed.value.failures}
    assert reasons == {
        "source.device": "expected one item, got a list (several go under 'devices')",
        "source.host.nmae": "unknown key 'nmae'; did you mean 'name'?",
    }


@pytest.mark.parametrize("uri", ["system", "test"])
def test_a_pool_element_libvirt_does_not_allow_is_refused_at_create(
    uri: str, system_uri: str, run_prefix: str, tmp_path: Path
) -> None:
    """libvirt's schema allows <refresh> on rbd pools only. Defined with libvirt's validation,
    a dir pool with one fails with libvirt's reason instead of being kept to no effect."""
    uri = system_uri if uri == "system" else TEST_URI
    name = f"{run_prefix}refresh"

    def program() -> None:
        libvirt.Pool("dir", name=name, type="dir", target={"path": str(tmp_path / "p")},
                     refresh={"volume": {"allocation": "capacity"}})

    engine = Engine({"libvirt:uri": uri}, persistent_host=uri == TEST_URI)
    try:
        engine.preview(program)  # the tables know <refresh>: check accepts it
        with pytest.raises(ProviderError) as error:
            engine.up(program)
        message = str(error.value)
        assert message.startswith(f"cannot define pool '{name}' on {uri}: XML document failed "
                                  "to validate against schema")
        assert "Element pool has extra content: refresh" in message
        assert engine.state == {}
        if uri != TEST_URI:
            assert name not in pool_names(uri)
    finally:
        engine.destroy()
        engine.close()


ENCRYPTED = {"format": "luks", "secrets": [
    {"type": "passphrase", "uuid": "6695eb01-f6a4-8304-79aa-97f2502e193f"},
    {"type": "passphrase", "uuid": "8e2f0c4a-52d1-4c5e-9a0c-6f1d2b3c4d5e"},
]}


def test_a_field_newer_than_the_hosts_libvirt_fails_at_create(
    system_uri: str, run_prefix: str, tmp_path: Path
) -> None:
    """Several encryption secrets (layered encryption, libvirt 9.3 and newer) are in the
    tables: check accepts them and the core writes and reads them; a libvirt older than
    9.3 refuses the volume at create, with its reason, the volume and the host named, and
    leaves nothing behind. Storage pools have no such field: storagepool.rng is the same in
    libvirt 9.0 and 11.3."""
    conn = libvirt_api.open(system_uri)
    try:
        version = conn.getLibVersion()
    finally:
        conn.close()
    if version >= 9_003_000:
        pytest.skip(f"libvirt {version} on {system_uri} knows layered encryption (9.3.0 and "
                    "newer): this shows a host older than the field")
    pool_name = f"{run_prefix}enc"
    model = {"name": "enc.img", "capacity": MiB, "target": {"format": "raw",
                                                            "encryption": ENCRYPTED}}
    assert xml.check("volume", model) == []
    text = xml.to_xml("volume", model)
    assert text.count("<secret ") == 2
    assert xml.from_xml("volume", text)["target"]["encryption"] == ENCRYPTED

    def program() -> None:
        pool = libvirt.Pool("pool", name=pool_name, type="dir",
                            target={"path": str(tmp_path / "pool")})
        libvirt.Volume("vol", name="enc.img", pool=pool.name, capacity=MiB, format="raw",
                       target={"encryption": ENCRYPTED})

    engine = Engine({"libvirt:uri": system_uri})
    try:
        engine.preview(program)
        with pytest.raises(ProviderError) as error:
            engine.up(program)
        message = str(error.value)
        assert message.startswith(f"cannot create volume 'enc.img' in pool '{pool_name}' on "
                                  f"{system_uri}: XML document failed to validate against "
                                  "schema")
        assert "Element target failed to validate content" in message
        assert [step.name for step in engine.state.values()] == ["pool"]
        assert virsh(system_uri, "vol-list", "--pool", pool_name).count(".img") == 0
    finally:
        engine.destroy()
        engine.close()
    assert pool_name not in pool_names(system_uri)
