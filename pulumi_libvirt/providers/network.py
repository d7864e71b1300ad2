"""Virtual networks: define (validated by libvirt), start, autostart; DHCP, DNS, port group and
forward interface lists edited live with virNetworkUpdate; other changes redefine the network
and restart it, moving running guests back onto its bridge; stop and undefine."""

from __future__ import annotations

import copy
import ipaddress
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import libvirt
from lxml import etree

from .. import xml
from ..connection import LibvirtError, described, or_none
from ..xml import UNKNOWN, Problem, has_unknown
from ..xml.policy import IDENTITY
from ..xml.spec import Child, field_of
from .base import (
    CLAIMS,
    INPUT_KEYS,
    RESOURCE_NAME,
    Input,
    ResourceLogic,
    get_path,
    persistent_xml,
    set_path,
    set_state,
)

KIND = "network"

# Forward modes whose bridge libvirt makes (and unmakes on every restart).
_OWN_BRIDGE = {None, "nat", "route", "open"}
# Forward modes that hand the guest a host device or a macvtap: libvirt runs no addresses.
_DEVICE_MODES = {"bridge", "private", "vepa", "passthrough", "hostdev"}
# Containers that mean nothing once their live-edited lists are gone.
_EMPTY_MEANS_ABSENT = ("dhcp", "dns")


class NetworkLogic(ResourceLogic):
    """A libvirt virtual network (NAT, routed, isolated, open, bridged, macvtap, hostdev)."""

    kind = KIND
    type_name = "Network"
    noun = "network"
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
        return _pruned(super().desired_model(props, keys))

    def validate(self, olds: dict, news: dict) -> list[Problem]:
        problems = []
        if news.get("name") is None:
            problems.append(Problem("name", "required: the network's name"))
        model = self.desired_model(news)
        problems += _forward_problems(model)
        problems += _ip_problems(model)
        name = get_path(model, "bridge.name")
        if isinstance(name, str) and len(name) > 15:
            problems.append(Problem("bridge.name", f"at most 15 characters (a Linux interface "
                                                   f"name), got {len(name)}: {name!r}"))
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
        return bool(_subnets(self.desired_model(olds, keys=["ips", "ip"]))
                    & _subnets(self.desired_model(news, keys=["ips", "ip"])))

    # ------------------------------------------------------------ libvirt

    def lookup(self, conn, id_: str, fresh: bool = False):
        return or_none(conn.networkLookupByUUIDString, id_)

    def find(self, conn, props: dict, uri: str):
        return or_none(conn.networkLookupByName, props["name"])

    def identify(self, net) -> str:
        return net.UUIDString()

    def snapshot(self, net, props: dict, user_keys) -> dict:
        model = xml.from_xml(KIND, _definition(net))
        computed = {"uuid": net.UUIDString(), "bridge_name": _bridge_name(net, model)}
        live = {"autostart": bool(net.autostart()), "active": bool(net.isActive())}
        return self.outputs(props, user_keys, model, live, computed)

    def make(self, conn, props: dict, what: str, uri: str):
        model = self.desired_model(props)
        with _refusals(conn, what, uri, "define", model):
            net = conn.networkDefineXMLFlags(xml.to_xml(KIND, model), _VALIDATE)
        try:
            with _refusals(conn, what, uri, "start", model):
                _set_state(net, props)
        except BaseException:
            _remove_quietly(net)
            raise
        return net

    def apply(self, net, olds: dict, news: dict, what: str, uri: str) -> None:
        """Edit the lists libvirt edits live; redefine and restart for anything else."""
        live = xml.from_xml(KIND, _definition(net))
        before = self.desired_model(olds, keys=self.user_keys(olds))
        wanted = xml.merge(KIND, live, self.desired_model(news), before)
        if xml.canonical_xml(xml.to_xml(KIND, wanted)) != xml.canonical_xml(
            xml.to_xml(KIND, live)
        ):
            edits = plan(live, wanted)
            if edits is None:
                _redefine(net, live, wanted, what, uri)
            else:
                _edit(net, edits, what, uri)
        with _refusals(net.connect(), what, uri, "start", wanted):
            _set_state(net, news)

    def remove(self, net, outs: dict) -> None:
        _remove(net)


# ---------------------------------------------------------------- live edits


@dataclass(frozen=True)
class Section:
    """A list of a network's XML that libvirt edits item by item, live (virNetworkUpdate)."""

    path: str  # model path of the list
    code: int  # VIR_NETWORK_SECTION_*
    noun: str  # in messages
    modify: bool  # libvirt changes an item in place; else it is deleted and added


# The network rows of policy.UPDATE_MODES that are "live" (a test keeps them in step).
SECTIONS = (
    Section("ips.dhcp.hosts", libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST, "DHCP host", True),
    Section("ips.dhcp.ranges", libvirt.VIR_NETWORK_SECTION_IP_DHCP_RANGE, "DHCP range", False),
    Section("dns.hosts", libvirt.VIR_NETWORK_SECTION_DNS_HOST, "DNS host", False),
    Section("dns.txts", libvirt.VIR_NETWORK_SECTION_DNS_TXT, "DNS TXT record", False),
    Section("dns.srvs", libvirt.VIR_NETWORK_SECTION_DNS_SRV, "DNS SRV record", False),
    Section("portgroups", libvirt.VIR_NETWORK_SECTION_PORTGROUP, "port group", True),
    Section("forward.interfaces", libvirt.VIR_NETWORK_SECTION_FORWARD_INTERFACE,
            "forward interface", False),
)

ADD = libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST
DELETE = libvirt.VIR_NETWORK_UPDATE_COMMAND_DELETE
MODIFY = libvirt.VIR_NETWORK_UPDATE_COMMAND_MODIFY
_VERBS = {ADD: ("add", "to"), DELETE: ("delete", "from"), MODIFY: ("change", "of")}


@dataclass(frozen=True)
class Edit:
    """One virNetworkUpdate call."""

    command: int  # ADD, DELETE or MODIFY
    section: Section
    parent: int  # index of the <ip> for DHCP lists, else -1
    item: Any  # the item's model

    def xml(self) -> str:
        return fragment(self.section.path, self.item)

    def describe(self) -> str:
        """Reads after "cannot ": "add DHCP host (mac=…, ip=…) to"."""
        verb, preposition = _VERBS[self.command]
        return f"{verb} {self.section.noun} ({_brief(self.item)}) {preposition}"


def plan(live: dict, wanted: dict) -> list[Edit] | None:
    """The edits that turn the ``live`` definition into ``wanted``, or None when the two differ
    outside the live-edited lists too (then the network is redefined and restarted)."""
    if not same_outside_sections(live, wanted):
        return None
    edits: list[Edit] = []
    for section in SECTIONS:
        for parent, before, after in _lists(section, live, wanted):
            edits += _list_edits(section, parent, before, after)
    return edits


def same_outside_sections(a: dict, b: dict) -> bool:
    """Whether two network models mean the same once the live-edited lists are left out."""
    return xml.same(KIND, xml.load(KIND), without_sections(a), without_sections(b))


def without_sections(model: dict) -> dict:
    """A copy of ``model`` without the live-edited lists (and containers they leave empty)."""
    model = plural_form(model)
    for section in SECTIONS:
        _drop(model, section.path.split("."))
    return model


def plural_form(model: dict) -> dict:
    """A copy of ``model`` with every list under its own key (``ip={...}`` as ``ips=[{...}]``):
    the form libvirt's XML reads back as."""
    def plural(spec, value: Any) -> Any:
        if not isinstance(value, dict):
            return copy.deepcopy(value) if isinstance(value, list) else value
        result: dict = {}
        for key, item in value.items():
            field, singular = field_of(spec, key)
            if not isinstance(field, Child) or item is None:
                result[key] = copy.deepcopy(item) if isinstance(item, (dict, list)) else item
            elif field.many:
                items = item if isinstance(item, (list, tuple)) and not singular else [item]
                result.setdefault(field.key, []).extend(plural(field.spec, i) for i in items)
            else:
                result[key] = plural(field.spec, item)
        return result

    return plural(xml.load(KIND), model)


def _pruned(model: dict) -> dict:
    def prune(value: Any) -> Any:
        if isinstance(value, list):
            return [prune(item) for item in value]
        if not isinstance(value, dict):
            return value
        result = {}
        for key, item in value.items():
            item = prune(item)
            if item == [] or (item == {} and key in _EMPTY_MEANS_ABSENT):
                continue
            result[key] = item
        return result

    return prune(model)


def _drop(value: Any, steps: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _drop(item, steps)
        return
    if not isinstance(value, dict):
        return
    if len(steps) == 1:
        value.pop(steps[0], None)
        return
    inner = value.get(steps[0])
    _drop(inner, steps[1:])
    if inner == {} and steps[0] in _EMPTY_MEANS_ABSENT:
        del value[steps[0]]


def _lists(section: Section, live: dict, wanted: dict) -> Iterator[tuple[int, list, list]]:
    """(parent index, live items, wanted items) of each list the section covers."""
    head, _, rest = section.path.partition(".")
    if head == "ips":  # the structure around the lists is the same on both sides
        pairs = zip(live.get("ips") or [], wanted.get("ips") or [], strict=False)
        for index, (old, new) in enumerate(pairs):
            yield index, get_path(old, rest) or [], get_path(new, rest) or []
    else:
        yield -1, get_path(live, section.path) or [], get_path(wanted, section.path) or []


def _list_edits(section: Section, parent: int, before: list, after: list) -> list[Edit]:
    spec = _spec(section.path)
    old = [xml.canonical(KIND, spec, item, section.path) for item in before]
    new = [xml.canonical(KIND, spec, item, section.path) for item in after]
    kept: dict[int, int] = {}  # live index -> wanted index, for items that stay as they are
    for j, item in enumerate(new):
        i = next((i for i, o in enumerate(old) if i not in kept and o == item), None)
        if i is not None:
            kept[i] = j
    gone = [i for i in range(len(old)) if i not in kept]
    added = [j for j in range(len(new)) if j not in kept.values()]
    changed: dict[int, int] = {}  # live index -> wanted index, changed in place
    if section.modify:
        for j in list(added):
            ident = _identity(section, after[j])
            i = next((i for i in gone if ident is not None
                      and _identity(section, before[i]) == ident), None)
            if i is not None:
                gone.remove(i)
                added.remove(j)
                changed[i] = j
    order = [{**kept, **changed}[i] for i in range(len(old)) if i not in gone] + added
    if order != list(range(len(new))) and not _order_free(section, after):
        # Items are matched by position: rebuild the list from where it first differs.
        start = next((k for k, (o, n) in enumerate(zip(old, new, strict=False)) if o != n),
                     min(len(old), len(new)))
        gone, changed, added = list(range(start, len(old))), {}, list(range(start, len(new)))
    return (
        [Edit(DELETE, section, parent, before[i]) for i in reversed(gone)]
        + [Edit(MODIFY, section, parent, after[j]) for j in changed.values()]
        + [Edit(ADD, section, parent, after[j]) for j in added]
    )


def _identity(section: Section, item: Any) -> Any:
    """The item's identity key (policy.IDENTITY) in comparable form, or None."""
    rule = IDENTITY.get((KIND, section.path))
    if rule is None or not isinstance(item, dict):
        return None
    parts = rule if isinstance(rule, tuple) else (rule,)
    picked: dict = {}
    for part in parts:
        value = get_path(item, part)
        if value is None:
            return None
        set_path(picked, part, value)
    return repr(xml.canonical(KIND, _spec(section.path), picked, section.path))


def _order_free(section: Section, items: list) -> bool:
    """Whether the list's order is not compared (every item is matched by identity)."""
    return all(_identity(section, item) is not None for item in items)


def _spec(path: str):
    spec = xml.load(KIND)
    for step in path.split("."):
        spec = spec.fields[step].spec
    return spec


def fragment(path: str, item: Any) -> str:
    """The XML of one list item at ``path`` (``ips.dhcp.hosts`` -> ``<host .../>``)."""
    spec, doc, tags = xml.load(KIND), {}, []
    cursor = doc
    steps = path.split(".")
    for position, step in enumerate(steps):
        child = spec.fields[step]
        tags.append(child.tag)
        value = item if position == len(steps) - 1 else {}
        cursor[step] = [value] if child.many else value
        cursor, spec = value, child.spec
    root = etree.fromstring(xml.to_xml(KIND, doc).encode())
    return etree.tostring(root.find("/".join(tags)), encoding="unicode").strip()


def _brief(item: Any) -> str:
    if not isinstance(item, dict):
        return repr(item)
    return ", ".join(f"{key}={value}" for key, value in item.items()
                     if not isinstance(value, (dict, list)))


def _edit(net: libvirt.virNetwork, edits: list[Edit], what: str, uri: str) -> None:
    flags = libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
    if net.isActive():
        flags |= libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE
    for edit in edits:
        with described(what, uri, edit.describe()):
            net.update(edit.command, edit.section.code, edit.parent, edit.xml(), flags)


# ---------------------------------------------------------------- redefine and restart


def _redefine(net: libvirt.virNetwork, live: dict, wanted: dict, what: str, uri: str) -> None:
    """Redefine; restart a running network. If it cannot start again, the old definition is
    put back and started, so a failed change takes nothing away."""
    conn = net.connect()
    with _refusals(conn, what, uri, "redefine", wanted):
        conn.networkDefineXMLFlags(xml.to_xml(KIND, wanted), _VALIDATE)
    if not net.isActive():
        return
    guests = _attached_guests(conn, net, live)
    with _replugging(conn, net, guests, what, uri) as replug:
        with described(what, uri, "stop"):
            net.destroy()
        try:
            with _refusals(conn, what, uri, "restart", wanted):
                net.create()
        except LibvirtError:
            try:
                conn.networkDefineXMLFlags(xml.to_xml(KIND, live), 0)
                net.create()
                replug()
            except libvirt.libvirtError:
                pass  # the original error says more
            raise
        replug()


def _attached_guests(conn: libvirt.virConnect, net: libvirt.virNetwork, model: dict) -> list:
    """(domain, <interface>) of running guests plugged into the bridge a restart remakes."""
    if get_path(model, "forward.mode") not in _OWN_BRIDGE:
        return []
    name, bridge = net.name(), _bridge_name(net, model)
    found = []
    for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
        try:
            root = etree.fromstring(dom.XMLDesc(0).encode())
        except libvirt.libvirtError:
            continue  # stopped meanwhile
        for iface in root.iterfind("devices/interface"):
            source = iface.find("source")
            if source is None:
                continue
            on_network = iface.get("type") == "network" and source.get("network") == name
            on_bridge = iface.get("type") == "bridge" and bridge and source.get("bridge") == bridge
            if on_network or on_bridge:
                found.append((dom, iface))
    return found


@contextmanager
def _replugging(conn, net: libvirt.virNetwork, guests: list, what: str, uri: str
                ) -> Iterator[Any]:
    """A function that puts the taps of running guests back onto the network's new bridge.

    libvirt (9.0) leaves them off it after a restart. Changing a live interface's bridge moves
    its tap (virDomainUpdateDeviceFlags), but only to a bridge of another name: each tap goes
    to a transient bridge of no network and back, and the guest's link stays up throughout.
    The transient bridge is made before the network stops (and removed afterwards), so guests
    are cut off for the restart itself only.
    """
    if not guests:
        yield lambda: None
        return
    hop = conn.networkCreateXML(f"<network><name>{net.name()}-replug-{secrets.token_hex(3)}"
                                "</name></network>")

    def replug() -> None:
        bridge = _bridge_name(net, xml.from_xml(KIND, net.XMLDesc(0)))
        for dom, iface in guests:
            try:
                dom.updateDeviceFlags(_plugged(iface, hop.name(), hop.bridgeName(), hop=True),
                                      libvirt.VIR_DOMAIN_AFFECT_LIVE)
                dom.updateDeviceFlags(_plugged(iface, net.name(), bridge, hop=False),
                                      libvirt.VIR_DOMAIN_AFFECT_LIVE)
            except libvirt.libvirtError as exc:
                mac = iface.find("mac").get("address") if iface.find("mac") is not None else "?"
                reason = " ".join((exc.get_error_message() or str(exc)).split())
                sys.stderr.write(f"warning: {what} on {uri} restarted, but guest "
                                 f"'{dom.name()}' interface {mac} could not be put back on its "
                                 f"bridge ({reason}): it has no link until it restarts\n")

    try:
        yield replug
    finally:
        try:
            hop.destroy()
        except libvirt.libvirtError:
            pass


def _plugged(iface: etree._Element, network: str, bridge: str | None, hop: bool) -> str:
    """The live <interface> pointed at ``network`` (or, for a bridge interface, ``bridge``)."""
    iface = copy.deepcopy(iface)
    source = iface.find("source")
    if iface.get("type") == "network":
        keep = {"network"} if hop else {"network", "portgroup"}
        for attr in [a for a in source.attrib if a not in keep]:
            del source.attrib[attr]
        source.set("network", network)
    else:
        source.set("bridge", bridge)
    return etree.tostring(iface, encoding="unicode")


# ---------------------------------------------------------------- state and errors

_VALIDATE = libvirt.VIR_NETWORK_DEFINE_VALIDATE


def _set_state(net: libvirt.virNetwork, props: dict) -> None:
    set_state(net, props.get("active", True), bool(props.get("autostart", True)))


def _definition(net: libvirt.virNetwork) -> str:
    return persistent_xml(net, libvirt.VIR_NETWORK_XML_INACTIVE)


def _bridge_name(net: libvirt.virNetwork, model: dict) -> str | None:
    name = get_path(model, "bridge.name")
    if name:
        return name
    try:
        return net.bridgeName()
    except libvirt.libvirtError:
        return None  # macvtap and hostdev networks have none; the test driver picks none


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


@contextmanager
def _refusals(conn, what: str, uri: str, action: str, model: dict) -> Iterator[None]:
    """libvirt's refusals in one line naming the network, the host and the cause."""
    try:
        yield
    except libvirt.libvirtError as exc:
        raise LibvirtError(f"cannot {action} {what} on {uri}: {_cause(conn, exc, model)}"
                           ) from None


def _cause(conn, exc: libvirt.libvirtError, model: dict) -> str:
    message = " ".join((exc.get_error_message() or str(exc)).split()).rstrip(".")
    taken = re.search(r"bridge name '([^']+)' already in use", message)
    if taken:
        other = _network_with_bridge(conn, taken.group(1), model.get("name"))
        owner = f"network '{other}'" if other else "another interface of the host"
        return f"bridge name '{taken.group(1)}' is already used by {owner}"
    routed = re.search(r"already in use by interface (\S+)", message)
    if routed:
        device = routed.group(1).rstrip(".,")
        other = _network_with_bridge(conn, device, model.get("name"))
        subnets = ", ".join(sorted(str(s) for s in _subnets(model))) or "its subnet"
        return (f"{subnets} is already routed through interface {device}"
                + (f" (network '{other}')" if other else "") + "; choose another subnet")
    if "qdisc kind is unknown" in message:
        return (f"{message} (bandwidth limits need the traffic control qdiscs htb and sfq of "
                "the libvirt host's kernel)")
    if exc.get_error_code() == libvirt.VIR_ERR_XML_INVALID_SCHEMA:
        major, rest = divmod(conn.getLibVersion(), 1_000_000)
        version = f"{major}.{rest // 1000}.{rest % 1000}"
        return f"the host's libvirt {version} does not accept this definition: {message}"
    return message


def _network_with_bridge(conn, bridge: str, besides: Any) -> str | None:
    for net in conn.listAllNetworks():
        if net.name() == besides:
            continue
        try:
            if _bridge_name(net, xml.from_xml(KIND, net.XMLDesc(0))) == bridge:
                return net.name()
        except libvirt.libvirtError:
            continue
    return None


# ---------------------------------------------------------------- input checks


def _entries(parent: Any, path: str, where: str = "") -> list[tuple[str, dict]]:
    """The items of the list at model path ``path`` (``ips``, ``ips.dhcp.hosts``) in
    ``parent``, each with its path as the user wrote it: ``ips[0]``, or ``ip`` for one item
    written under the list's singular."""
    if not isinstance(parent, dict):
        return []
    *head, last = path.split(".")
    spec = _spec(".".join(head)) if head else xml.load(KIND)
    found = []
    for key, value in parent.items():
        field, singular = field_of(spec, key)
        if field is None or field.key != last or value is None:
            continue
        at = f"{where}.{key}" if where else key
        if isinstance(value, (list, tuple)) and not singular:
            found += [(f"{at}[{i}]", v) for i, v in enumerate(value) if isinstance(v, dict)]
        elif isinstance(value, dict):
            found.append((at, value))
    return found


def _address(value: Any):
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None  # the schema's pattern check says what is wrong


def _classful_prefix(address: ipaddress.IPv4Address) -> int | None:
    """libvirt's netmask for an IPv4 address given without prefix or netmask."""
    first = int(address) >> 24
    return 8 if first < 128 else 16 if first < 192 else 24 if first < 224 else None


def _subnet(ip: dict, where: str, problems: list[Problem]):
    """The subnet an <ip> element declares, or None (problems are added)."""
    address = _address(ip.get("address"))
    if address is None:
        return None
    family, prefix, netmask = ip.get("family"), ip.get("prefix"), ip.get("netmask")
    if address.version == 6 and family not in ("ipv6", UNKNOWN):
        problems.append(Problem(f"{where}.family", f"an IPv6 address ({address}) needs "
                                                   "family='ipv6'"))
    if address.version == 4 and family == "ipv6":
        problems.append(Problem(f"{where}.family", f"family='ipv6' but {address} is an IPv4 "
                                                   "address"))
    if UNKNOWN in (prefix, netmask):
        return None
    if prefix is not None and netmask is not None:
        problems.append(Problem(f"{where}.netmask", "give prefix or netmask, not both"))
        return None
    if netmask is not None:
        if address.version == 6:
            problems.append(Problem(f"{where}.netmask", "an IPv6 address takes a prefix, not a "
                                                        "netmask"))
            return None
        try:
            prefix = ipaddress.IPv4Network(f"0.0.0.0/{netmask}").prefixlen
        except ValueError:
            problems.append(Problem(f"{where}.netmask", f"expected a netmask such as "
                                                        f"'255.255.255.0', got {netmask!r}"))
            return None
    elif prefix is None:
        prefix = 64 if address.version == 6 else _classful_prefix(address)
        if prefix is None:
            return None
    if not isinstance(prefix, int) or isinstance(prefix, bool):
        return None
    limit = 32 if address.version == 4 else 128
    if not 0 <= prefix <= limit:
        problems.append(Problem(f"{where}.prefix", f"expected a prefix length of 0 to {limit} "
                                                   f"for an IPv{address.version} address, got "
                                                   f"{prefix}"))
        return None
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


def _subnets(model: dict) -> set:
    return {net for where, ip in _entries(model, "ips")
            if (net := _subnet(ip, where, [])) is not None}


def _ip_problems(model: dict) -> list[Problem]:
    problems: list[Problem] = []
    serving: dict[int, str] = {}  # IP version -> the <ip> whose DHCP serves it
    for where, ip in _entries(model, "ips"):
        subnet = _subnet(ip, where, problems)
        dhcp = ip.get("dhcp")
        if subnet is None or not isinstance(dhcp, dict):
            continue
        ranges = _entries(dhcp, "ips.dhcp.ranges", f"{where}.dhcp")
        hosts = _entries(dhcp, "ips.dhcp.hosts", f"{where}.dhcp")
        if ranges or hosts:
            if subnet.version in serving:
                problems.append(Problem(f"{where}.dhcp", f"only one IPv{subnet.version} "
                                        f"address of a network can serve DHCP; "
                                        f"{serving[subnet.version]}.dhcp does already"))
            serving.setdefault(subnet.version, where)
        problems += _range_problems(subnet, ranges)
        problems += _host_problems(subnet, hosts)
    return problems


def _range_problems(subnet, ranges: list[tuple[str, dict]]) -> list[Problem]:
    problems, spans = [], []
    for path, span in ranges:
        start, end = _address(span.get("start")), _address(span.get("end"))
        if start is None or end is None:
            continue
        outside = [str(a) for a in (start, end) if a.version != subnet.version or a not in subnet]
        if outside:
            problems.append(Problem(path, f"{start} - {end} is not inside the network's subnet "
                                          f"{subnet} ({' and '.join(outside)} outside)"))
        elif start > end:
            problems.append(Problem(path, f"reversed: start {start} comes after end {end}"))
        else:
            for other, first, last in spans:
                if start <= last and first <= end:
                    problems.append(Problem(path, f"{start} - {end} overlaps {other} "
                                                  f"({first} - {last})"))
                    break
            spans.append((path, start, end))
    return problems


def _host_problems(subnet, hosts: list[tuple[str, dict]]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[tuple, str] = {}
    for path, host in hosts:
        if subnet.version == 4 and host.get("mac") is None and host.get("name") is None:
            problems.append(Problem(path, "a DHCP host of an IPv4 network needs mac or name "
                                          "(which client gets the address)"))
        if subnet.version == 6 and host.get("id") is None and host.get("name") is None:
            problems.append(Problem(path, "a DHCP host of an IPv6 network needs id (the "
                                          "client's DUID) or name"))
        address = _address(host.get("ip"))
        if address is not None and (address.version != subnet.version or address not in subnet):
            problems.append(Problem(f"{path}.ip", f"{address} is not inside the network's "
                                                  f"subnet {subnet}"))
        for key in ("mac", "id", "name", "ip"):
            value = host.get(key)
            if not isinstance(value, str):
                continue
            mark = (key, value.lower())
            if mark in seen:
                problems.append(Problem(f"{path}.{key}", f"{value} is also the {key} of "
                                                         f"{seen[mark]}"))
            seen.setdefault(mark, path)
    return problems


def _forward_problems(model: dict) -> list[Problem]:
    forward = model.get("forward")
    if not isinstance(forward, dict):
        return []
    mode = forward.get("mode", "nat")
    if mode is UNKNOWN:
        return []
    problems = []
    interfaces = _entries(forward, "forward.interfaces", "forward")
    devices = [k for k in ("dev", "pf") if forward.get(k)] + [path for path, _ in interfaces]
    if mode in ("private", "vepa", "passthrough") and not devices:
        problems.append(Problem("forward.interfaces", f"forward mode '{mode}' needs the host's "
                                "network devices: forward.interfaces ([{'dev': 'eth0'}, ...]), "
                                "forward.dev or forward.pf"))
    if mode == "hostdev" and not (_entries(forward, "forward.addresses") or forward.get("pf")):
        problems.append(Problem("forward.addresses", "forward mode 'hostdev' needs the SR-IOV "
                                "virtual functions to hand out: forward.addresses ([{'type': "
                                "'pci', 'domain': 0, 'bus': 3, 'slot': 16, 'function': 1}, "
                                "...]) or forward.pf ({'dev': 'eth0'})"))
    if mode == "bridge" and not devices and get_path(model, "bridge.name") is None:
        problems.append(Problem("forward", "forward mode 'bridge' needs an existing host bridge "
                                "(bridge.name) or host devices to share through macvtap "
                                "(forward.interfaces, forward.dev or forward.pf)"))
    ips = _entries(model, "ips")
    if mode in _DEVICE_MODES and ips:
        key = ips[0][0].split("[")[0]  # as written: ips or ip
        problems.append(Problem(key, f"a network with forward mode '{mode}' has no addresses "
                                f"of its own (no DHCP, DNS or routing by libvirt): leave {key} "
                                "out"))
    nat = forward.get("nat")
    if isinstance(nat, dict):
        if mode != "nat":
            problems.append(Problem("forward.nat", f"only for forward mode 'nat', not '{mode}'"))
        start, end = _address(get_path(nat, "address.start")), _address(get_path(nat,
                                                                                "address.end"))
        if start is not None and end is not None and start > end:
            problems.append(Problem("forward.nat.address", f"reversed: start {start} comes "
                                                           f"after end {end}"))
        first, last = get_path(nat, "port.start"), get_path(nat, "port.end")
        for key, port in (("start", first), ("end", last)):
            if isinstance(port, int) and not 0 <= port <= 65535:
                problems.append(Problem(f"forward.nat.port.{key}", f"expected a port number "
                                                                    f"(0 to 65535), got {port}"))
        if isinstance(first, int) and isinstance(last, int) and first > last:
            problems.append(Problem("forward.nat.port", f"reversed: start {first} comes after "
                                                        f"end {last}"))
    return problems
