"""What pools and networks share on the libvirt side: their state, their persistent XML."""

from __future__ import annotations

from typing import Any

import libvirt


def set_state(obj: Any, active: bool, autostart: bool) -> None:
    """Start or stop a pool or network, and set whether libvirtd starts it, as asked."""
    if active and not obj.isActive():
        obj.create()
    elif not active and obj.isActive():
        obj.destroy()
    if bool(obj.autostart()) != autostart:
        obj.setAutostart(int(autostart))


def persistent_xml(obj: Any, inactive_flag: int) -> str:
    """A pool's or network's persistent definition (what it is on its next start)."""
    try:
        return obj.XMLDesc(inactive_flag)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() not in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
            raise
        return obj.XMLDesc(0)  # the test driver knows no flags
