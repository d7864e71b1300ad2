"""Bad Network input is refused at preview, each problem naming the field as the user wrote it.

Check never asks libvirt, so these run through the provider host against ``test:///default``
(the same words come on any host); nothing is created.
"""

from __future__ import annotations

import pytest
from harness import CheckFailed, Engine

import pulumi_libvirt as libvirt

TEST_URI = "test:///default"

V4 = {"address": "10.209.90.1", "prefix": 24}
V6 = {"address": "fd00:209:90::1", "prefix": 64, "family": "ipv6"}

CASES = {
    "bad address": (
        {"ips": [{"address": "10.209.90.300", "prefix": 24}]},
        {"ips[0].address": "expected an IPv4 address or an IPv6 address, got '10.209.90.300'"},
    ),
    "bad prefix": (
        {"ips": [{"address": "10.209.90.1", "prefix": 33}]},
        {"ips[0].prefix": "expected a prefix length of 0 to 32 for an IPv4 address, got 33"},
    ),
    "bad netmask": (
        {"ips": [{"address": "10.209.90.1", "netmask": "255.0.255.0"}]},
        {"ips[0].netmask": "expected a netmask such as '255.255.255.0', got '255.0.255.0'"},
    ),
    "prefix and netmask": (
        {"ips": [{**V4, "netmask": "255.255.255.0"}]},
        {"ips[0].netmask": "give prefix or netmask, not both"},
    ),
    "IPv6 without family": (
        {"ips": [{"address": "fd00:209:90::1", "prefix": 64}]},
        {"ips[0].family": "an IPv6 address (fd00:209:90::1) needs family='ipv6'"},
    ),
    "range outside the subnet": (
        {"ips": [{**V4, "dhcp": {"ranges": [{"start": "10.209.91.10", "end": "10.209.91.20"}]}}]},
        {"ips[0].dhcp.ranges[0]": "10.209.91.10 - 10.209.91.20 is not inside the network's "
                                  "subnet 10.209.90.0/24 (10.209.91.10 and 10.209.91.20 outside)"},
    ),
    "reversed range": (
        {"ips": [{**V4, "dhcp": {"ranges": [{"start": "10.209.90.50", "end": "10.209.90.10"}]}}]},
        {"ips[0].dhcp.ranges[0]": "reversed: start 10.209.90.50 comes after end 10.209.90.10"},
    ),
    "overlapping ranges": (
        {"ips": [{**V4, "dhcp": {"ranges": [{"start": "10.209.90.10", "end": "10.209.90.50"},
                                            {"start": "10.209.90.40", "end": "10.209.90.60"}]}}]},
        {"ips[0].dhcp.ranges[1]": "10.209.90.40 - 10.209.90.60 overlaps ips[0].dhcp.ranges[0] "
                                  "(10.209.90.10 - 10.209.90.50)"},
    ),
    "IPv4 DHCP host without MAC or name": (
        {"ips": [{**V4, "dhcp": {"hosts": [{"ip": "10.209.90.5"}]}}]},
        {"ips[0].dhcp.hosts[0]": "a DHCP host of an IPv4 network needs mac or name (which "
                                 "client gets the address)"},
    ),
    "IPv6 DHCP host without id or name": (
        {"ips": [{**V6, "dhcp": {"hosts": [{"ip": "fd00:209:90::5"}]}}]},
        {"ips[0].dhcp.hosts[0]": "a DHCP host of an IPv6 network needs id (the client's DUID) "
                                 "or name"},
    ),
    "DHCP host outside the subnet, twice the same MAC": (
        {"ips": [{**V4, "dhcp": {"hosts": [
            {"mac": "52:54:00:90:00:01", "ip": "10.209.90.5"},
            {"mac": "52:54:00:90:00:01", "ip": "10.209.99.6"}]}}]},
        {"ips[0].dhcp.hosts[1].ip": "10.209.99.6 is not inside the network's subnet "
                                    "10.209.90.0/24",
         "ips[0].dhcp.hosts[1].mac": "52:54:00:90:00:01 is also the mac of "
                                     "ips[0].dhcp.hosts[0]"},
    ),
    "one item written alone, named as written": (
        {"ip": {**V4, "dhcp": {"range": {"start": "10.209.91.10", "end": "10.209.91.20"},
                               "host": {"ip": "10.209.90.5"}}}},
        {"ip.dhcp.range": "10.209.91.10 - 10.209.91.20 is not inside the network's subnet "
                          "10.209.90.0/24 (10.209.91.10 and 10.209.91.20 outside)",
         "ip.dhcp.host": "a DHCP host of an IPv4 network needs mac or name (which client gets "
                         "the address)"},
    ),
    "passthrough without devices": (
        {"forward": {"mode": "passthrough"}},
        {"forward.interfaces": "forward mode 'passthrough' needs the host's network devices: "
                               "forward.interfaces ([{'dev': 'eth0'}, ...]), forward.dev or "
                               "forward.pf"},
    ),
    "hostdev without PCI devices": (
        {"forward": {"mode": "hostdev", "managed": True}},
        {"forward.addresses": "forward mode 'hostdev' needs the SR-IOV virtual functions to "
                              "hand out: forward.addresses ([{'type': 'pci', 'domain': 0, "
                              "'bus': 3, 'slot': 16, 'function': 1}, ...]) or forward.pf "
                              "({'dev': 'eth0'})"},
    ),
    "bridge mode with nothing to bridge onto, and addresses": (
        {"forward": {"mode": "bridge"}, "ips": [V4]},
        {"forward": "forward mode 'bridge' needs an existing host bridge (bridge.name) or host "
                    "devices to share through macvtap (forward.interfaces, forward.dev or "
                    "forward.pf)",
         "ips": "a network with forward mode 'bridge' has no addresses of its own (no DHCP, DNS "
                "or routing by libvirt): leave ips out"},
    ),
    "a DUID that is not one": (
        {"ips": [{**V6, "dhcp": {"hosts": [{"id": "0:4:7e", "ip": "fd00:209:90::5"}]}}]},
        {"ips[0].dhcp.hosts[0].id": "expected a DHCPv6 DUID such as "
                                    "'00:03:00:01:52:54:00:12:34:56', got '0:4:7e'"},
    ),
    "a typo in a forward mode": (
        {"forward": {"mode": "nta"}},
        {"forward.mode": "expected one of 'nat', 'route', 'open', 'bridge', 'passthrough', "
                         "'private', 'vepa', 'hostdev'; got 'nta'; did you mean 'nat'?"},
    ),
    "a bridge name Linux refuses": (
        {"bridge": {"name": "plv-far-too-long0"}},
        {"bridge.name": "at most 15 characters (a Linux interface name), got 17: "
                        "'plv-far-too-long0'"},
    ),
}


@pytest.fixture(scope="module")
def engine():
    with Engine({"libvirt:uri": TEST_URI}, persistent_host=True) as engine:
        yield engine


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_at_preview(engine: Engine, run_prefix: str, case: str) -> None:
    inputs, expected = CASES[case]
    with pytest.raises(CheckFailed) as failed:
        engine.preview(lambda: libvirt.Network("lan", name=f"{run_prefix}bad", **inputs))
    assert {f.property: f.reason for f in failed.value.failures} == expected
    assert engine.state == {}
    assert not any(c.method == "Create" for c in engine.last_calls)


def test_two_networks_of_one_program_cannot_share_a_bridge(engine: Engine, run_prefix: str
                                                           ) -> None:
    def program() -> None:
        libvirt.Network("a", name=f"{run_prefix}share-a", bridge={"name": "plvshared0"})
        libvirt.Network("b", name=f"{run_prefix}share-b", bridge={"name": "plvshared0"})

    with pytest.raises(CheckFailed) as failed:
        engine.preview(program)
    (failure,) = failed.value.failures
    assert (failure.name, failure.property) == ("b", "bridge.name")
    assert failure.reason == ("another resource of this program, 'a', already uses bridge "
                              f"'plvshared0' on {TEST_URI}: two networks cannot share a bridge; "
                              "give one of them another bridge.name, or leave it out for "
                              "libvirt to pick one")
    assert engine.state == {}


def full_network(name: str, bridge: str, **extra) -> libvirt.Network:
    """A network using most of libvirt's network vocabulary."""
    return libvirt.Network(
        "full", name=name, forward={"mode": "nat", "nat": {
            "address": {"start": "192.0.2.10", "end": "192.0.2.20"},
            "port": {"start": 1024, "end": 65000}}},
        bridge={"name": bridge, "stp": True, "delay": 0}, mtu={"size": 9000},
        mac={"address": "52:54:00:0A:0B:0C"}, domain={"name": "lab.test", "local_only": True},
        ips=[{**V4, "dhcp": {
            "ranges": [{"start": "10.209.90.100", "end": "10.209.90.199",
                        "lease": {"expiry": 2, "unit": "hours"}}],
            "hosts": [{"mac": "52:54:00:90:00:01", "ip": "10.209.90.5", "name": "db"},
                      {"name": "web", "ip": "10.209.90.6"}],
            "bootp": {"file": "pxelinux.0"}}},
             {**V6, "dhcp": {"ranges": [{"start": "fd00:209:90::100",
                                         "end": "fd00:209:90::1ff"}],
                             "hosts": [{"id": "00:03:00:01:52:54:00:90:00:05",
                                        "ip": "fd00:209:90::5"}]}}],
        dns={"enable": True, "forwarders": [{"addr": "192.0.2.53"}, {"domain": "corp"}],
             "hosts": [{"ip": "10.209.90.60", "hostnames": ["web", "www"]}],
             "srvs": [{"service": "ldap", "protocol": "tcp", "target": "db", "port": 389}],
             "txts": [{"name": "note", "value": "hello"}]},
        routes=[{"address": "10.209.95.0", "prefix": 24, "gateway": "10.209.90.2"}],
        portgroups=[{"name": "eng", "default": True,
                     "bandwidth": {"inbound": {"average": 1000}}}],
        **extra,
    )


def test_good_input_of_every_kind_passes(engine: Engine, run_prefix: str) -> None:
    """libvirt's network vocabulary in our model, stored by the test driver as given and read
    back without a diff (dnsmasq_options: the test driver drops them; see the real-host test)."""
    def program() -> None:
        full_network(f"{run_prefix}full", "plvfull0",
                     bandwidth={"inbound": {"average": 10000, "peak": 20000, "burst": 1024}})

    result = engine.up(program)
    try:
        assert result.outputs["full"]["mac"] == {"address": "52:54:00:0A:0B:0C"}
        assert result.outputs["full"]["ips"][1]["address"] == "fd00:209:90::1"
        assert engine.preview(program).empty
    finally:
        engine.destroy()
