"""Network through Pulumi's own dynamic-provider host, as the engine drives it, on both real
libvirt daemons (dnsmasq, bridges and guests seen from inside the daemon's network namespace)
and on ``test:///default``.

Subnets come from 10.209.0.0/16, one /24 per test.
"""

from __future__ import annotations

import subprocess

import libvirt as lv
import pytest
from conftest import virsh
from daemons import host_path
from harness import Engine, ProviderError, strip_secrets
from hostnet import BridgeClient, Netns, NetworkEvents, find_dnsmasq, wait_for_dnsmasq
from lxml import etree

import pulumi_libvirt as libvirt

TEST_URI = "test:///default"


def network_names(uri: str) -> set[str]:
    return set(virsh(uri, "net-list", "--all", "--name").split())


def make_engine(uri: str) -> Engine:
    # test:/// state lives in the provider host process: keep one host for the whole test.
    return Engine({"libvirt:uri": uri}, persistent_host=uri == TEST_URI)


def subnet(third: int, *, hosts=(), ranges=None, **ip) -> dict:
    """An <ip> of 10.209.<third>.1/24 serving DHCP from .100 to .199."""
    net = f"10.209.{third}"
    if ranges is None:
        ranges = [{"start": f"{net}.100", "end": f"{net}.199"}]
    dhcp = {"ranges": list(ranges)}
    if hosts:
        dhcp["hosts"] = list(hosts)
    return {"address": f"{net}.1", "prefix": 24, "dhcp": dhcp, **ip}


def test_nat_route_isolated_and_open_networks_serve_dhcp(system_uri: str, run_prefix: str
                                                         ) -> None:
    modes = {"nat": 20, "route": 21, "isolated": 22, "open": 23}

    def program() -> None:
        for mode, third in modes.items():
            extra = {} if mode == "isolated" else {"forward": {"mode": mode}}
            ips = [subnet(third)]
            if mode == "nat":  # dual stack, IPv6 written as libvirt would not write it
                extra["dnsmasq_options"] = {"options": [{"value": "cache-size=1000"}]}
                ips.append({"address": "FD00:209:20:0::1", "prefix": 64, "family": "ipv6",
                            "dhcp": {"ranges": [{"start": "fd00:209:20::100",
                                                 "end": "FD00:209:20::1FF"}],
                                     "hosts": [{"id": "00:03:00:01:52:54:00:20:9A:05",
                                                "ip": "fd00:209:20::5"}]}})
            libvirt.Network(mode, name=f"{run_prefix}{mode}", ips=ips, **extra)

    engine = make_engine(system_uri)
    netns = None
    try:
        assert engine.preview(program).ops == dict.fromkeys(modes, "create")
        result = engine.up(program)
        assert engine.preview(program).empty
        refreshed = engine.refresh()
        assert refreshed.changes == {} and refreshed.deleted == []
        assert engine.preview(program).empty

        servers = {}
        for mode, third in modes.items():
            outputs = result.outputs[mode]
            assert outputs["active"] is True and outputs["autostart"] is True
            assert outputs["bridge_name"].startswith("virbr")  # libvirt's pick, an output
            assert "bridge" not in outputs and "mac" not in outputs  # not written: not shown
            info = virsh(system_uri, "net-info", f"{run_prefix}{mode}")
            assert "Active:         yes" in info and "Autostart:      yes" in info
            dnsmasq = servers[mode] = wait_for_dnsmasq(f"{run_prefix}{mode}")
            assert f"dhcp-range=10.209.{third}.100,10.209.{third}.199," in dnsmasq.conf
            assert dnsmasq.option("interface") == outputs["bridge_name"]
        assert servers["nat"].option("cache-size") == "1000"
        assert "dhcp-range=fd00:209:20::100,fd00:209:20::1ff,64" in servers["nat"].conf
        assert "00:03:00:01:52:54:00:20:9a:05" in servers["nat"].read("dhcp-hostsfile").lower()
        netns = Netns(servers["nat"].pid)
        for mode, third in modes.items():
            with BridgeClient(netns, result.outputs[mode]["bridge_name"]) as client:
                offered = client.dhcp_lease("52:54:00:20:9a:01")
            assert offered is not None, f"no DHCP lease on the {mode} network"
            assert offered.startswith(f"10.209.{third}.")
            assert 100 <= int(offered.rsplit(".", 1)[1]) <= 199

        bridges = {mode: result.outputs[mode]["bridge_name"] for mode in modes}
        # Through the daemon's root, which outlives dnsmasq (its /proc/<pid>/root does not).
        confs = {mode: host_path(system_uri, next(
            a for a in open(f"/proc/{servers[mode].pid}/cmdline").read().split("\0")
            if a.startswith("--conf-file=")).split("=", 1)[1]) for mode in modes}
        assert all(path.exists() for path in confs.values())
        engine.destroy()
        assert engine.state == {}
        assert not {f"{run_prefix}{mode}" for mode in modes} & network_names(system_uri)
        assert not set(bridges.values()) & netns.links()
        for mode in modes:
            assert find_dnsmasq(f"{run_prefix}{mode}") is None
            assert not confs[mode].exists()
    finally:
        engine.destroy()
        if netns is not None:
            netns.close()


def test_bridge_and_macvtap_modes_use_devices_of_the_host(system_uri: str, run_prefix: str
                                                        ) -> None:
    """forward mode bridge onto a host bridge, and private/vepa/passthrough over a host
    device (a veth: this kernel has no dummy devices), made for the test in the daemon's
    namespace."""
    tag = run_prefix[5:11]
    host_bridge, device = f"plv{tag}h", f"plv{tag}d"

    def program(with_host_devices: bool):
        def run() -> None:
            libvirt.Network("probe", name=f"{run_prefix}probe", ips=[subnet(25)])
            if not with_host_devices:
                return
            libvirt.Network("bridged", name=f"{run_prefix}bridged", forward={"mode": "bridge"},
                            bridge={"name": host_bridge})
            for mode in ("private", "vepa", "passthrough"):
                libvirt.Network(mode, name=f"{run_prefix}{mode}",
                                forward={"mode": mode, "interface": {"dev": device}})
        return run

    engine = make_engine(system_uri)
    netns = None
    try:
        engine.up(program(False))  # its dnsmasq shows the daemon's namespace
        netns = Netns(wait_for_dnsmasq(f"{run_prefix}probe").pid)
        netns.run("ip", "link", "add", host_bridge, "type", "bridge")
        netns.run("ip", "link", "add", device, "type", "veth", "peer", "name", f"{device}p")
        result = engine.up(program(True))
        for mode in ("bridged", "private", "vepa", "passthrough"):
            assert result.outputs[mode]["active"] is True
        assert result.outputs["bridged"]["bridge_name"] == host_bridge
        assert result.outputs["private"].get("bridge_name") is None  # macvtap: no bridge
        assert engine.preview(program(True)).empty
        assert engine.refresh().changes == {}
        engine.destroy()
        assert host_bridge in netns.links()  # not libvirt's to remove
        assert not {f"{run_prefix}{m}" for m in ("bridged", "private", "vepa", "passthrough")
                    } & network_names(system_uri)
    finally:
        engine.destroy()
        if netns is not None:
            netns.run("ip", "link", "del", host_bridge, check=False)
            netns.run("ip", "link", "del", device, check=False)
            netns.close()


def test_dhcp_and_dns_hosts_change_in_place_without_restarting_dnsmasq(
    system_uri: str, run_prefix: str
) -> None:
    name = f"{run_prefix}live"
    reserved = {"mac": "52:54:00:30:00:02", "ip": "10.209.30.50", "name": "db"}
    web = {"ip": "10.209.30.60", "hostnames": ["web", "www"]}

    def program(hosts=(), ranges=None, dns=None, portgroups=None):
        def run() -> None:
            extra = {"dns": dns, "portgroups": portgroups}
            libvirt.Network("lan", name=name, forward={"mode": "nat"},
                            ips=[subnet(30, hosts=hosts, ranges=ranges)],
                            **{k: v for k, v in extra.items() if v is not None})
        return run

    engine = make_engine(system_uri)
    netns = None
    try:
        result = engine.up(program())
        bridge = result.outputs["lan"]["bridge_name"]
        dnsmasq = wait_for_dnsmasq(name)
        netns = Netns(dnsmasq.pid)
        bridge_index = netns.ifindex(bridge)

        # One DHCP host and one DNS host: an in-place update, dnsmasq keeps its pid.
        step = program(hosts=[reserved], dns={"hosts": [web]})
        plan = engine.preview(step)
        assert plan.ops == {"lan": "update"}
        assert "restarting" not in engine.last_stderr
        engine.up(step)
        assert engine.preview(step).empty
        now = find_dnsmasq(name)
        assert now.pid == dnsmasq.pid
        assert "52:54:00:30:00:02,10.209.30.50,db" in now.read("dhcp-hostsfile")
        assert now.read("addn-hosts").split() == ["10.209.30.60", "web", "www"]
        with BridgeClient(netns, bridge) as client:
            assert client.dhcp_lease("52:54:00:30:00:02") == "10.209.30.50"
            assert client.resolve("10.209.30.1", "10.209.30.250/24", "web") == ["10.209.30.60"]
        definition = virsh(system_uri, "net-dumpxml", "--inactive", name)
        assert "<host mac='52:54:00:30:00:02' name='db' ip='10.209.30.50'/>" in definition

        # A changed reservation (modified in place) and a DNS host gone: still the same pid.
        moved = {**reserved, "ip": "10.209.30.51"}
        step = program(hosts=[moved], dns={"hosts": []})
        assert engine.preview(step).ops == {"lan": "update"}
        engine.up(step)
        assert engine.preview(step).empty
        now = find_dnsmasq(name)
        assert now.pid == dnsmasq.pid
        assert "52:54:00:30:00:02,10.209.30.51,db" in now.read("dhcp-hostsfile")
        assert now.read("addn-hosts").strip() == ""

        # Ranges, TXT and SRV records, port groups change live too: libvirt restarts dnsmasq
        # for them (they live in its configuration file), but not the network: same bridge.
        ranges = [{"start": "10.209.30.100", "end": "10.209.30.199"},
                  {"start": "10.209.30.20", "end": "10.209.30.29"}]
        with_range = program(hosts=[moved], ranges=ranges,
                             dns={"txts": [{"name": "note", "value": "hello"}],
                                  "srvs": [{"service": "ldap", "protocol": "tcp",
                                            "target": "db", "port": 389}]},
                             portgroups=[{"name": "engineering", "default": True}])
        assert engine.preview(with_range).ops == {"lan": "update"}
        assert "restarting" not in engine.last_stderr
        engine.up(with_range)
        assert engine.preview(with_range).empty
        assert netns.ifindex(bridge) == bridge_index  # the bridge was never remade
        now = wait_for_dnsmasq(name)
        conf = now.conf
        assert "dhcp-range=10.209.30.20,10.209.30.29" in conf
        assert "txt-record=note,hello" in conf
        assert "srv-host=_ldap._tcp,db,389" in conf
        assert "<portgroup name='engineering' default='yes'>" in virsh(
            system_uri, "net-dumpxml", "--inactive", name)
        assert engine.refresh().changes == {}
        assert engine.preview(with_range).empty
    finally:
        engine.destroy()
        if netns is not None:
            netns.close()


def test_forward_interfaces_change_live_without_restarting_the_network(
    system_uri: str, run_prefix: str
) -> None:
    """A macvtap network (forward mode private) over a list of host interfaces: one added and
    one removed with virNetworkUpdate, on the running network and its definition, with no stop
    and start in between (libvirt's lifecycle events say so); a mode change then restarts it.
    The interfaces need not exist until a guest attaches: libvirt starts the network without
    them."""
    name, tag = f"{run_prefix}macvtap", run_prefix[5:11]
    first, second, third = (f"plv{tag}{n}" for n in "abc")

    def program(*devices: str, mode: str = "private"):
        return lambda: libvirt.Network("lan", name=name, forward={
            "mode": mode, "interfaces": [{"dev": dev} for dev in devices]})

    def forward_devices(*flags: str) -> list[str]:
        root = etree.fromstring(virsh(system_uri, "net-dumpxml", *flags, name).encode())
        return [iface.get("dev") for iface in root.findall("forward/interface")]

    events = NetworkEvents(system_uri)
    engine = make_engine(system_uri)
    try:
        result = engine.up(program(first, second))
        uuid = result.outputs["lan"]["uuid"]
        events.settle(f"{run_prefix}mark")
        assert events.of(name) == ["defined", "started"]  # the events do reach us

        plan = engine.preview(program(second, third))
        assert plan.ops == {"lan": "update"}
        assert f"network '{name}': changing forward applies live" in engine.last_stderr
        assert "restarting" not in engine.last_stderr
        result = engine.up(program(second, third))
        assert result.outputs["lan"]["uuid"] == uuid
        assert result.outputs["lan"]["forward"] == {
            "mode": "private", "interfaces": [{"dev": second}, {"dev": third}]}
        events.settle(f"{run_prefix}mark")
        assert "stopped" not in events.of(name) and events.of(name).count("started") == 1
        assert "Active:         yes" in virsh(system_uri, "net-info", name)
        assert forward_devices() == forward_devices("--inactive") == [second, third]
        assert engine.preview(program(second, third)).empty
        assert engine.refresh().changes == {}
        assert engine.preview(program(second, third)).empty

        # The mode is not live: a restart, which drops the first interface too (libvirt's
        # <forward dev> names the first interface; it is not kept from before).
        vepa = program(third, mode="vepa")
        assert engine.preview(vepa).ops == {"lan": "update"}
        assert (f"network '{name}': changing forward takes effect by restarting it"
                in engine.last_stderr)
        engine.up(vepa)
        events.settle(f"{run_prefix}mark")
        assert events.of(name)[-3:] == ["defined", "stopped", "started"]
        assert forward_devices() == forward_devices("--inactive") == [third]
        assert engine.preview(vepa).empty
    finally:
        engine.destroy()
        events.close()


def test_the_vocabulary_round_trips_on_a_real_host(system_uri: str, run_prefix: str) -> None:
    """libvirt keeps what we write (MAC in capitals, lease units, DUIDs, NAT ranges, routes,
    port groups, dnsmasq options) and reads back nothing we show as a change. Network-wide
    bandwidth is left out: starting it needs the kernel's htb and sfq qdiscs, and this
    machine's kernel has no sfq (test_bandwidth_is_kept_as_written_and_needs_htb_and_sfq)."""
    from test_network_checks import full_network

    def program() -> None:
        full_network(f"{run_prefix}full", f"plv{run_prefix[5:11]}f",
                     dnsmasq_options={"options": [{"value": "cache-size=1000"}]})

    engine = make_engine(system_uri)
    try:
        engine.up(program)
        assert engine.preview(program).empty
        assert engine.refresh().changes == {}
        assert engine.preview(program).empty
        dnsmasq = wait_for_dnsmasq(f"{run_prefix}full")
        assert dnsmasq.option("cache-size") == "1000"
        assert dnsmasq.option("dhcp-boot") == "pxelinux.0"
        assert "10.209.90.100,10.209.90.199,255.255.255.0,2h" in dnsmasq.conf
    finally:
        engine.destroy()


def _kernel_has_qdiscs(*kinds: str) -> bool:
    """Whether this machine's kernel (the daemons' too) can make these qdiscs, each one under
    an htb class on the loopback of a namespace of its own."""
    script = "ip link set lo up && tc qdisc add dev lo root handle 1: htb && " \
             "tc class add dev lo parent 1: classid 1:2 htb rate 1mbit" + "".join(
                 f" && tc qdisc replace dev lo parent 1:2 handle 2: {kind}" for kind in kinds)
    return subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True
                          ).returncode == 0


def test_bandwidth_is_kept_as_written_and_needs_htb_and_sfq(system_uri: str, run_prefix: str
                                                           ) -> None:
    """``bandwidth`` goes to libvirt as written (kept by a stopped network, no diff). Starting
    it needs the kernel's htb and sfq qdiscs: without them libvirt refuses to start it, which
    nothing at preview can know; the create then fails naming the cause, leaving nothing."""
    name = f"{run_prefix}bw"
    limits = {"inbound": {"average": 1000, "peak": 2000, "burst": 1024},
              "outbound": {"average": 500}}

    def program(active: bool):
        return lambda: libvirt.Network("lan", name=name, ips=[subnet(85)], active=active,
                                       bandwidth=limits)

    engine = make_engine(system_uri)
    try:
        result = engine.up(program(False))
        assert result.outputs["lan"]["bandwidth"] == limits
        definition = virsh(system_uri, "net-dumpxml", "--inactive", name)
        assert ("<bandwidth>\n    <inbound average='1000' peak='2000' burst='1024'/>\n"
                "    <outbound average='500'/>\n  </bandwidth>") in definition
        assert engine.preview(program(False)).empty
        engine.destroy()

        assert engine.preview(program(True)).ops == {"lan": "create"}  # no check at preview
        if _kernel_has_qdiscs("sfq"):
            engine.up(program(True))
            netns = Netns(wait_for_dnsmasq(name).pid)
            try:
                bridge = engine.resource("lan").outputs["bridge_name"]
                assert "qdisc htb 1: root" in netns.run("tc", "qdisc", "show", "dev", bridge)
            finally:
                netns.close()
            return
        with pytest.raises(ProviderError) as error:
            engine.up(program(True))
        message = str(error.value)
        assert message.startswith(f"cannot start network '{name}' on {system_uri}: ")
        assert "sfq perturb 10) unexpected exit status 2: Error: Specified qdisc kind is " \
               "unknown" in message
        assert message.endswith("(bandwidth limits need the traffic control qdiscs htb and "
                                "sfq of the libvirt host's kernel)")
        assert engine.state == {}
        assert name not in network_names(system_uri)
    finally:
        engine.destroy()


def _guest_xml(name: str, network: str, bridge: str) -> str:
    """A guest that just runs (TCG, no disk, no option ROM) with a NIC on ``network`` and one
    on its ``bridge`` by name."""
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <interface type='network'>
      <source network='{network}'/>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>
    <interface type='bridge'>
      <source bridge='{bridge}'/>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>
  </devices>
</domain>"""


def test_subnet_change_restarts_the_network_and_keeps_guests_on_the_bridge(
    system_uri: str, run_prefix: str
) -> None:
    name = f"{run_prefix}restart"

    def program(third: int):
        def run() -> None:
            libvirt.Network("lan", name=name, forward={"mode": "nat"}, ips=[subnet(third)])
        return run

    engine = make_engine(system_uri)
    conn = lv.open(system_uri)
    guest = netns = None
    try:
        result = engine.up(program(40))
        uuid, bridge = result.outputs["lan"]["uuid"], result.outputs["lan"]["bridge_name"]
        before = wait_for_dnsmasq(name)
        netns = Netns(before.pid)
        guest = conn.defineXML(_guest_xml(f"{run_prefix}guest", name, bridge))
        guest.create()
        taps = netns.links(bridge)
        assert len(taps) == 2  # the guest's taps (vnetN)
        bridge_index = netns.ifindex(bridge)

        plan = engine.preview(program(41))
        assert plan.ops == {"lan": "update"}  # a restart, not a replacement
        assert (f"network '{name}': changing ips takes effect by restarting it: its bridge and "
                "dnsmasq are made anew, and running guests attached to it are moved back onto "
                "the bridge") in engine.last_stderr
        result = engine.up(program(41))
        assert result.outputs["lan"]["uuid"] == uuid
        assert result.outputs["lan"]["bridge_name"] == bridge
        assert netns.ifindex(bridge) != bridge_index  # the bridge was made anew
        after = wait_for_dnsmasq(name, other_than=before.pid)
        assert after.option("dhcp-range").startswith("10.209.41.100,10.209.41.199")
        assert netns.links(bridge) == taps  # the running guest's NICs are on the new bridge
        assert guest.isActive()
        assert engine.preview(program(41)).empty
        assert engine.refresh().changes == {}
        assert engine.preview(program(41)).empty
    finally:
        if guest is not None:
            guest.destroy()
            guest.undefine()
        conn.close()
        engine.destroy()
        if netns is not None:
            netns.close()


def test_lifecycle_autostart_and_active_in_place(uri: str, run_prefix: str) -> None:
    system = uri != TEST_URI
    name = f"{run_prefix}state"

    def program(**state):
        def run() -> None:
            libvirt.Network("lan", name=name, forward={"mode": "nat"},
                            bridge={"stp": False}, ips=[subnet(50)], **state)
        return run

    engine = make_engine(uri)
    try:
        assert engine.preview(program()).ops == {"lan": "create"}
        if system:
            assert name not in network_names(uri)
        result = engine.up(program())
        lan = result.outputs["lan"]
        assert len(lan["uuid"]) == 36 and engine.resource("lan").id == lan["uuid"]
        assert lan["bridge"] == {"stp": False}  # libvirt's name and delay not shown
        assert lan["active"] is True and lan["autostart"] is True
        assert engine.preview(program()).empty

        # Both state inputs change in place; the definition stays.
        stopped = program(active=False, autostart=False)
        assert engine.preview(stopped).ops == {"lan": "update"}
        result = engine.up(stopped)
        assert result.outputs["lan"]["active"] is False
        assert result.outputs["lan"]["autostart"] is False
        assert engine.resource("lan").id == lan["uuid"]
        assert engine.preview(stopped).empty
        if system:
            info = virsh(uri, "net-info", name)
            assert "Active:         no" in info and "Autostart:      no" in info
            assert find_dnsmasq(name) is None

            # Behind our back: refresh shows it, the next preview puts it back.
            virsh(uri, "net-start", name)
            refresh = engine.refresh()
            assert refresh.changes["lan"]["active"] == (False, True)
            assert engine.preview(stopped).ops == {"lan": "update"}
            engine.up(stopped)
            assert "Active:         no" in virsh(uri, "net-info", name)

        # A DHCP host on the test driver too (its virNetworkUpdate edits the definition).
        def with_host() -> None:
            libvirt.Network("lan", name=name, forward={"mode": "nat"}, bridge={"stp": False},
                            ips=[subnet(50, hosts=[{"mac": "52:54:00:50:00:01",
                                                    "ip": "10.209.50.5"}])])

        engine.up(with_host)
        assert engine.preview(with_host).empty
        state = engine.resource("lan")
        assert state.outputs["ips"][0]["dhcp"]["hosts"] == [{"mac": "52:54:00:50:00:01",
                                                             "ip": "10.209.50.5"}]
        assert state.outputs["active"] is True

        engine.destroy()
        assert engine.state == {}
        if system:
            assert name not in network_names(uri)
        else:  # gone, as the same provider host sees it
            outputs = strip_secrets(state.outputs)
            assert engine.host.read(state.urn, state.id, outputs).id == ""
    finally:
        engine.destroy()
        engine.close()


def test_libvirt_refusals_at_create_name_network_host_and_cause(system_uri: str,
                                                                 run_prefix: str) -> None:
    conn = lv.open(system_uri)
    bridge = f"plv{run_prefix[5:11]}x"
    first = conn.networkDefineXML(
        f"<network><name>{run_prefix}first</name><bridge name='{bridge}'/>"
        "<ip address='10.209.60.1' prefix='24'/></network>")
    first.create()
    engine = make_engine(system_uri)
    try:
        same_subnet = f"{run_prefix}second"
        with pytest.raises(ProviderError) as error:
            engine.up(lambda: libvirt.Network("second", name=same_subnet,
                                              ips=[{"address": "10.209.60.2", "prefix": 24}]))
        assert str(error.value) == (
            f"cannot start network '{same_subnet}' on {system_uri}: 10.209.60.0/24 is already "
            f"routed through interface {bridge} (network '{run_prefix}first'); choose another "
            "subnet")

        same_bridge = f"{run_prefix}third"
        with pytest.raises(ProviderError) as error:
            engine.up(lambda: libvirt.Network("third", name=same_bridge,
                                              bridge={"name": bridge}))
        assert str(error.value) == (
            f"cannot define network '{same_bridge}' on {system_uri}: bridge name '{bridge}' is "
            f"already used by network '{run_prefix}first'")

        assert engine.state == {}
        assert not {same_subnet, same_bridge} & network_names(system_uri)

        # A change whose network cannot start takes nothing away: the old definition is put
        # back and running, and the update fails with the reason.
        def moving(third: int):
            return lambda: libvirt.Network("moving", name=same_subnet, ips=[subnet(third)])

        engine.up(moving(61))
        with pytest.raises(ProviderError) as error:
            engine.up(moving(60))
        assert str(error.value) == (
            f"cannot restart network '{same_subnet}' on {system_uri}: 10.209.60.0/24 is already "
            f"routed through interface {bridge} (network '{run_prefix}first'); choose another "
            "subnet")
        definition = virsh(system_uri, "net-dumpxml", "--inactive", same_subnet)
        assert "<ip address='10.209.61.1' prefix='24'>" in definition
        assert "Active:         yes" in virsh(system_uri, "net-info", same_subnet)
        assert engine.preview(moving(61)).empty
    finally:
        engine.destroy()
        first.destroy()
        first.undefine()
        conn.close()


def test_adopt_takes_over_a_network_like_debians_default(system_uri: str, run_prefix: str
                                                         ) -> None:
    """A network defined the way Debian's libvirt package defines ``default`` (generated
    UUID, MAC and bridge name), made outside Pulumi, then adopted and destroyed."""
    name = f"{run_prefix}default"
    conn = lv.open(system_uri)
    existing = conn.networkDefineXML(
        f"<network><name>{name}</name><forward mode='nat'/>"
        "<bridge stp='on' delay='0'/>"
        "<ip address='10.209.70.1' netmask='255.255.255.0'><dhcp>"
        "<range start='10.209.70.2' end='10.209.70.254'/></dhcp></ip></network>")
    uuid = existing.UUIDString()

    def program(adopt: bool):
        def run() -> None:
            libvirt.Network("default", name=name, forward={"mode": "nat"}, adopt=adopt,
                            ips=[{"address": "10.209.70.1", "netmask": "255.255.255.0",
                                  "dhcp": {"ranges": [{"start": "10.209.70.2",
                                                       "end": "10.209.70.254"}]}}])
        return run

    engine = make_engine(system_uri)
    try:
        with pytest.raises(ProviderError) as error:
            engine.up(program(False))
        assert str(error.value) == (
            f"network '{name}' already exists on {system_uri}. If it was made outside this "
            "program, set adopt=True to manage it; if another resource of this program names "
            "it, give one of them another name")
        result = engine.up(program(True))
        assert result.outputs["default"]["uuid"] == uuid
        assert result.outputs["default"]["active"] is True  # started, as asked
        assert "Autostart:      yes" in virsh(system_uri, "net-info", name)
        assert engine.preview(program(True)).empty
        assert engine.refresh().changes == {}
        assert engine.preview(program(True)).empty
        engine.destroy()
        assert name not in network_names(system_uri)
    finally:
        engine.destroy()
        try:
            existing.destroy()
        except lv.libvirtError:
            pass
        try:
            existing.undefine()
        except lv.libvirtError:
            pass
        conn.close()


def test_adopting_the_real_default_network_changes_nothing(system_uri: str) -> None:
    """Debian's own ``default`` network adopted as it is: nothing is redefined, started or
    stopped; the program then drops it from its state (``retain_on_delete``)."""
    conn = lv.open(system_uri)
    default = conn.networkLookupByName("default") if "default" in network_names(
        system_uri) else None
    if default is None:
        pytest.skip(f"{system_uri} has no 'default' network (Debian's libvirt package "
                    "defines it)")
    original = default.XMLDesc(lv.VIR_NETWORK_XML_INACTIVE)
    state = (default.isActive(), default.autostart())
    model = libvirt_model(original)

    def program() -> None:
        libvirt.Network("default", adopt=True, active=bool(state[0]), autostart=bool(state[1]),
                        **model)

    engine = make_engine(system_uri)
    try:
        result = engine.up(program)
        assert result.outputs["default"]["uuid"] == default.UUIDString()
        assert not any(c.method in ("Update", "Delete") for c in result.calls)
        assert engine.preview(program).empty
        assert engine.refresh().changes == {}
        assert engine.preview(program).empty
        engine.state.clear()  # what retain_on_delete does on destroy
        assert default.XMLDesc(lv.VIR_NETWORK_XML_INACTIVE) == original
        assert (default.isActive(), default.autostart()) == state
    finally:
        if default.XMLDesc(lv.VIR_NETWORK_XML_INACTIVE) != original:
            conn.networkDefineXML(original)
        if bool(default.isActive()) != bool(state[0]):
            default.create() if state[0] else default.destroy()
        if bool(default.autostart()) != bool(state[1]):
            default.setAutostart(state[1])
        conn.close()


def libvirt_model(definition: str) -> dict:
    """What a user would write for an existing network: its XML as our model, less what
    libvirt generated."""
    from pulumi_libvirt import xml

    model = xml.from_xml("network", definition)
    for generated in ("uuid", "mac"):
        model.pop(generated, None)
    return model


def _version(uri: str) -> tuple[int, int, int]:
    conn = lv.open(uri)
    try:
        number = conn.getLibVersion()
    finally:
        conn.close()
    return number // 1_000_000, number // 1000 % 1000, number % 1000


# libvirt 9.7.0 added <title> and <description> to networks.
TITLED = (9, 7, 0)


def test_title_of_libvirt_11_tables(system_uri: str, run_prefix: str) -> None:
    """A network with a <title>: accepted by check; kept and shown back without a diff by a
    libvirt that knows the element (9.7 and later); refused at create by an older one, naming
    the network, the host and libvirt's reason, with nothing left defined."""
    from pulumi_libvirt import xml

    assert "title" in xml.load("network").fields
    uri, name = system_uri, f"{run_prefix}titled"

    def program() -> None:
        libvirt.Network("lan", name=name, ips=[subnet(80)], title="Lab network")

    engine = make_engine(uri)
    try:
        assert engine.preview(program).ops == {"lan": "create"}  # check accepts it
        version = _version(uri)
        if version >= TITLED:
            result = engine.up(program)
            assert result.outputs["lan"]["title"] == "Lab network"
            assert "<title>Lab network</title>" in virsh(uri, "net-dumpxml", "--inactive", name)
            assert engine.preview(program).empty
            assert engine.refresh().changes == {}
            assert engine.preview(program).empty
            return
        with pytest.raises(ProviderError) as error:
            engine.up(program)
        message = str(error.value)
        assert message.startswith(
            f"cannot define network '{name}' on {uri}: the host's libvirt "
            f"{'.'.join(map(str, version))} does not accept this definition: XML document "
            "failed to validate against schema")
        assert "title" in message and "\n" not in message
        assert engine.state == {}
        assert name not in network_names(uri)
    finally:
        engine.destroy()


def test_an_element_the_host_does_not_know_is_refused_not_dropped(system_uri: str,
                                                                 run_prefix: str) -> None:
    """Defined with VIR_NETWORK_DEFINE_VALIDATE: without it libvirt drops what it does not know
    and the program would show a diff forever."""
    name = f"{run_prefix}unknown"

    def program() -> None:
        libvirt.Network("lan", name=name, ips=[subnet(81)],
                        dns={"_extra": {"elements": ["<cache size='100'/>"]}})

    engine = make_engine(system_uri)
    try:
        with pytest.raises(ProviderError) as error:
            engine.up(program)
        version = ".".join(map(str, _version(system_uri)))
        assert str(error.value).startswith(
            f"cannot define network '{name}' on {system_uri}: the host's libvirt {version} "
            "does not accept this definition: XML document failed to validate against schema")
        assert "cache" in str(error.value) and "\n" not in str(error.value)
        assert engine.state == {}
        assert name not in network_names(system_uri)
    finally:
        engine.destroy()


@pytest.mark.parametrize("lock", ["one process", "another process"])
def test_networks_defined_at_once_get_bridges_of_their_own(system_uri: str, run_prefix: str,
                                                           lock: str, monkeypatch) -> None:
    """libvirt gives networks defined at the same time the same virbrN (then the second fails
    to start: "File exists"). One provider process defines them one at a time; a define from
    another process (played here by a lock of its own per call) is given another bridge."""
    import threading

    from pulumi_libvirt.providers.network import definition

    if lock == "another process":
        monkeypatch.setattr(definition, "_define_lock", lambda conn: threading.Lock())
    conn = lv.open(system_uri)  # one connection, shared by the threads, as in the provider
    names = [f"{run_prefix}at-once-{r}-{i}" for r in range(5) for i in range(6)]
    try:
        for r in range(5):
            batch = names[r * 6:(r + 1) * 6]
            threads = [threading.Thread(target=definition.define, args=(conn, {"name": n}))
                       for n in batch]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            bridges = [conn.networkLookupByName(n).bridgeName() for n in batch]
            assert len(set(bridges)) == len(bridges), bridges
    finally:
        for net in conn.listAllNetworks():
            if net.name() in names:
                net.undefine()
        conn.close()
