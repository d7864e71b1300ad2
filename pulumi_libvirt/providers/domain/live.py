"""Apply changes to a running guest (``VIR_DOMAIN_AFFECT_LIVE``), after the new persistent
definition has been defined: each device goes in or out with its XML as the new (or old)
definition holds it, so the guest and its definition agree on MACs and addresses."""

from __future__ import annotations

from collections.abc import Callable

import libvirt
from lxml import etree

from ... import xml
from ...connection import reason
from ...xml import policy
from .changes import Change, online_vcpus

LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
KiB = 1024


class NotLive(Exception):
    """libvirt refused to apply a change to the running guest (the change waits for a
    restart)."""


def apply(dom: libvirt.virDomain, changes: list[Change], before_xml: str, after_xml: str,
          after: dict) -> None:
    """Apply the live ``changes`` to the running guest; raise ``NotLive`` with libvirt's
    reason at the first one libvirt refuses."""
    documents = {"before": etree.fromstring(before_xml.encode()),
                 "after": etree.fromstring(after_xml.encode())}
    order = {"detach": 0, "update": 1, "field": 2, "attach": 3}
    for change in sorted(changes, key=lambda c: order.get(c.step[0] if c.step else "", 9)):
        if not change.step:
            raise NotLive(f"{change.words}: no live operation for it")
        action = _action(dom, change, documents, after)
        try:
            action()
        except libvirt.libvirtError as exc:
            raise NotLive(f"{change.words}: {reason(exc)}") from None
        if change.step[0] == "detach" and _still_there(dom, change, documents["before"]):
            raise NotLive(f"{change.words}: the guest did not release it (unplugging needs "
                          "the guest's cooperation)")


def _still_there(dom: libvirt.virDomain, change: Change, before: etree._Element) -> bool:
    """Whether a detached device is still in the running guest (libvirt waits a few seconds
    for the guest to release it, then returns anyway). Only lists with an identity key tell."""
    _kind, key, index = change.step
    path = f"devices.{key}"
    if ("domain", path) not in policy.IDENTITY:
        return False
    gone = xml.from_xml("domain", etree.tostring(before)).get("devices", {}).get(key) or []
    running = (xml.from_xml("domain", dom.XMLDesc(0)).get("devices") or {}).get(key) or []
    return xml.match_items("domain", path, running, [gone[index]])[0] is not None


def _action(dom, change: Change, documents: dict, after: dict) -> Callable[[], object]:
    kind, *rest = change.step
    if kind in ("attach", "detach", "update"):
        key, index = rest
        source = documents["before" if kind == "detach" else "after"]
        text = _device(source, key, index)
        if kind == "update" and key == "graphics":
            text = _graphics_update(dom, text)
        method = {"attach": dom.attachDeviceFlags, "detach": dom.detachDeviceFlags,
                  "update": dom.updateDeviceFlags}[kind]
        return lambda: method(text, LIVE)
    (path,) = rest
    top = path.split(".")[0]
    if top == "current_memory":
        kib = xml.to_bytes("domain", after["current_memory"]) // KiB
        return lambda: dom.setMemoryFlags(kib, libvirt.VIR_DOMAIN_MEM_LIVE)
    if path in ("vcpu.current", "vcpu") and top == "vcpu":
        count = online_vcpus(after)
        return lambda: dom.setVcpusFlags(count, libvirt.VIR_DOMAIN_VCPU_LIVE)
    if top in ("title", "description"):
        which = (libvirt.VIR_DOMAIN_METADATA_TITLE if top == "title"
                 else libvirt.VIR_DOMAIN_METADATA_DESCRIPTION)
        return lambda: dom.setMetadata(which, after.get(top) or None, None, None, LIVE)
    if top == "metadata":
        return lambda: _metadata(dom, documents)
    if top == "memtune":
        return lambda: dom.setMemoryParameters(_memtune(after.get("memtune") or {}), LIVE)
    if top == "blkiotune" and path in ("blkiotune", "blkiotune.weight"):
        weight = (after.get("blkiotune") or {}).get("weight")
        return lambda: dom.setBlkioParameters({"weight": int(weight)}, LIVE)
    if top == "cputune" and path.split(".")[-1] in _SCHEDULER:
        tune = after.get("cputune") or {}
        params = {_SCHEDULER[k]: int(_value(tune[k])) for k in _SCHEDULER if k in tune}
        return lambda: dom.setSchedulerParametersFlags(params, LIVE)

    def refuse() -> None:
        raise NotLive(f"{change.words}: no live operation for it")

    return refuse


_SCHEDULER = {"shares": "cpu_shares", "period": "vcpu_period", "quota": "vcpu_quota"}
_MEMTUNE = {"hard_limit": "hard_limit", "soft_limit": "soft_limit",
            "swap_hard_limit": "swap_hard_limit"}


def _value(item):
    return item.get("value") if isinstance(item, dict) else item


def _memtune(tune: dict) -> dict:
    return {name: xml.to_bytes("domain", tune[key]) // KiB
            for key, name in _MEMTUNE.items() if tune.get(key) is not None}


def _device(document: etree._Element, key: str, index: int) -> str:
    """The XML of the ``index``-th device of list ``key`` in a domain document."""
    tag = xml.load("domain").fields["devices"].spec.fields[key].tag
    devices = document.find("devices")
    elements = devices.findall(tag) if devices is not None else []
    return etree.tostring(elements[index], encoding="unicode")


# What libvirt changes on running graphics; everything else must be as the guest has it.
_GRAPHICS_LIVE = ("passwd", "passwdValidTo", "connected")


def _graphics_update(dom: libvirt.virDomain, text: str) -> str:
    """The running guest's graphics element of the same type with the new password, its
    expiry and the connected policy (libvirt refuses an update that changes anything else,
    such as the listen address it filled in)."""
    wanted = etree.fromstring(text.encode())
    running = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE).encode())
    for element in running.iterfind("devices/graphics"):
        if element.get("type") == wanted.get("type"):
            for name in _GRAPHICS_LIVE:
                if wanted.get(name) is None:
                    element.attrib.pop(name, None)
                else:
                    element.set(name, wanted.get(name))
            return etree.tostring(element, encoding="unicode")
    return text


def _metadata(dom: libvirt.virDomain, documents: dict) -> None:
    """Set each namespaced metadata element of the new definition on the running guest and
    drop those it no longer has."""
    before = documents["before"].find("metadata")
    after = documents["after"].find("metadata")
    kept = set()
    for element in after if after is not None else ():
        if not isinstance(element.tag, str) or not element.tag.startswith("{"):
            continue
        uri = element.tag[1:].split("}")[0]
        kept.add(uri)
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT,
                        etree.tostring(element, encoding="unicode"),
                        element.prefix or "meta", uri, LIVE)
    for element in before if before is not None else ():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            uri = element.tag[1:].split("}")[0]
            if uri not in kept:
                dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, uri, LIVE)
