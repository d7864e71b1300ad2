"""What is wrong with a domain's definition across its fields, found at preview (no libvirt
host): current memory and vcpus above their maximum, a virtiofs filesystem without the shared
memory its virtiofsd needs. Problems are named as the user wrote them
(``devices.filesystems[0]``, or ``devices.filesystem``)."""

from __future__ import annotations

from functools import partial

from ... import xml
from ...xml import Problem
from ...xml.compare import has_unknown
from ..base import get_path, items_as_written

KIND = "domain"
SHARED_MEMORY = "memory_backing={'source': {'type': 'memfd'}, 'access': {'mode': 'shared'}}"

# The items of a list of the domain's model, each under its path as the user wrote it.
_entries = partial(items_as_written, KIND)


def memory_problems(model: dict) -> list[Problem]:
    """The current memory above the maximum."""
    current, memory = model.get("current_memory"), model.get("memory")
    if current is None or memory is None:
        return []
    now, most = xml.to_bytes(KIND, current), xml.to_bytes(KIND, memory)
    if isinstance(now, int) and isinstance(most, int) and now > most:
        return [Problem("current_memory", f"{now} bytes is more than memory ({most} bytes): "
                                          "the current memory can only be up to the maximum")]
    return []


def vcpu_problems(model: dict) -> list[Problem]:
    """More current vcpus than the maximum."""
    vcpu = model.get("vcpu")
    if isinstance(vcpu, dict) and isinstance(vcpu.get("current"), int) and isinstance(
            vcpu.get("value"), int) and vcpu["current"] > vcpu["value"]:
        return [Problem("vcpu.current", f"{vcpu['current']} is more than the maximum of "
                                        f"{vcpu['value']} vcpus")]
    return []


def virtiofs_problems(model: dict) -> list[Problem]:
    """A virtiofs filesystem on guest memory that virtiofsd cannot share: libvirt wants the
    memory backing's access mode 'shared', or every NUMA cell's memory shared (a cell's
    mem_access, else the memory backing's), and refuses the domain otherwise."""
    virtiofs = [where for where, fs in _entries(model.get("devices"), "devices.filesystems",
                                                "devices")
                if get_path(fs, "driver.type") == "virtiofs"]
    if not virtiofs or has_unknown(model.get("memory_backing")) or has_unknown(
            get_path(model, "cpu.numa")):
        return []
    access = get_path(model, "memory_backing.access.mode")
    cells = _entries(get_path(model, "cpu.numa"), "cpu.numa.cells", "cpu.numa")
    if cells:
        private = [where for where, cell in cells
                   if (cell.get("mem_access") or access) != "shared"]
        if not private:
            return []
        why = (f"{', '.join(private)} {'is' if len(private) == 1 else 'are'} not shared: write "
               "mem_access='shared' on each, or leave mem_access out of the cells and write "
               f"{SHARED_MEMORY}")
    elif access == "shared":
        return []
    else:
        why = f"add {SHARED_MEMORY}"
    return [Problem(f"{where}.driver.type", "'virtiofs' needs the guest's memory shared with "
                                            f"virtiofsd, and libvirt refuses it otherwise: {why}")
            for where in virtiofs]
