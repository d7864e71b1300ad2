"""How a change to a domain's definition reaches the guest: live, by restarting it, or by
replacing it — in words for the preview, and as steps for the update.

Built on the policy table (``xml.policy.UPDATE_MODES``), refined from the values where the
table cannot say (a disk on a bus that cannot hot-plug; a media change is live only for cdroms
and floppies). Device lists are compared item by item, matched as projection matches them
(by identity key, else by position): an item only in the new list is attached, one only in the
old list detached, one in both changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ... import xml
from ...xml import policy

# Disk buses QEMU can hot-plug (a disk's bus, or the one libvirt picks from its name).
_HOTPLUG_BUSES = {"virtio", "scsi", "usb"}
_BUS_BY_PREFIX = {"vd": "virtio", "sd": "scsi", "hd": "ide", "fd": "fdc", "xvd": "xen"}
# Identity labels for device kinds without an identity key in the policy table.
_LABELS = {"graphics": "type", "videos": "model.type", "rngs": "model", "tpms": "model",
           "sounds": "model", "inputs": "type", "panics": "model", "smartcards": "mode"}


@dataclass
class Change:
    """One change: the top-level input key it belongs to, how it applies, and in words."""

    key: str
    mode: str  # "live", "reboot" or "replace"
    words: str
    step: tuple = ()  # for the update: ("attach"|"detach"|"update", list key, index) or
    # ("field", path)


def classify(old: dict, new: dict) -> list[Change]:
    """The changes from the ``old`` domain model to the ``new`` one."""
    spec = xml.load("domain")
    device_spec = spec.fields["devices"].spec
    lists = [key for key, f in device_spec.fields.items() if getattr(f, "many", False)]
    old_devices = old.get("devices") if isinstance(old.get("devices"), dict) else {}
    new_devices = new.get("devices") if isinstance(new.get("devices"), dict) else {}

    def without_lists(model: dict, devices: dict) -> dict:
        rest = {k: v for k, v in model.items() if k != "devices"}
        singles = {k: v for k, v in devices.items() if k not in lists}
        if singles:
            rest["devices"] = singles
        return rest

    changes = []
    for path in xml.differences("domain", without_lists(old, old_devices),
                                without_lists(new, new_devices)):
        changes.append(Change(path.split(".")[0], _field_mode(path, old, new),
                              "name (renamed)" if path == "name" else path, ("field", path)))
    for key in lists:
        before, after = old_devices.get(key) or [], new_devices.get(key) or []
        if before == after or not isinstance(before, list) or not isinstance(after, list):
            if before != after:
                changes.append(Change("devices", "reboot", f"devices.{key}"))
            continue
        changes.extend(_list_changes(key, before, after))
    return changes


def _field_mode(path: str, old: dict, new: dict) -> str:
    """The policy row's mode, refined: fewer online vcpus is a restart. Unplugging a vcpu needs
    the guest's cooperation, libvirt gives up after five seconds with the result undefined, and
    a late release crashed QEMU 7.2 and libvirtd 11.3 (seen on TCG guests); more is live."""
    mode = xml.update_mode("domain", path)
    if mode == "live" and path == "vcpu.current" and online_vcpus(new) < online_vcpus(old):
        return "reboot"
    return mode


def online_vcpus(model: dict) -> int:
    """The vcpus a model starts with: ``vcpu.current``, else the maximum (0 if unknown)."""
    vcpu = model.get("vcpu")
    if isinstance(vcpu, dict):
        vcpu = vcpu.get("current", vcpu.get("value"))
    try:
        return int(vcpu)
    except (TypeError, ValueError):
        return 0


def _list_changes(key: str, before: list, after: list) -> list[Change]:
    path = f"devices.{key}"
    noun = _noun(key)
    matches = xml.match_items("domain", path, before, after)
    list_mode = xml.update_mode("domain", path)
    changes = []
    is_open = ("domain", path) in policy.OPEN_LISTS
    for index, (item, match) in enumerate(zip(after, matches, strict=True)):
        label = _label(key, item, index)
        if match is None:
            mode = _membership_mode(key, item, list_mode)
            changes.append(Change("devices", mode, f"{noun} {label} (added)",
                                  ("attach", key, index)))
            continue
        paths = xml.differences("domain", {"devices": {key: [before[match]]}},
                                {"devices": {key: [item]}})
        if not paths:
            continue
        mode = "live"
        for sub in paths:
            mode = _worse(mode, _item_mode(key, path, sub, before[match], item))
        fields = ", ".join(sorted({p[len(path) + 1:] or p for p in paths}))
        changes.append(Change("devices", mode, f"{noun} {label} ({fields})",
                              ("update", key, index)))
    for index, item in enumerate(before):
        if index in matches or is_open:
            continue
        mode = _membership_mode(key, item, list_mode)
        changes.append(Change("devices", mode, f"{noun} {_label(key, item, index)} (removed)",
                              ("detach", key, index)))
    return changes


def _membership_mode(key: str, item: Any, list_mode: str) -> str:
    """How an item is attached or detached: the list's row, refined for disks by the bus."""
    if list_mode != "live" or key != "disks" or not isinstance(item, dict):
        return list_mode
    return "live" if _disk_bus(item) in _HOTPLUG_BUSES else "reboot"


def _disk_bus(disk: dict) -> str | None:
    target = disk.get("target") if isinstance(disk.get("target"), dict) else {}
    if target.get("bus"):
        return target["bus"]
    dev = str(target.get("dev") or "")
    for prefix in sorted(_BUS_BY_PREFIX, key=len, reverse=True):
        if dev.startswith(prefix):
            return _BUS_BY_PREFIX[prefix]
    return None


def _item_mode(key: str, list_path: str, path: str, old: Any, new: Any) -> str:
    """A change inside an item is live only where a row names its field (longer than the
    list's own row); a media change only for cdroms and floppies."""
    best, mode = len(list_path), "reboot"
    for (kind, prefix), row_mode in policy.UPDATE_MODES.items():
        if kind != "domain" or len(prefix) <= best:
            continue
        if path == prefix or path.startswith(prefix + "."):
            best, mode = len(prefix), row_mode
    if mode == "live" and key == "disks" and path.startswith("devices.disks.source"):
        devices = {d.get("device") for d in (old, new) if isinstance(d, dict)}
        if not devices <= {"cdrom", "floppy"}:
            return "reboot"
    return mode


_ORDER = {"live": 0, "reboot": 1, "replace": 2}


def _worse(a: str, b: str) -> str:
    return a if _ORDER[a] >= _ORDER[b] else b


def _noun(key: str) -> str:
    spec = xml.load("domain").fields["devices"].spec
    return spec.fields[key].tag.rpartition("}")[2]


def _label(key: str, item: Any, index: int) -> str:
    """How the preview names an item: by its identity where it has one."""
    rule = policy.IDENTITY.get(("domain", f"devices.{key}")) or _LABELS.get(key)
    for part in (rule if isinstance(rule, tuple) else (rule,)) if rule else ():
        value = item
        for step in part.split("."):
            value = value.get(step) if isinstance(value, dict) else None
        if value is not None and not isinstance(value, (dict, list)):
            return repr(str(value))
    return f"#{index + 1}"


def summary(changes: list[Change]) -> dict[str, list[str]]:
    """Words by mode: {"live": [...], "reboot": [...], "replace": [...]}."""
    words: dict[str, list[str]] = {"live": [], "reboot": [], "replace": []}
    for change in changes:
        if change.words not in words[change.mode]:
            words[change.mode].append(change.words)
    return words
