"""Domain logic without a daemon: how changes are classified and said, libvirt's spellings,
credentials, and the resource class's secret outputs."""

from __future__ import annotations

import asyncio

import pulumi
import pytest

from pulumi_libvirt import Domain, xml
from pulumi_libvirt.providers import DomainLogic
from pulumi_libvirt.providers.domain import changes


def vm(**keys) -> dict:
    return {"name": "web", "type": "kvm", "memory": {"value": 1, "unit": "GiB"},
            "os": {"type": {"value": "hvm", "machine": "q35"}}, **keys}


def disk(dev: str, bus: str | None = None, device: str = "disk", file: str = "/a.img") -> dict:
    target = {"dev": dev, **({"bus": bus} if bus else {})}
    return {"type": "file", "device": device, "source": {"file": file}, "target": target}


def modes(old: dict, new: dict) -> dict[str, str]:
    return {c.words: c.mode for c in changes.classify(old, new)}


def test_device_changes_are_matched_by_identity_and_classified() -> None:
    old = vm(devices={"disks": [disk("vda", "virtio"), disk("hdc", device="cdrom")]})
    new = vm(devices={"disks": [disk("hdc", device="cdrom", file="/b.iso"),
                                disk("vdb", "virtio"), disk("sdb", "sata")]})
    assert modes(old, new) == {
        "disk 'hdc' (source.file)": "live",  # a media change
        "disk 'vdb' (added)": "live",
        "disk 'sdb' (added)": "reboot",  # SATA cannot hot-plug
        "disk 'vda' (removed)": "live",
    }
    # Another file behind a plain disk is not a media change.
    assert modes(vm(devices={"disks": [disk("vda", "virtio")]}),
                 vm(devices={"disks": [disk("vda", "virtio", file="/c.img")]})) == {
        "disk 'vda' (source.file)": "reboot"}


def test_fields_follow_the_policy_table() -> None:
    old = vm(vcpu={"value": 4, "current": 2}, current_memory={"value": 512, "unit": "MiB"})
    new = vm(vcpu={"value": 4, "current": 3}, current_memory={"value": 768, "unit": "MiB"},
             title="web server")
    assert modes(old, new) == {"current_memory": "live", "title": "live",
                               "vcpu.current": "live"}
    assert modes(old, {**old, "memory": {"value": 2, "unit": "GiB"}}) == {"memory": "reboot"}
    # Fewer online vcpus needs the guest to release one: a restart, not an unplug request.
    assert modes(new, old) == {"current_memory": "live", "title": "live",
                               "vcpu.current": "reboot"}
    assert modes(vm(vcpu={"value": 4}), vm(vcpu={"value": 4, "current": 1})) == {
        "vcpu.current": "reboot"}
    assert modes(vm(vcpu={"value": 4, "current": 1}), vm(vcpu={"value": 4})) == {
        "vcpu.current": "live"}
    assert modes(old, {**old, "type": "qemu"}) == {"type": "replace"}
    graphics = [{"type": "vnc", "passwd": "one"}]
    assert modes(vm(devices={"graphics": graphics}),
                 vm(devices={"graphics": [{"type": "vnc", "passwd": "two"}]})) == {
        "graphics 'vnc' (passwd)": "live"}
    assert modes(vm(devices={"graphics": graphics}),
                 vm(devices={"graphics": [{"type": "vnc", "passwd": "one",
                                           "keymap": "de"}]})) == {
        "graphics 'vnc' (keymap)": "reboot"}


def test_preview_words() -> None:
    logic = DomainLogic("test:///default")
    olds = {**vm(current_memory={"value": 512, "unit": "MiB"}), "running": True,
            "uri": "test:///default",
            "__input_keys": ["current_memory", "memory", "name", "os", "running", "type"]}
    news = {**vm(current_memory={"value": 768, "unit": "MiB"}), "running": True,
            "memory": {"value": 2, "unit": "GiB"}}
    result = logic.diff(olds, news)
    assert result.summary() == ("changing current_memory applies live; changing memory takes "
                                "effect by restarting it")
    result = logic.diff(olds, {**news, "reboot_for_updates": False})
    assert result.summary() == ("changing current_memory applies live; changing memory waits "
                                "for the next boot (reboot_for_updates is false)")
    result = logic.diff({**olds, "running": False}, news)
    assert result.summary() == ("the domain is stopped: current_memory, memory change its "
                                "definition; starts it")
    result = logic.diff(olds, {**vm(current_memory={"value": 512, "unit": "MiB"}),
                               "running": False})
    assert result.changes == ["running"] and result.summary() == "stops it"
    result = logic.diff(olds, {**news, "type": "qemu"})
    assert result.replaces == ["type"] and result.delete_before_replace


def test_libvirt_spellings_are_not_changes() -> None:
    spice = {"type": "spice", "port": -1, "tls_port": -1, "autoport": True}
    channel = {"type": "unix", "sources": [{"mode": "bind"}],
               "target": {"type": "virtio", "name": "org.qemu.guest_agent.0"}}
    user = vm(devices={"graphics": [spice], "channels": [channel],
                       "consoles": [{"type": "pty", "target": {"type": "virtio"}}]})
    live = vm(devices={
        "graphics": [{"type": "spice", "autoport": True, "listens": [{"type": "address"}]}],
        "channels": [{"type": "unix", "target": channel["target"],
                      "address": {"type": "virtio-serial", "port": 1}}],
        "consoles": [{"type": "pty", "target": {"type": "serial", "port": 0}},
                     {"type": "pty", "target": {"type": "virtio", "port": 0}}],
        "controllers": [{"type": "usb", "index": 0, "model": "qemu-xhci"}],
    })
    live["os"] = {"type": {"value": "hvm", "machine": "pc-q35-7.2", "arch": "x86_64"}}
    live["memory"] = {"value": 1048576, "unit": "KiB"}
    projected = xml.project("domain", live, user)
    assert projected == user  # the user's own spelling, where it means the same
    assert xml.differences("domain", projected, user) == []
    # All vcpus online: libvirt writes no current=.
    assert xml.differences("domain", xml.project("domain", {"vcpu": {"value": 2}},
                                                 {"vcpu": {"value": 2, "current": 2}}),
                           {"vcpu": {"value": 2, "current": 2}}) == []


def test_credentials_are_secret_outputs_and_never_echoed() -> None:
    with_password = vm(devices={"graphics": [{"type": "vnc", "passwd": "s3cret"}]})
    assert DomainLogic.secret_inputs(with_password) == ["devices"]
    assert DomainLogic.secret_inputs(vm(devices={"graphics": [{"type": "vnc"}]})) == []
    cookies = vm(devices={"disks": [{"type": "network", "device": "disk",
                                     "source": {"protocol": "https", "name": "/img",
                                                "cookies": {"cookies": [
                                                    {"name": "token", "value": "abc"}]}},
                                     "target": {"dev": "vda"}}]})
    assert DomainLogic.secret_inputs(cookies) == ["devices"]
    assert Domain._secrets_for(with_password) == ["devices"]
    loop = asyncio.new_event_loop()  # an Output needs one
    asyncio.set_event_loop(loop)
    try:
        unknown_devices = pulumi.Output.from_input({})
        assert Domain._secrets_for(vm(devices=unknown_devices)) == ["devices"]
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    assert Domain._secrets_for(vm(devices={"disks": []})) == []
    _inputs, problems = DomainLogic().check({}, vm(devices={"graphics": [
        {"type": "vnc", "passwd": {"not": "a string"}}]}))
    assert [(p.path, p.message) for p in problems] == [
        ("devices.graphics[0].passwd",
         "expected a string (the value is not shown: it is a credential)")]


@pytest.mark.parametrize("value, problem", [
    ({"source": "lease", "timeout": 0}, ("devices.interfaces[0].wait_for_ip.timeout",
                                         "expected 1 or more seconds, got 0")),
    ({"sauce": "lease"}, ("devices.interfaces[0].wait_for_ip.sauce",
                          "unknown key 'sauce': expected 'source' or 'timeout'")),
    ("yes", ("devices.interfaces[0].wait_for_ip",
             "expected a boolean or a dict with 'source' and 'timeout', got str 'yes'")),
])
def test_wait_for_ip_is_checked(value, problem) -> None:
    nic = {"type": "network", "source": {"network": "default"}, "wait_for_ip": value}
    _inputs, problems = DomainLogic().check({}, vm(devices={"interfaces": [nic]}))
    assert [(p.path, p.message) for p in problems] == [problem]


def test_wait_for_ip_stays_out_of_the_xml() -> None:
    nic = {"type": "network", "source": {"network": "default"}, "wait_for_ip": True}
    logic = DomainLogic()
    model = logic.desired_model(vm(devices={"interfaces": [nic]}))
    assert "wait_for_ip" not in xml.to_xml("domain", model)
    assert nic["wait_for_ip"] is True  # the inputs themselves are untouched


def test_wait_for_ip_written_under_the_singular_is_checked_and_left_out() -> None:
    """``devices.interface`` (one interface written alone) takes wait_for_ip like the list."""
    nic = {"type": "network", "source": {"network": "default"},
           "wait_for_ip": {"source": "arp"}}
    _inputs, problems = DomainLogic().check({}, vm(devices={"interface": nic}))
    assert [(p.path, p.message) for p in problems] == [
        ("devices.interface.wait_for_ip.source", "expected one of 'any', 'lease', 'agent', "
                                                 "got 'arp'")]
    model = DomainLogic().desired_model(vm(devices={"interface": dict(nic, wait_for_ip=True)}))
    assert "wait_for_ip" not in xml.to_xml("domain", model)


def test_outputs_keep_wait_for_ip_on_the_interface_it_was_written_on() -> None:
    """Matched by MAC when libvirt lists the interfaces in another order, else by position."""
    first = {"type": "network", "source": {"network": "a"},
             "mac": {"address": "52:54:00:00:00:01"}}
    second = {"type": "network", "source": {"network": "b"},
              "mac": {"address": "52:54:00:00:00:02"}}
    props = vm(devices={"interfaces": [first, dict(second, wait_for_ip={"timeout": 9})]})
    logic = DomainLogic()
    live = dict(logic.desired_model(props))
    live["devices"] = {"interfaces": [second, first]}
    outs = logic.outputs(props, list(props), live, {}, {})
    interfaces = outs["devices"]["interfaces"]
    assert [i.get("wait_for_ip") for i in interfaces] == [None, {"timeout": 9}]
    assert [i["source"]["network"] for i in interfaces] == ["a", "b"]
    assert logic.diff(outs, props).changes == []
    again = vm(devices={"interfaces": [first, dict(second, wait_for_ip=True)]})
    changed = logic.diff(outs, again)
    assert (changed.changes, changed.replaces) == (["devices"], [])
    assert "wait_for_ip changes: waits for the addresses now" in changed.summary()
