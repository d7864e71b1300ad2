"""Virtual networks: define (validated by libvirt), start, autostart; DHCP, DNS, port group and
forward interface lists edited live with virNetworkUpdate; other changes redefine the network
and restart it, moving running guests back onto its bridge; stop and undefine."""

from __future__ import annotations

import libvirt

from ... import xml
from ...xml import Problem, has_unknown
from ..base import CLAIMS, INPUT_KEYS, RESOURCE_NAME, Input, ResourceLogic, get_path, set_state
from .checks import bridge_problems, forward_problems, ip_problems, subnets
from .definition import bridge_name, define, definition
from .errors import refusals
from .live import apply_edits, plan, same_outside_sections
from .model import KIND, pruned, underived
from .restart import redefine


class NetworkLogic(ResourceLogic):
    """A libvirt virtual network (NAT, routed, isolated, open, bridged, macvtap, hostdev)."""

    kind = KIND
    type_name = "Network"
    noun = "network"
    lookup_by_uuid = "networkLookupByUUIDString"
    lookup_by_name = "networkLookupByName"
    inputs = (
        Input("autostart", "bool", "Start the network when libvirtd starts.", default=True,
              live=True),
        Input("active", "bool", "Keep the network started.", default=True, live=True),
    )
    read_only_xml = frozenset({"connections"})
    computed = {
        "uuid": ("string", "The network's UUID (the resource id)."),
        "bridge_name": ("string", "The network's bridge: bridge.name as given, or the name "
                                  "libvirt picked (virbrN)."),
    }
    restart_note = ("takes effect by restarting it: its bridge and dnsmasq are made anew, and "
                    "running guests attached to it are moved back onto the bridge")

    # ------------------------------------------------------------ check and diff

    def desired_model(self, props: dict, keys=None) -> dict:
        """As written, less what libvirt drops as meaningless: empty lists, and a ``dns`` or
        ``dhcp`` left empty (``dns={"hosts": []}`` is no DNS host, as libvirt reads it back)."""
        return pruned(super().desired_model(props, keys))

    def validate(self, olds: dict, news: dict) -> list[Problem]:
        problems = []
        if news.get("name") is None:
            problems.append(Problem("name", "required: the network's name"))
        model = self.desired_model(news)
        problems += forward_problems(model)
        problems += ip_problems(model)
        problems += bridge_problems(model)
        return problems

    def _claim(self, news: dict) -> list[Problem]:
        """Besides the network itself, its bridge: two networks of a program cannot share one
        (known at preview when both names are; else libvirt refuses the second at create)."""
        problems = super()._claim(news)
        owner = news.get(RESOURCE_NAME)
        bridge = get_path(self.desired_model(news, keys=["bridge"]), "bridge.name")
        if not isinstance(owner, str) or not isinstance(bridge, str) or has_unknown(
            news.get("uri")
        ):
            return problems
        uri = self.uri(news)
        other = CLAIMS.claim(("network bridge", uri, bridge), owner)
        if other is not None:
            problems.append(Problem("bridge.name", f"another resource of this program, "
                                    f"'{other}', already uses bridge '{bridge}' on {uri}: two "
                                    "networks cannot share a bridge; give one of them another "
                                    "bridge.name, or leave it out for libvirt to pick one"))
        return problems

    def diff(self, olds: dict, news: dict):
        result = super().diff(olds, news)
        if result.reboot and not result.replaces:
            before = set(self.user_keys(olds)) if INPUT_KEYS in olds else set(olds)
            old = self.desired_model(olds, keys=before)
            new = self.desired_model(news, keys=self.written_keys(news))
            if not has_unknown(new) and same_outside_sections(old, new):
                result.reboot = []  # only live-edited lists change: no restart
        return result

    def same_identity(self, olds: dict, news: dict) -> bool:
        """A replacement that keeps the name, the bridge or a subnet of the old network
        collides with it: the old one must go first."""
        if super().same_identity(olds, news):
            return True
        if self.uri(news) != olds.get("uri"):
            return False
        bridge = get_path(self.desired_model(news, keys=["bridge"]), "bridge.name")
        if bridge is not None and bridge == olds.get("bridge_name"):
            return True
        return bool(subnets(self.desired_model(olds, keys=["ips", "ip"]))
                    & subnets(self.desired_model(news, keys=["ips", "ip"])))

    # ------------------------------------------------------------ libvirt

    def snapshot(self, net, props: dict, user_keys) -> dict:
        model = definition(net)
        computed = {"uuid": net.UUIDString(), "bridge_name": bridge_name(net, model)}
        live = {"autostart": bool(net.autostart()), "active": bool(net.isActive())}
        return self.outputs(props, user_keys, model, live, computed)

    def make(self, conn, props: dict, what: str, uri: str):
        model = self.desired_model(props)
        with refusals(conn, what, uri, "define", model):
            net = define(conn, model)
        try:
            with refusals(conn, what, uri, "start", model):
                _set_state(net, props)
        except BaseException:
            _remove_quietly(net)
            raise
        return net

    def apply(self, net, olds: dict, news: dict, what: str, uri: str) -> None:
        """Edit the lists libvirt edits live; redefine and restart for anything else."""
        live = definition(net)
        before = self.desired_model(olds, keys=self.user_keys(olds))
        written = self.desired_model(news)
        wanted = xml.merge(KIND, live, written, before)
        if xml.canonical_xml(xml.to_xml(KIND, wanted)) != xml.canonical_xml(
            xml.to_xml(KIND, live)
        ):
            edits = plan(live, wanted)
            if edits is None:
                redefine(net, live, underived(wanted, written), what, uri)
            else:
                apply_edits(net, edits, what, uri)
        with refusals(net.connect(), what, uri, "start", wanted):
            _set_state(net, news)

    def remove(self, net, outs: dict) -> None:
        _remove(net)


def _set_state(net: libvirt.virNetwork, props: dict) -> None:
    set_state(net, props.get("active", True), bool(props.get("autostart", True)))


def _remove(net: libvirt.virNetwork) -> None:
    if net.isActive():
        net.destroy()
    if net.isPersistent():
        net.undefine()


def _remove_quietly(net: libvirt.virNetwork) -> None:
    try:
        _remove(net)
    except libvirt.libvirtError:
        pass  # the original error says more
