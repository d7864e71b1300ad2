"""What libvirt stores otherwise than the program writes: said at create, adopt and update, and
no diff afterwards while neither the program nor the object changes.

libvirt 9.0 and 11.3 both put the vCPUs a NUMA cell list leaves out into cell 0 (a domain of 2
vcpus with one cell of cpus '0' is stored with cpus '0-1') and both tidy a pool's target path
('/var/tmp//x' is stored as '/var/tmp/x'); no normaliser in xml/policy.py knows either, which
is what any rewrite of a future libvirt looks like. Through the provider host on both daemons,
and on libvirt's test driver, which parses pools as libvirtd does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import libvirt as libvirt_api
import pytest
from conftest import TEST_URI, rewritten_fields, virsh
from harness import Engine
from lxml import etree

import pulumi_libvirt as libvirt
from pulumi_libvirt.connection import run
from pulumi_libvirt.providers import LOGIC, DomainLogic
from pulumi_libvirt.providers.base import INPUT_KEYS, REWRITES

CPUS = "cpu.numa.cells[0].cpus: wrote '0', libvirt stored '0-1'"
RESTART = "changing target takes effect by restarting it"
FIGURES = {"capacity", "allocation", "available"}  # a pool's outputs that are no input


def mark(engine: Engine) -> int:
    """Where the persistent host's stderr ends now."""
    return len(engine.host.stderr) if engine.host else 0


def said(engine: Engine, since: int, text: str, timeout: float = 10.0) -> str:
    """What the persistent host wrote to stderr after ``since``, once ``text`` is among it
    (a thread reads it: a line may land just after the call that wrote it returned)."""
    deadline = time.monotonic() + timeout
    while text not in engine.host.stderr[since:] and time.monotonic() < deadline:
        time.sleep(0.02)
    return engine.host.stderr[since:]


# ---------------------------------------------------------------- a domain's NUMA cell


def numa_program(name: str, cpu: dict | None = None, **extra):
    """A stopped domain of 2 vcpus with one NUMA cell of cpus '0' (and ``cpu``'s keys)."""
    def program() -> None:
        libvirt.Domain("vm", name=name, type="qemu", running=False, vcpu=2,
                       memory={"value": 128, "unit": "MiB"},
                       os={"type": {"value": "hvm", "arch": "x86_64"}},
                       cpu={"numa": {"cells": [{"id": 0, "cpus": "0", "memory": 131072}]},
                            **(cpu or {})},
                       **extra)
    return program


def test_domain_numa_rewrite_is_said_once_and_no_diff(system_uri: str, run_prefix: str) -> None:
    uri, name = system_uri, f"{run_prefix}rw-numa"
    engine = Engine({"libvirt:uri": uri}, persistent_host=True)
    try:
        engine.up(numa_program(name))
        warned = said(engine, 0, CPUS)
        assert f"domain '{name}' on {uri}: libvirt stored some of what" in warned
        assert rewritten_fields(warned) == ["cpu.numa.cells[0].cpus"]
        state = engine.resource("vm")
        assert set(state.internal_outputs()[REWRITES]) == {"cpu"}  # hidden from the CLI
        assert REWRITES not in state.plain_outputs()
        assert state.plain_outputs()["cpu"]["numa"]["cells"][0]["cpus"] == "0-1"

        # The second preview is empty and says why, field by field.
        start = mark(engine)
        assert engine.preview(numa_program(name)).empty
        words = said(engine, start, CPUS)
        assert f"domain '{name}' on {uri}: no change planned" in words
        assert rewritten_fields(words) == ["cpu.numa.cells[0].cpus"]

        # Refresh sees nothing new and keeps the record: still empty.
        assert "vm" not in engine.refresh().changes
        assert engine.preview(numa_program(name)).empty

        # A change elsewhere diffs and updates; the rewritten input is not listed with it.
        described = numa_program(name, description="rewrites")
        assert engine.preview(described).step("vm").changed == ["description"]
        engine.up(described)
        assert "<description>rewrites</description>" in virsh(uri, "dumpxml", "--inactive", name)
        assert engine.preview(described).empty

        # A change inside the rewritten input: applied, rewritten and said again.
        topology = {"topology": {"sockets": 1, "dies": 1, "cores": 2, "threads": 1}}
        changed = numa_program(name, description="rewrites", cpu=topology)
        assert engine.preview(changed).step("vm").changed == ["cpu"]
        start = mark(engine)
        engine.up(changed)
        assert "cores='2'" in virsh(uri, "dumpxml", "--inactive", name)
        words = said(engine, start, "libvirt stored some of what")
        assert rewritten_fields(words) == ["cpu.numa.cells[0].cpus"]  # the update's warning
        assert engine.preview(changed).empty

        # Drift behind our back in the rewritten input still shows, and up undoes it.
        _redefine(uri, name, lambda root: root.find("cpu/numa/cell").set("memory", "262144"))
        drift = engine.refresh().changes["vm"]
        assert drift["cpu"][1]["numa"]["cells"][0]["memory"] == 262144
        start = mark(engine)
        assert engine.preview(changed).step("vm").op == "update"
        words = "cpu.numa.cells.memory, memory change its definition"
        assert words in said(engine, start, words)
        engine.up(changed)
        assert "cpus='0-1' memory='131072'" in virsh(uri, "dumpxml", "--inactive", name)
        assert engine.preview(changed).empty
    finally:
        engine.destroy()
        engine.close()
    assert name not in virsh(uri, "list", "--all", "--name").split()


def test_rewrite_record_of_a_domain_with_a_password_is_secret(system_uri: str,
                                                              run_prefix: str) -> None:
    """The fingerprints cover the input whole, password and all: kept secret in the state,
    like the outputs that hold it."""
    uri, name = system_uri, f"{run_prefix}rw-secret"
    program = numa_program(name, devices={"graphics": [{"type": "vnc", "autoport": True,
                                                        "passwd": "s3cretR1"}]})
    engine = Engine({"libvirt:uri": uri}, persistent_host=True)
    try:
        engine.up(program)
        assert rewritten_fields(said(engine, 0, CPUS)) == ["cpu.numa.cells[0].cpus"]
        assert {"devices", REWRITES} <= engine.secret_outputs("vm")
        start = mark(engine)
        assert engine.preview(program).empty
        assert "s3cret" not in said(engine, start, CPUS)
    finally:
        engine.destroy()
        engine.close()


def _redefine(uri: str, name: str, edit) -> None:
    """Change a domain's definition outside Pulumi."""
    conn = libvirt_api.open(uri)
    try:
        dom = conn.lookupByName(name)
        root = etree.fromstring(dom.XMLDesc(libvirt_api.VIR_DOMAIN_XML_INACTIVE).encode())
        edit(root)
        conn.defineXML(etree.tostring(root, encoding="unicode"))
    finally:
        conn.close()


# ---------------------------------------------------------------- a pool's target path


def pool_program(name: str, path: str, **extra):
    def program() -> None:
        libvirt.Pool("pool", name=name, type="dir", target={"path": path}, **extra)
    return program


def written(path: str) -> str:
    """The path as a program may write it: with a doubled slash libvirt takes out."""
    head, _, tail = path.rpartition("/")
    return f"{head}//{tail}"


def test_pool_path_rewrite_on_create_refresh_drift_and_replace(system_uri: str,
                                                              run_prefix: str,
                                                              shared_dir) -> None:
    uri, name = system_uri, f"{run_prefix}rw-pool"
    stored = str(shared_dir / "pool")
    engine = Engine({"libvirt:uri": uri}, persistent_host=True)
    program = pool_program(name, written(stored))
    try:
        engine.up(program)
        path = f"target.path: wrote '{written(stored)}', libvirt stored '{stored}'"
        assert rewritten_fields(said(engine, 0, path)) == ["target.path"]
        assert engine.preview(program).empty
        # (the filesystem's figures move with whatever else writes to it)
        assert set(engine.refresh().changes.get("pool", {})) <= FIGURES
        assert engine.preview(program).empty

        # Moved behind our back: refresh shows it, the preview plans the update, up undoes it.
        elsewhere = str(shared_dir / "elsewhere")
        subprocess.run(["mkdir", "-p", elsewhere], check=True)
        _redefine_pool(uri, name, elsewhere)
        assert engine.refresh().changes["pool"]["target"][1] == {"path": elsewhere}
        start = mark(engine)
        assert engine.preview(program).step("pool").op == "update"
        assert RESTART in said(engine, start, RESTART)
        engine.up(program)
        assert f"<path>{stored}</path>" in virsh(uri, "pool-dumpxml", "--inactive", name)
        assert engine.preview(program).empty

        # State written before the record existed diffs as before; up records it.
        del engine.resource("pool").outputs[REWRITES]
        start = mark(engine)
        assert engine.preview(program).step("pool").op == "update"
        assert RESTART in said(engine, start, RESTART)
        engine.up(program)
        assert engine.preview(program).empty

        # A replacement (a new name; libvirt wants another directory for it) makes a new
        # pool: said again, then empty.
        renamed = pool_program(f"{name}2", written(str(shared_dir / "pool2")))
        assert engine.preview(renamed).step("pool").op == "replace"
        start = mark(engine)
        engine.up(renamed)
        assert rewritten_fields(said(engine, start, "target.path: wrote")) == ["target.path"]
        assert engine.preview(renamed).empty
    finally:
        engine.destroy()
        engine.close()


def _redefine_pool(uri: str, name: str, path: str) -> None:
    conn = libvirt_api.open(uri)
    try:
        pool = conn.storagePoolLookupByName(name)
        root = etree.fromstring(pool.XMLDesc(libvirt_api.VIR_STORAGE_XML_INACTIVE).encode())
        root.find("target/path").text = path
        conn.storagePoolDefineXML(etree.tostring(root, encoding="unicode"), 0)
    finally:
        conn.close()


def test_adopted_pool_rewrite_is_said_and_no_diff(system_uri: str, run_prefix: str,
                                                 shared_dir) -> None:
    uri, name = system_uri, f"{run_prefix}rw-adopt"
    stored = str(shared_dir / "adopted")
    subprocess.run(["mkdir", "-p", stored], check=True)
    virsh(uri, "pool-define-as", name, "dir", "--target", stored)
    engine = Engine({"libvirt:uri": uri}, persistent_host=True)
    program = pool_program(name, written(stored), adopt=True)
    try:
        engine.up(program)
        path = f"target.path: wrote '{written(stored)}', libvirt stored '{stored}'"
        assert path in said(engine, 0, path)
        assert engine.preview(program).empty
    finally:
        engine.destroy()
        engine.close()
    assert name not in virsh(uri, "pool-list", "--all", "--name").split()


def test_unknown_input_is_never_taken_as_rewritten(tmp_path) -> None:
    """At preview an input that holds an unknown value diffs, whatever the record says."""
    stored = str(tmp_path / "pool")
    engine = Engine({"libvirt:uri": TEST_URI}, persistent_host=True)  # the test driver's
    try:                                                                # pools live in it
        engine.up(pool_program("rw-unknown", written(stored)))
        # the record is secret even for a resource without secrets: an input the program
        # wraps in Output.secret would make only the output of its own name secret
        assert REWRITES in engine.secret_outputs("pool")
        assert engine.preview(pool_program("rw-unknown", written(stored))).empty

        def later() -> None:
            other = libvirt.Pool("other", name="rw-other", type="dir",
                                 target={"path": str(tmp_path / "other")})
            libvirt.Pool("pool", name="rw-unknown", type="dir",
                         target=other.uuid.apply(lambda _: {"path": written(stored)}))

        plan = engine.preview(later)
        assert plan.ops == {"other": "create", "pool": "update"}
        engine.up(later)
        assert engine.preview(later).empty
    finally:
        engine.destroy()
        engine.close()


# ---------------------------------------------------------------- every kind, no libvirt


MINIMAL = {
    "Pool": {"type": "dir", "target": {"path": "/var/tmp/rw"}},
    "Volume": {"pool": "p", "capacity": 1024},
    "Network": {},
    "Domain": {"type": "qemu"},
    "CloudInitDisk": {"pool": "p"},
    "Ignition": {"pool": "p", "config": "{}"},
    "Combustion": {"pool": "p", "script": "#!/bin/sh\n"},
}


@pytest.mark.parametrize("type_name", sorted(LOGIC))
def test_every_kind_records_and_settles_a_rewrite(type_name: str) -> None:
    """The base does it for every kind: a name libvirt stored otherwise (made up here) is
    said with both values, recorded, and no diff while neither side changes; a new value
    written, or drift, diffs again."""
    logic = LOGIC[type_name]("test:///default")
    props = {"name": "Asked", "uri": "test:///default", **MINIMAL[type_name]}
    outs = {**props, "name": "stored", INPUT_KEYS: sorted(props)}
    if type_name in ("CloudInitDisk", "Ignition", "Combustion"):
        outs["content_sha256"] = logic.content_sha256(props)
    outs = logic.record_rewrites(props, outs, "it", "test:///default")
    assert logic.warnings == [
        "it on test:///default: libvirt stored some of what the program wrote otherwise: "
        "name: wrote 'Asked', libvirt stored 'stored'. Write libvirt's values (and leave out "
        "what it dropped) to match it; until then previews plan no change for these fields "
        f"while neither the program nor the {logic.noun} changes"]
    assert set(outs[REWRITES]) == {"name"}
    assert logic.diff(outs, props).changes == ["name"]  # what the engine got without it
    plan = logic.plan(outs, props)
    assert plan.changes == [] and "name: wrote 'Asked', libvirt stored 'stored'" in (
        plan.warnings[0])
    assert logic.plan(outs, {**props, "name": "Other"}).changes == ["name"]
    assert logic.plan({**outs, "name": "drifted"}, props).changes == ["name"]


def test_respelled_input_is_the_same_request() -> None:
    logic = DomainLogic()
    spelled = {"memory": {"value": 2, "unit": "GiB"}}
    assert logic._asked_mark(spelled, "memory") == logic._asked_mark({"memory": 2097152},
                                                                     "memory")
    assert logic._asked_mark(spelled, "memory") != logic._asked_mark({"memory": 2097153},
                                                                      "memory")


def test_credentials_are_never_shown() -> None:
    logic = DomainLogic()
    asked = {"name": "vm", "devices": {"graphics": [{"type": "vnc", "passwd": "s3cretA1"}],
                                       "disk": {"device": "disk", "target": {"dev": "vda"},
                                                "source": {"cookies": {"cookies": [
                                                    {"name": "c", "value": "s3cretC"}]}}}}}
    stored = {"name": "vm", "devices": {"graphics": [{"type": "vnc", "passwd": "s3cretB2"}],
                                        "disk": {"device": "disk", "target": {"dev": "vda"}}}}
    found = logic.rewritten(asked, ["name", "devices"], stored, ["name", "devices"])
    words = "; ".join(r.words() for r in found["devices"])
    assert "devices.graphics[0].passwd: wrote (secret), libvirt stored (secret)" in words
    assert "devices.disk.source" in words
    assert "s3cret" not in words


def test_a_failure_while_recording_leaves_nothing_made(monkeypatch, tmp_path) -> None:
    """Recording belongs to the create: when it fails, the object just made is removed, and
    the error is the user's."""
    logic = LOGIC["Pool"](TEST_URI)
    props = {"name": "rw-fails", "uri": TEST_URI, "type": "dir",
             "target": {"path": str(tmp_path / "pool")}}

    def fails(*_args) -> dict:
        raise RuntimeError("recording failed")

    monkeypatch.setattr(logic, "record_rewrites", fails)
    with pytest.raises(RuntimeError, match="recording failed"):
        logic.create(props)
    names = run(TEST_URI, lambda conn: [p.name() for p in conn.listAllStoragePools()])
    assert "rw-fails" not in names


def test_fingerprints_are_the_same_in_every_process() -> None:
    """Preview and up run in other processes than the create that recorded: the fingerprints
    must not depend on the process (hash seeds, dict order)."""
    props = {"name": "vm", "type": "qemu", "vcpu": 2, "memory": {"value": 2, "unit": "GiB"},
             "cpu": {"numa": {"cells": [{"id": 0, "cpus": "0", "memory": 131072}]}},
             "devices": {"disks": [{"device": "disk", "target": {"dev": "vda", "bus": "virtio"},
                                    "source": {"file": "/var/tmp/a.img"}}],
                         "interfaces": [{"type": "network", "source": {"network": "default"},
                                         "wait_for_ip": True}],
                         "graphics": [{"type": "vnc", "autoport": True}]}}
    code = ("import json, sys; from pulumi_libvirt.providers import DomainLogic; "
            "p = json.loads(sys.argv[1]); l = DomainLogic(); "
            "print(json.dumps([[l._asked_mark(p, k), l._stored_mark(p, k)] for k in sorted(p)]))")
    logic = DomainLogic()
    here = [[logic._asked_mark(props, k), logic._stored_mark(props, k)] for k in sorted(props)]
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code, json.dumps(props)], check=True,
                             capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        assert json.loads(out) == here
