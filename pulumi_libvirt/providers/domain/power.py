"""Starting and stopping a domain: start flags, a bounded graceful shutdown, errors that say
what to do."""

from __future__ import annotations

import re
import time

import libvirt
import pulumi

from ...connection import LibvirtError, reason

# start_options keys -> virDomainCreateWithFlags flags.
START_FLAGS = {
    "paused": libvirt.VIR_DOMAIN_START_PAUSED,
    "bypass_cache": libvirt.VIR_DOMAIN_START_BYPASS_CACHE,
    "force_boot": libvirt.VIR_DOMAIN_START_FORCE_BOOT,
    "reset_nvram": getattr(libvirt, "VIR_DOMAIN_START_RESET_NVRAM", 32),
}

STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: "nostate",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutdown",
    libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}


def start(dom: libvirt.virDomain, options: dict | None, what: str, uri: str) -> None:
    """Start the domain with the start options; a failure says libvirt's reason and the fix."""
    flags = 0
    for key, flag in START_FLAGS.items():
        if (options or {}).get(key):
            flags |= flag
    try:
        dom.createWithFlags(flags) if flags else dom.create()
    except libvirt.libvirtError as exc:
        why = reason(exc)
        raise LibvirtError(f"cannot start {what} on {uri}: {why}{_hint(why, uri)}") from None


def stop(dom: libvirt.virDomain, timeout: float, what: str) -> None:
    """ACPI shutdown, then destroy when the guest is still running after ``timeout`` seconds
    (at once for 0)."""
    if not dom.isActive():
        return
    if timeout > 0:
        try:
            dom.shutdown()
        except libvirt.libvirtError:
            pass  # a paused guest, no ACPI: destroyed below
        deadline = time.monotonic() + timeout
        pause = 0.05
        while time.monotonic() < deadline:
            if not dom.isActive():
                return
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.5)
        if not dom.isActive():
            return
        pulumi.log.warn(f"{what} did not shut down within {timeout:g} s of the ACPI shutdown "
                        "request: destroying it (a forced power-off; a guest that handles "
                        "ACPI, e.g. with acpid, or a longer shutdown_timeout avoids it)")
    try:
        dom.destroy()
    except libvirt.libvirtError:
        if dom.isActive():
            raise


# States of a domain that is not running (every other state has a QEMU process).
INACTIVE = ("shutoff", "nostate")


def state(dom: libvirt.virDomain) -> str:
    return STATES.get(dom.state()[0], "unknown")


_PATH = re.compile(r"'(/[^']+)'")


def _hint(reason: str, uri: str) -> str:
    """What to do about a start failure, where libvirt's reason alone does not say."""
    lowered = reason.lower()
    path = _PATH.search(reason)
    where = f" '{path.group(1)}'" if path else ""
    if "permission denied" in lowered:
        return (f" (QEMU runs as an unprivileged user on {uri} — `user` in "
                f"/etc/libvirt/qemu.conf, libvirt-qemu on Debian — and cannot open{where}: "
                "that user needs read access to the file and search (x) permission on every "
                "directory above it; keep images in a storage pool's directory, or "
                "`chmod o+x` the directories)")
    if "no such file or directory" in lowered and path:
        return (f" (the file{where} does not exist on {uri}: create it first — a Volume "
                "resource — or correct the path)")
    if "is not active" in lowered and "network" in lowered:
        return " (start the network first: a Network resource with running=True)"
    return ""
