"""wait_for_ip: a real DHCP lease on a real libvirt network (the guest boots from the network:
iPXE asks dnsmasq with the interface's MAC), a real QEMU guest agent in the tiny Linux guest
(tests/guest.py), the agent's edge cases against a fake agent, and a timeout that names the MAC
and the sources tried."""

from __future__ import annotations

import time

import libvirt as api
import pytest
from conftest import pool_names
from domains import domain_names, guest_program, network, subnet
from guest import console_line
from harness import Engine, ProviderError

from pulumi_libvirt.connection import LibvirtError
from pulumi_libvirt.providers import DomainLogic
from pulumi_libvirt.providers.domain import addresses

MAC = "52:54:00:aa:00:01"


def test_address_from_a_dhcp_lease(system_uri: str, run_prefix: str) -> None:
    uri, prefix, net = system_uri, f"{run_prefix}ip-", subnet(run_prefix, "lease")
    with network(uri, f"{run_prefix}iplan", net) as lan:
        program = guest_program(prefix, lan=lan, pxe=True,
                        wait_for_ip={"source": "lease", "timeout": 180})
        engine = Engine({"libvirt:uri": uri})
        try:
            vm = engine.up(program).outputs["vm"]
            (nic,) = vm["ip_addresses"]
            assert nic["mac"].startswith("52:54:00:")
            assert len(nic["addresses"]) == 1 and nic["addresses"][0].startswith(f"{net}.")
            assert vm["devices"]["interfaces"][0]["wait_for_ip"] == {"source": "lease",
                                                                    "timeout": 180}
            assert engine.preview(program).empty
            # A refresh reads the lease again, without waiting.
            engine.refresh()
            assert engine.outputs("vm")["ip_addresses"] == vm["ip_addresses"]
        finally:
            engine.destroy()
            engine.close()


def test_timeout_names_the_mac_and_the_sources_and_leaves_nothing(
        system_uri: str, run_prefix: str) -> None:
    uri, prefix = system_uri, f"{run_prefix}noip-"
    with network(uri, f"{run_prefix}noiplan", subnet(run_prefix, "noip")) as lan:
        # No OS and no network boot: nobody asks for a lease, no agent answers.
        program = guest_program(prefix, lan=lan, wait_for_ip={"timeout": 3}, shutdown_timeout=0)
        engine = Engine({"libvirt:uri": uri})
        try:
            with pytest.raises(ProviderError) as error:
                engine.up(program)
            message = str(error.value)
            assert message.startswith(f"domain '{prefix}vm' on {uri}: interface 52:54:00:")
            assert " got no IP address within 3 s (looked in DHCP leases of network " \
                   f"'{lan}': no lease for this MAC; the guest agent: " in message
            assert "guest agent is not connected" in message.lower()
            assert f"{prefix}vm" not in domain_names(uri)
            assert [s for s in engine.state if s.endswith("::vm")] == []
        finally:
            engine.destroy()
            engine.close()


# ---------------------------------------------------------------- the guest agent, for real


@pytest.mark.parametrize("source,dhcp", [("agent", True), ("any", False)],
                         ids=["agent-dhcp", "any-static"])
def test_address_from_a_real_guest_agent(guest, system_uri: str, run_prefix: str,
                                         shared_dir, source: str, dhcp: bool) -> None:
    """The tiny guest runs qemu-ga on its org.qemu.guest_agent.0 channel. With source 'agent'
    the address is the one dnsmasq leased, as the agent reports it; with 'any' on a network
    without DHCP the guest sets a static address that only the agent can tell."""
    uri, prefix = system_uri, f"{run_prefix}qga{source}-"
    net = subnet(run_prefix, f"agent {source}")
    serial = shared_dir / "serial.log"
    boot = guest.with_agent().without_seed()
    if not dhcp:
        boot = boot.with_static_ip(f"{net}.7/24")
    wait_for_ip = {"source": source, "timeout": 300}
    with network(uri, f"{run_prefix}qga{source}", net, dhcp=dhcp) as lan:
        program = guest_program(prefix, lan=lan, boot=boot, serial=serial,
                                wait_for_ip=wait_for_ip)
        engine = Engine({"libvirt:uri": uri})
        conn = api.open(uri)
        try:
            started = time.monotonic()
            vm = engine.up(program).outputs["vm"]
            took = time.monotonic() - started
            (nic,) = vm["ip_addresses"]
            assert vm["devices"]["channels"][0]["target"]["name"] == addresses.AGENT_CHANNEL
            assert vm["devices"]["interfaces"][0]["wait_for_ip"] == wait_for_ip
            leases = [lease["ipaddr"] for lease in conn.networkLookupByName(lan).DHCPLeases()
                      if lease["mac"] == nic["mac"]]
            if dhcp:
                assert nic["addresses"] == leases and leases[0].startswith(f"{net}.")
                assert console_line(serial, f"plv-guest: lease {leases[0]} ")
            else:
                assert leases == []  # nobody but the agent knows this address
                assert nic["addresses"] == [f"{net}.7"]
            # What libvirt hears from the agent now is what the provider returned.
            agent = conn.lookupByName(f"{prefix}vm").interfaceAddresses(
                api.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT, 0)
            assert [a["addr"] for i in agent.values() if i["hwaddr"] == nic["mac"]
                    for a in i["addrs"] if a["type"] == api.VIR_IP_ADDR_TYPE_IPV4] == \
                nic["addresses"]
            assert console_line(serial, "plv-guest: agent on /dev/vport")
            assert engine.preview(program).empty
            engine.refresh()  # reads the agent again, without waiting
            assert engine.outputs("vm")["ip_addresses"] == vm["ip_addresses"]
            print(f"\nwait_for_ip source={source}: up with {nic['addresses']} in {took:.1f} s")
        finally:
            conn.close()
            engine.destroy()
            engine.close()
        assert f"{prefix}vm" not in domain_names(uri)
        assert f"{prefix}pool" not in pool_names(uri)


# ---------------------------------------------------------------- the guest agent, faked


class FakeAgentDomain:
    """What libvirt answers for a running guest whose agent reports addresses from the
    ``ready``-th question on."""

    def __init__(self, ready: int, addresses: list[dict]):
        self.asked, self.ready, self.addresses = 0, ready, addresses

    def isActive(self) -> bool:  # noqa: N802 - libvirt's name
        return True

    def interfaceAddresses(self, source: int, flags: int = 0) -> dict:  # noqa: N802
        assert source == api.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT
        self.asked += 1
        if self.asked < self.ready:
            raise api.libvirtError("Guest agent is not responding: QEMU guest agent is not "
                                   "connected")
        return {"lo": {"hwaddr": "00:00:00:00:00:00",
                       "addrs": [{"type": 0, "addr": "127.0.0.1", "prefix": 8}]},
                "eth0": {"hwaddr": MAC.upper(), "addrs": self.addresses}}


class NoLeases:
    def networkLookupByName(self, name: str):  # noqa: N802
        raise api.libvirtError(f"Network not found: no network with matching name '{name}'")


def model(source: str = "agent") -> dict:
    nic = {"type": "network", "source": {"network": "lan"}, "mac": {"address": MAC}}
    agent = {"type": "virtio", "name": addresses.AGENT_CHANNEL}
    return {"devices": {
        "interfaces": [dict(nic, wait_for_ip={"source": source, "timeout": 10})],
        "channels": [{"type": "unix", "target": agent}],
    }}


@pytest.fixture
def fast_polls(monkeypatch):
    monkeypatch.setattr(addresses, "_POLL", 0.01)


def test_agent_addresses_by_mac_without_loopback_and_link_local(fast_polls) -> None:
    dom = FakeAgentDomain(ready=3, addresses=[
        {"type": 1, "addr": "fe80::5054:ff:feaa:1", "prefix": 64},
        {"type": 1, "addr": "2001:db8::10", "prefix": 64},
        {"type": 0, "addr": "169.254.3.4", "prefix": 16},
        {"type": 0, "addr": "10.210.9.20", "prefix": 24},
    ])
    props = model()
    definition = DomainLogic().desired_model(model())
    addresses.wait(NoLeases(), dom, definition, props, "domain 'web'", "qemu:///system")
    assert dom.asked == 3  # waited for the agent to come up
    assert addresses.current(NoLeases(), dom, definition, props) == [
        {"mac": MAC, "addresses": ["10.210.9.20", "2001:db8::10"]}]


def test_agent_timeout_message(monkeypatch, fast_polls) -> None:
    dom = FakeAgentDomain(ready=10**6, addresses=[])
    props = model("any")
    props["devices"]["interfaces"][0]["wait_for_ip"]["timeout"] = 0.2
    definition = DomainLogic().desired_model(model("any"))
    with pytest.raises(LibvirtError) as error:
        addresses.wait(NoLeases(), dom, definition, props, "domain 'web'", "qemu:///system")
    assert str(error.value) == (
        f"domain 'web' on qemu:///system: interface {MAC} got no IP address within 0.2 s "
        "(looked in DHCP leases of network 'lan': Network not found: no network with matching "
        "name 'lan'; the guest agent: Guest agent is not responding: QEMU guest agent is not "
        "connected)")


def test_agent_only_with_its_channel(fast_polls) -> None:
    dom = FakeAgentDomain(ready=1, addresses=[{"type": 0, "addr": "10.0.0.5", "prefix": 8}])
    props = model("agent")
    definition = DomainLogic().desired_model(model())
    del definition["devices"]["channels"]
    props["devices"]["interfaces"][0]["wait_for_ip"]["timeout"] = 0.05
    with pytest.raises(LibvirtError) as error:
        addresses.wait(NoLeases(), dom, definition, props, "domain 'web'", "uri")
    assert "the guest agent: the domain has no org.qemu.guest_agent.0 channel" in str(
        error.value)
    assert dom.asked == 0
