"""Which changes to a network libvirt can make live, and the virNetworkUpdate calls that make
them (pure: no libvirt host)."""

from __future__ import annotations

import copy

from lxml import etree

from pulumi_libvirt.providers.network import (
    ADD,
    DELETE,
    MODIFY,
    SECTIONS,
    NetworkLogic,
    plan,
)
from pulumi_libvirt.providers.network.restart import plugged
from pulumi_libvirt.xml import policy

LIVE = {
    "name": "lan", "uuid": "3e3fce45-4f53-4fa7-bb32-11f34168b82b",
    "forward": {"mode": "nat"}, "bridge": {"name": "virbr3", "stp": True, "delay": 0},
    "mac": {"address": "52:54:00:ec:2f:30"},
    "ips": [{"address": "10.209.1.1", "prefix": 24, "dhcp": {
        "ranges": [{"start": "10.209.1.100", "end": "10.209.1.199"}],
        "hosts": [{"mac": "52:54:00:00:00:01", "name": "a", "ip": "10.209.1.5"}]}}],
}


def changed(edit) -> dict:
    result = copy.deepcopy(LIVE)
    edit(result)
    return result


def calls(edits) -> list[tuple]:
    return [(e.command, e.section.path, e.parent, e.xml()) for e in edits]


def test_sections_are_the_live_rows_of_the_policy_table() -> None:
    live_rows = {path for (kind, path), mode in policy.UPDATE_MODES.items()
                 if kind == "network" and mode == "live"}
    assert {section.path for section in SECTIONS} == live_rows


def test_a_changed_dhcp_host_is_modified_in_place_and_a_new_one_added() -> None:
    def edit(model):
        hosts = model["ips"][0]["dhcp"]["hosts"]
        hosts[0]["ip"] = "10.209.1.6"
        hosts.append({"mac": "52:54:00:00:00:02", "ip": "10.209.1.7"})

    assert calls(plan(LIVE, changed(edit))) == [
        (MODIFY, "ips.dhcp.hosts", 0, '<host mac="52:54:00:00:00:01" name="a" ip="10.209.1.6"/>'),
        (ADD, "ips.dhcp.hosts", 0, '<host mac="52:54:00:00:00:02" ip="10.209.1.7"/>'),
    ]


def test_a_mac_written_in_capitals_is_the_same_host() -> None:
    def edit(model):
        model["ips"][0]["dhcp"]["hosts"][0]["mac"] = "52:54:00:00:00:01".upper()

    assert plan(LIVE, changed(edit)) == []


def test_records_libvirt_cannot_modify_are_deleted_then_added() -> None:
    live = changed(lambda m: m.update(dns={"hosts": [{"ip": "10.209.1.8", "hostnames": ["a"]}]}))
    wanted = changed(lambda m: m.update(dns={"hosts": [{"ip": "10.209.1.8",
                                                        "hostnames": ["a", "b"]}]}))
    assert [(c[0], c[1], c[2]) for c in calls(plan(live, wanted))] == [
        (DELETE, "dns.hosts", -1), (ADD, "dns.hosts", -1)]


def test_the_first_dns_host_and_the_last_one_are_live_edits() -> None:
    with_dns = changed(lambda m: m.update(dns={"hosts": [{"ip": "10.209.1.8",
                                                          "hostnames": ["a"]}]}))
    assert [e.command for e in plan(LIVE, with_dns)] == [ADD]
    assert [e.command for e in plan(with_dns, LIVE)] == [DELETE]


def test_lists_matched_by_position_keep_the_order_written() -> None:
    a = {"service": "ldap", "protocol": "tcp", "target": "a", "port": 389}
    b = {"service": "www", "protocol": "tcp", "target": "b", "port": 80}
    live = changed(lambda m: m.update(dns={"srvs": [a, b]}))
    wanted = changed(lambda m: m.update(dns={"srvs": [b, a]}))
    assert [(e.command, e.item["service"]) for e in plan(live, wanted)] == [
        (DELETE, "www"), (DELETE, "ldap"), (ADD, "www"), (ADD, "ldap")]
    # TXT records are matched by name: their order is not compared, nothing to do.
    one, two = {"name": "one", "value": "1"}, {"name": "two", "value": "2"}
    live = changed(lambda m: m.update(dns={"txts": [one, two]}))
    assert plan(live, changed(lambda m: m.update(dns={"txts": [two, one]}))) == []


def test_ranges_port_groups_and_forward_interfaces_are_live_edits() -> None:
    def edit(model):
        model["ips"][0]["dhcp"]["ranges"].append({"start": "10.209.1.20", "end": "10.209.1.29"})
        model["portgroups"] = [{"name": "eng", "default": True}]
        model["forward"]["interfaces"] = [{"dev": "eth1"}]

    assert calls(plan(LIVE, changed(edit))) == [
        (ADD, "ips.dhcp.ranges", 0, '<range start="10.209.1.20" end="10.209.1.29"/>'),
        (ADD, "portgroups", -1, '<portgroup name="eng" default="yes"/>'),
        (ADD, "forward.interfaces", -1, '<interface dev="eth1"/>'),
    ]


def test_any_other_change_needs_a_restart() -> None:
    assert plan(LIVE, changed(lambda m: m["ips"][0].update(prefix=16))) is None
    assert plan(LIVE, changed(lambda m: m["bridge"].update(stp=False))) is None
    both = changed(lambda m: (m["ips"][0].update(prefix=16),
                              m["ips"][0]["dhcp"]["hosts"].clear()))
    assert plan(LIVE, both) is None


def test_preview_says_restart_only_when_a_restart_comes() -> None:
    logic = NetworkLogic()
    uri = "qemu:///system"

    def user(model: dict) -> dict:  # what the user wrote: no uuid, mac or bridge
        return {k: model[k] for k in ("name", "forward", "ips", "dns") if k in model}

    olds = {**user(LIVE), "uri": uri, "_input_keys": ["name", "forward", "ips"]}
    hosts = changed(lambda m: m["ips"][0]["dhcp"]["hosts"].append(
        {"mac": "52:54:00:00:00:09", "ip": "10.209.1.9"}))
    diff = logic.diff(olds, {**user(hosts), "uri": uri})
    assert diff.changes == ["ips"] and diff.reboot == [] and diff.replaces == []
    dns = changed(lambda m: m.update(dns={"hosts": [{"ip": "10.209.1.8", "hostnames": ["a"]}]}))
    diff = logic.diff(olds, {**user(dns), "uri": uri})
    assert diff.changes == ["dns"] and diff.reboot == []
    subnet = changed(lambda m: m["ips"][0].update(address="10.209.2.1"))
    diff = logic.diff(olds, {**user(subnet), "uri": uri})
    assert diff.changes == ["ips"] and diff.reboot == ["ips"] and diff.replaces == []
    renamed = logic.diff(olds, {**user(LIVE), "name": "lan2", "uri": uri})
    assert renamed.replaces == ["name"]
    assert renamed.delete_before_replace  # same subnet: the new one could not start first


def test_a_guest_interface_is_pointed_at_another_network_and_back() -> None:
    iface = etree.fromstring(
        "<interface type='network'><mac address='52:54:00:24:2d:69'/>"
        "<source network='lan' portgroup='eng' portid='0083' bridge='virbr1'/>"
        "<target dev='vnet0'/><model type='virtio'/><alias name='net0'/></interface>")
    hop = etree.fromstring(plugged(iface, "lan-replug", "virbr9", hop=True))
    assert dict(hop.find("source").attrib) == {"network": "lan-replug"}
    assert hop.find("target").get("dev") == "vnet0"  # the same tap
    back = etree.fromstring(plugged(iface, "lan", "virbr1", hop=False))
    assert dict(back.find("source").attrib) == {"network": "lan", "portgroup": "eng"}
    bridged = etree.fromstring(
        "<interface type='bridge'><source bridge='virbr1'/><target dev='vnet1'/></interface>")
    assert etree.fromstring(plugged(bridged, "x", "virbr9", hop=True)).find(
        "source").get("bridge") == "virbr9"


def test_one_item_written_alone_is_planned_like_its_list() -> None:
    logic = NetworkLogic()
    uri = "qemu:///system"
    ip = {"address": "10.209.1.1", "prefix": 24,
          "dhcp": {"range": {"start": "10.209.1.100", "end": "10.209.1.199"}}}
    olds = {"name": "lan", "forward": {"mode": "nat"}, "ip": ip, "uri": uri,
            "_input_keys": ["name", "forward", "ip"]}
    host = {"mac": "52:54:00:00:00:09", "ip": "10.209.1.9"}
    news = {"name": "lan", "forward": {"mode": "nat"}, "uri": uri,
            "ip": {**ip, "dhcp": {**ip["dhcp"], "host": host}}}
    diff = logic.diff(olds, news)
    assert diff.changes == ["ip"] and diff.reboot == []
    wanted = changed(lambda m: m["ips"][0]["dhcp"]["hosts"].append(host))
    live = changed(lambda m: None)
    assert [e.command for e in plan(live, wanted)] == [ADD]


def test_values_unknown_during_preview_pass_check_and_diff() -> None:
    from pulumi_libvirt.xml import UNKNOWN

    logic = NetworkLogic()
    news = {"name": UNKNOWN, "forward": {"mode": UNKNOWN}, "bridge": {"name": UNKNOWN},
            "ips": [{"address": UNKNOWN, "prefix": 24,
                     "dhcp": {"ranges": [{"start": UNKNOWN, "end": "10.209.1.9"}],
                              "hosts": [{"mac": UNKNOWN, "ip": "10.209.1.5"}]}}]}
    _inputs, problems = logic.check({}, news)
    assert problems == []
    _inputs, problems = logic.check({}, {"name": "lan", "ips": UNKNOWN, "dns": UNKNOWN})
    assert problems == []
    olds = {**user_model(), "uri": "qemu:///system", "_input_keys": ["name", "forward", "ips"]}
    diff = logic.diff(olds, {**user_model(), "uri": "qemu:///system",
                             "ips": [{**LIVE["ips"][0], "address": UNKNOWN}]})
    assert diff.changes == ["ips"] and diff.reboot == ["ips"]


def user_model() -> dict:
    return {k: copy.deepcopy(LIVE[k]) for k in ("name", "forward", "ips")}


def test_forward_dev_libvirt_derived_is_left_for_it_to_derive_again() -> None:
    from pulumi_libvirt.providers.network.model import underived

    merged = {"name": "lan", "forward": {"mode": "vepa", "dev": "eth0",
                                         "interfaces": [{"dev": "eth1"}]}}
    assert underived(merged, {"forward": {"mode": "vepa", "interfaces": [{"dev": "eth1"}]}}) == {
        "name": "lan", "forward": {"mode": "vepa", "interfaces": [{"dev": "eth1"}]}}
    written = {"forward": {"mode": "vepa", "dev": "eth0", "interfaces": [{"dev": "eth1"}]}}
    assert underived(merged, written) == merged  # the user's own, even if libvirt refuses it
    bridged = {"forward": {"mode": "bridge", "dev": "eth0"}}  # no list to derive it from
    assert underived(bridged, {"forward": {"mode": "bridge"}}) == bridged
