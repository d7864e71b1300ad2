"""Changes libvirt makes to a network as it runs (virNetworkUpdate): DHCP hosts and ranges,
DNS records, port groups and forward interfaces, item by item. ``plan`` computes the edits
from the live and the wanted definition, matching items by identity (``policy.IDENTITY``)
where they have one, else by position; ``apply_edits`` makes them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import libvirt
from lxml import etree

from ... import xml
from ...connection import described
from ...xml.policy import IDENTITY
from ..base import get_path, set_path
from .model import KIND, drop, plural_form, spec_at


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
        drop(model, section.path.split("."))
    return model


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
    spec = spec_at(section.path)
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
    return repr(xml.canonical(KIND, spec_at(section.path), picked, section.path))


def _order_free(section: Section, items: list) -> bool:
    """Whether the list's order is not compared (every item is matched by identity)."""
    return all(_identity(section, item) is not None for item in items)


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


def apply_edits(net: libvirt.virNetwork, edits: list[Edit], what: str, uri: str) -> None:
    """Make the edits, to the definition and, while the network runs, to the network."""
    flags = libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
    if net.isActive():
        flags |= libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE
    for edit in edits:
        with described(what, uri, edit.describe()):
            net.update(edit.command, edit.section.code, edit.parent, edit.xml(), flags)

