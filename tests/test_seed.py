"""CloudInitDisk, Ignition and Combustion: ISO contents, checks at preview, secrets, changes.

The pure parts (ISO building, format checks) run anywhere; the resources run on real
qemu:///system through the provider host (the test driver has no streams), and what they wrote
is read back with `virsh vol-download`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pulumi
import pytest
from harness import CheckFailed, Engine, is_secret

import pulumi_libvirt as libvirt
from pulumi_libvirt import iso, seeds, upload
from pulumi_libvirt.providers import CloudInitDiskLogic

USER_DATA = ("#cloud-config\n# marker: plv-seed-4f1c\npassword: hunter2-s3cret\n"
             "chpasswd: {expire: false}\n")
NETWORK = "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n"
IGNITION = {"ignition": {"version": "3.4.0"},
            "passwd": {"users": [{"name": "core", "passwordHash": "$6$s3cret-ign"}]}}


# --------------------------------------------------------------------------------------------
# Pure: the ISO and the files in it


def test_iso_has_label_joliet_rock_ridge_and_exact_names() -> None:
    import io

    import pycdlib

    files = {"user-data": b"#cloud-config\n", "meta-data": b"", "network-config": b"x: 1\n",
             "combustion/script": b"#!/bin/sh\n"}
    data = iso.build_iso("cidata", files, executable=["combustion/script"])
    label, read = iso.read_iso(data)
    assert (label, read) == ("cidata", files)
    reader = pycdlib.PyCdlib()
    reader.open_fp(io.BytesIO(data))
    try:
        assert reader.has_joliet() and reader.has_rock_ridge()
        joliet = sorted(c.file_identifier().decode("utf-16-be")
                        for c in reader.list_children(joliet_path="/") if c.is_file())
        assert joliet == ["meta-data", "network-config", "user-data"]
        script = reader.get_record(rr_path="/combustion/script")
        assert script.rock_ridge.get_file_mode() & 0o111
    finally:
        reader.close()


def test_empty_user_data_still_yields_both_required_files() -> None:
    files = seeds.cloud_init_files(None, None, None, None, None)
    assert set(files) == {"user-data", "meta-data"} and files["user-data"] == b""
    assert files["meta-data"].startswith(b"instance-id: iid-")
    label, read = iso.read_iso(iso.build_iso("cidata", files))
    assert label == "cidata" and read == files


def test_default_meta_data_instance_id_follows_the_contents() -> None:
    one = seeds.cloud_init_files("a", None, None, None, "web")
    two = seeds.cloud_init_files("b", None, None, None, "web")
    assert one["meta-data"] != two["meta-data"]
    assert one["meta-data"].decode().endswith("local-hostname: web\n")
    assert seeds.cloud_init_files("a", None, None, None, "web") == one  # stable
    # dicts hash the same whatever their key order
    assert seeds.content_hash("x", {"m": {"a": 1, "b": 2}}) == \
        seeds.content_hash("x", {"m": {"b": 2, "a": 1}})


def problems(logic, **news) -> dict[str, str]:
    _inputs, found = logic.check({}, {"name": "seed.iso", "pool": "p", **news})
    return {p.path: p.message for p in found}


@pytest.mark.parametrize("field, value, expected", [
    ("user_data", "#cloud-config\nusers:\n  - name: a\n s3cret: [\n",
     "#cloud-config is not valid YAML at line 4, column 2: "),
    ("user_data", "#cloud-config\n- s3cret\n",
     "#cloud-config must be a YAML mapping (key: value lines), got a list"),
    ("vendor_data", "#cloud-config\na: b: s3cret\n",
     "#cloud-config is not valid YAML at line 2, column 5: mapping values are not allowed here"),
    ("network_config", "ethernets: {}\n", "needs a 'version': 1 or 2"),
    ("network_config", {"version": 3}, "version must be 1 or 2, got 3"),
    ("network_config", "version: [\n", "network-config is not valid YAML at line 2"),
    ("meta_data", "- a\n", "meta-data must be a YAML mapping"),
    ("hostname", "web_1", "'web_1' is not a valid host name"),
    ("user_data", 3, "expected a string, got int"),
])
def test_cloud_init_checks_name_the_field_and_line_never_the_content(field, value,
                                                                    expected) -> None:
    found = problems(CloudInitDiskLogic(), **{field: value})
    assert expected in found[field]
    assert "s3cret" not in found[field]


def test_good_cloud_init_inputs_pass() -> None:
    assert problems(CloudInitDiskLogic(), user_data=USER_DATA, network_config=NETWORK,
                    meta_data={"instance-id": "i-1"}) == {}
    assert problems(CloudInitDiskLogic(), user_data="#!/bin/sh\necho {not yaml: [") == {}
    assert problems(CloudInitDiskLogic(), user_data="", hostname="web-1.example") == {}
    assert problems(CloudInitDiskLogic(),
                    network_config={"network": {"version": 1, "config": []}}) == {}
    assert "hostname" in problems(CloudInitDiskLogic(), hostname="a", meta_data="x: 1")


def test_ignition_and_combustion_checks() -> None:
    from pulumi_libvirt.providers import CombustionLogic, IgnitionLogic

    ign = IgnitionLogic()
    assert problems(ign, config=IGNITION) == {}
    assert problems(ign, config=json.dumps(IGNITION)) == {}
    assert problems(ign) == {"config": "required: the Ignition config (JSON text or a dict)"}
    assert problems(ign, config='{"ignition": {"version": "3.4.0"}, "s3cret": }') == {
        "config": "not valid JSON at line 1, column 46: Expecting value"}
    assert "needs ignition.version" in problems(ign, config={"passwd": {}})["config"]
    assert "ignition.version must look like '3.4.0', got 3" in problems(
        ign, config={"ignition": {"version": 3}})["config"]
    comb = CombustionLogic()
    assert problems(comb, script="#!/bin/bash\n# combustion: network\necho hi\n") == {}
    assert "must start with an interpreter line" in problems(comb, script="echo s3cret")["script"]
    assert "needs ignition.version" in problems(comb, script="#!/bin/sh\n", ignition={})[
        "ignition"]


def test_bytes_source_streams_memory_in_chunks() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    src = upload.BytesSource(data, "the contents of seed", chunk_size=256 * 1024)
    assert src.size == len(data) and src.format == "raw"
    assert b"".join(src._items()) == data
    assert upload.BytesSource(iso.build_iso("cidata", {"a": b""})).format == "iso"


# --------------------------------------------------------------------------------------------
# On qemu:///system, through the provider host


def download(uri: str, pool: str, volume: str, tmp_path: Path) -> bytes:
    out = tmp_path / f"{volume}.downloaded"
    subprocess.run(["virsh", "-c", uri, "vol-download", "--pool", pool, volume, str(out)],
                   check=True, capture_output=True)
    return out.read_bytes()


@pytest.fixture
def engine(system_uri: str):
    engine = Engine({"libvirt:uri": system_uri})
    yield engine
    engine.destroy()
    engine.close()


@pytest.fixture
def pool_name(run_prefix: str, request) -> str:
    return f"{run_prefix}seed-{request.node.name[5:25]}"


def seed_program(pool_name: str, pool_dir: Path, resource=libvirt.CloudInitDisk,
                 name: str = "seed.iso", **inputs):
    def program() -> None:
        pool = libvirt.Pool("images", name=pool_name, type="dir",
                            target={"path": str(pool_dir)})
        seed = resource("seed", name=name, pool=pool.name, **inputs)
        pulumi.export("path", seed.path)

    return program


def test_cloud_init_disk_reads_back_byte_exact_and_stays_secret(
    engine, system_uri, pool_name, tmp_path
) -> None:
    program = seed_program(pool_name, tmp_path / "pool", user_data=USER_DATA,
                           network_config=NETWORK, hostname="web-1")
    assert engine.preview(program).ops == {"images": "create", "seed": "create"}
    result = engine.up(program)
    label, files = iso.read_iso(download(system_uri, pool_name, "seed.iso", tmp_path))
    assert label == "cidata"
    assert files["user-data"] == USER_DATA.encode()
    assert files["network-config"] == NETWORK.encode()
    meta = files["meta-data"].decode()
    assert meta.startswith("instance-id: iid-") and meta.endswith("local-hostname: web-1\n")
    assert files == seeds.cloud_init_files(USER_DATA, None, NETWORK, None, "web-1")  # exact
    assert result.exports["path"] == str(tmp_path / "pool" / "seed.iso")

    state = engine.resource("seed")
    assert is_secret(state.inputs["user_data"]) and is_secret(state.outputs["user_data"])
    assert {"user_data", "content_sha256", "image_sha256"} <= state.secret_outputs()
    assert "hostname" not in state.secret_outputs()
    secret_free = json.dumps({k: v for k, v in state.outputs.items() if not is_secret(v)},
                             default=str)
    assert "hunter2" not in secret_free and "plv-seed-4f1c" not in secret_free
    assert "hunter2" not in engine.last_stderr and "plv-seed-4f1c" not in engine.last_stderr

    assert engine.preview(program).empty
    refresh = engine.refresh()
    assert refresh.changes.get("seed", {}) == {} and not refresh.deleted
    assert engine.preview(program).empty


def test_empty_user_data_on_the_host(engine, system_uri, pool_name, tmp_path) -> None:
    for user_data in ("", None):  # empty, and not given at all
        engine.up(seed_program(pool_name, tmp_path / "pool", user_data=user_data))
        label, files = iso.read_iso(download(system_uri, pool_name, "seed.iso", tmp_path))
        assert label == "cidata" and set(files) == {"user-data", "meta-data"}
        assert files["user-data"] == b"" and files["meta-data"].startswith(b"instance-id: iid-")


def test_content_change_rewrites_the_same_volume(engine, system_uri, pool_name,
                                                 tmp_path) -> None:
    big = USER_DATA + "# " + "x" * 200_000 + "\n"
    engine.up(seed_program(pool_name, tmp_path / "pool", user_data=big))
    before = engine.outputs("seed")
    inode = (tmp_path / "pool" / "seed.iso").stat().st_ino

    smaller = seed_program(pool_name, tmp_path / "pool", user_data=USER_DATA,
                           meta_data={"instance-id": "web-1", "local-hostname": "web"})
    step = engine.preview(smaller).step("seed")
    assert step.op == "update" and set(step.changed) == {"user_data", "meta_data"}
    engine.up(smaller)
    after = engine.outputs("seed")
    assert after["key"] == before["key"] and after["capacity"] == before["capacity"]
    assert (tmp_path / "pool" / "seed.iso").stat().st_ino == inode  # written in place
    label, files = iso.read_iso(download(system_uri, pool_name, "seed.iso", tmp_path))
    assert files["user-data"] == USER_DATA.encode()
    assert json.loads(files["meta-data"]) == {"instance-id": "web-1", "local-hostname": "web"}
    assert engine.preview(smaller).empty

    # A bigger image grows the volume, still in place.
    engine.up(seed_program(pool_name, tmp_path / "pool", user_data=big + big))
    assert engine.outputs("seed")["capacity"] > before["capacity"]
    assert engine.outputs("seed")["key"] == before["key"]
    _label, files = iso.read_iso(download(system_uri, pool_name, "seed.iso", tmp_path))
    assert files["user-data"] == (big + big).encode()

    renamed = seed_program(pool_name, tmp_path / "pool", name="other.iso", user_data=big + big)
    assert engine.preview(renamed).step("seed").op == "replace"


def test_refresh_notices_a_seed_changed_outside_pulumi(engine, system_uri, pool_name,
                                                       tmp_path) -> None:
    program = seed_program(pool_name, tmp_path / "pool", user_data=USER_DATA)
    engine.up(program)
    path = tmp_path / "pool" / "seed.iso"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one byte behind Pulumi's back
    tampered = tmp_path / "tampered.iso"
    tampered.write_bytes(bytes(data))
    subprocess.run(["virsh", "-c", system_uri, "vol-upload", "--pool", pool_name, "seed.iso",
                    str(tampered)], check=True, capture_output=True)
    assert engine.preview(program).empty  # nothing known yet
    refresh = engine.refresh()
    assert "content_sha256" in refresh.changes["seed"]
    assert engine.preview(program).step("seed").op == "update"
    engine.up(program)
    assert engine.preview(program).empty
    assert engine.refresh().changes.get("seed", {}) == {}


def test_bad_inputs_fail_at_preview(engine, pool_name, tmp_path) -> None:
    def program() -> None:
        libvirt.CloudInitDisk("seed", name="seed.iso", pool=pool_name,
                              user_data=pulumi.Output.secret("#cloud-config\nusers: [s3cret\n"),
                              network_config="version: 7\n")

    with pytest.raises(CheckFailed) as failed:
        engine.preview(program)
    reasons = {f.property: f.reason for f in failed.value.failures}
    assert reasons["user_data"].startswith("#cloud-config is not valid YAML at line 3")
    assert reasons["network_config"] == "version must be 1 or 2, got 7"
    assert "s3cret" not in str(failed.value)


def test_ignition_config_in_a_raw_volume(engine, system_uri, pool_name, tmp_path) -> None:
    program = seed_program(pool_name, tmp_path / "pool", resource=libvirt.Ignition,
                           name="core.ign", config=IGNITION)
    engine.up(program)
    written = download(system_uri, pool_name, "core.ign", tmp_path)
    assert json.loads(written) == IGNITION
    assert {"config", "content_sha256"} <= engine.secret_outputs("seed")
    assert "s3cret-ign" not in engine.last_stderr
    assert engine.preview(program).empty

    smaller = {"ignition": {"version": "3.4.0"}}
    engine.up(seed_program(pool_name, tmp_path / "pool", resource=libvirt.Ignition,
                           name="core.ign", config=json.dumps(smaller)))
    written = download(system_uri, pool_name, "core.ign", tmp_path)
    assert json.loads(written) == smaller  # padded with spaces: still one JSON document
    assert written.startswith(json.dumps(smaller).encode()) and not written.strip(b" ").endswith(
        b" ")


def test_combustion_iso(engine, system_uri, pool_name, tmp_path) -> None:
    script = "#!/bin/bash\n# combustion: network\necho 'root:s3cret' | chpasswd\n"
    engine.up(seed_program(pool_name, tmp_path / "pool", resource=libvirt.Combustion,
                           name="micro.iso", script=script, ignition=IGNITION))
    label, files = iso.read_iso(download(system_uri, pool_name, "micro.iso", tmp_path))
    assert label == "combustion"
    assert files["combustion/script"] == script.encode()
    assert json.loads(files["ignition/config.ign"]) == IGNITION
    assert {"script", "ignition"} <= engine.secret_outputs("seed")


def test_adopt_rewrites_an_existing_volume(engine, system_uri, pool_name, tmp_path) -> None:
    engine.up(seed_program(pool_name, tmp_path / "pool", user_data=USER_DATA))
    engine.state.pop(next(u for u in engine.state if u.endswith("::seed")))  # forget it
    again = seed_program(pool_name, tmp_path / "pool", user_data="#cloud-config\n{}\n",
                         adopt=True)
    engine.up(again)
    _label, files = iso.read_iso(download(system_uri, pool_name, "seed.iso", tmp_path))
    assert files["user-data"] == b"#cloud-config\n{}\n"
    assert engine.preview(again).empty
