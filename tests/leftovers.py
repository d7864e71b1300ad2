"""What test runs leave on a real daemon, and how the next run gets rid of it.

Every test run names its libvirt objects ``plvt-<6 hex>-...`` and holds an exclusive lock on
``<tmp>/pulumi-libvirt-test-runs/<prefix>lock`` for as long as it lives. A run removes its own
objects at the end (``remove_prefixed``); a run that could not (killed, or its daemon crashed
under it and kept the definition on disk) leaves objects whose prefix no live run holds. The
first time a run reaches a daemon it sweeps those away (``sweep_earlier_runs``), so an fs pool
left on ``/dev/loop0`` by a dead run cannot refuse the next run's pools ("Storage source
conflict"), while the objects of runs going on beside it (their lock is held) are left alone.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from pathlib import Path

LOCK_DIR = Path(tempfile.gettempdir()) / "pulumi-libvirt-test-runs"
PREFIX = re.compile(r"^plvt-[0-9a-f]{6}-")


def hold_run_lock(prefix: str) -> int:
    """Lock ``prefix`` as a live run's for as long as this process keeps the returned fd."""
    LOCK_DIR.mkdir(mode=0o1777, exist_ok=True)
    fd = os.open(LOCK_DIR / f"{prefix}lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def release_run_lock(prefix: str, fd: int) -> None:
    (LOCK_DIR / f"{prefix}lock").unlink(missing_ok=True)
    os.close(fd)


def is_live(prefix: str) -> bool:
    """Whether a running test run holds ``prefix``'s lock."""
    try:
        fd = os.open(LOCK_DIR / f"{prefix}lock", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def object_names(conn) -> list[str]:
    """The names of every domain, network, pool and volume (of active pools) on `conn`."""
    import libvirt

    names = [d.name() for d in conn.listAllDomains()]
    names += [n.name() for n in conn.listAllNetworks()]
    for pool in conn.listAllStoragePools():
        names.append(pool.name())
        try:
            names += pool.listVolumes() if pool.isActive() else []
        except libvirt.libvirtError:
            pass
    return names


def earlier_runs(names: list[str], own_prefix: str) -> list[str]:
    """The run prefixes among `names` that no live run holds, this run's own excepted."""
    prefixes = {match.group(0) for name in names if (match := PREFIX.match(name))}
    return sorted(p for p in prefixes if p != own_prefix and not is_live(p))


def sweep_earlier_runs(conn, own_prefix: str) -> list[str]:
    """Remove what dead runs left on `conn`; a description of each object removed.

    Their inactive pools are undefined without being started first: starting a dead run's fs
    pool would mount whatever its loop device holds now.
    """
    removed: list[str] = []
    for prefix in earlier_runs(object_names(conn), own_prefix):
        removed += remove_prefixed(conn, prefix, start_pools=False)
    return removed


def remove_prefixed(conn, prefix: str, start_pools: bool = True) -> list[str]:
    """Destroy and undefine every domain, network, pool and volume named `prefix`...

    Returns a description of each object removed. Errors on one object do not stop the rest.
    An inactive pool of `prefix` is started first (unless `start_pools` is false) so that its
    volumes are deleted with it.
    """
    import libvirt

    removed: list[str] = []

    def attempt(what: str, *steps) -> None:
        for step in steps:
            try:
                step()
            except libvirt.libvirtError:
                pass
        removed.append(what)

    for dom in conn.listAllDomains():
        if dom.name().startswith(prefix):
            flags = (
                libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
            )
            attempt(
                f"domain {dom.name()}",
                lambda d=dom: d.isActive() and d.destroy(),
                lambda d=dom, f=flags: d.undefineFlags(f),
            )
    for net in conn.listAllNetworks():
        if net.name().startswith(prefix):
            attempt(
                f"network {net.name()}",
                lambda n=net: n.isActive() and n.destroy(),
                lambda n=net: n.isPersistent() and n.undefine(),
            )
    for pool in conn.listAllStoragePools():
        ours = pool.name().startswith(prefix)
        if ours and start_pools and not pool.isActive():
            try:
                pool.create()
            except libvirt.libvirtError:
                pass
        if pool.isActive():
            try:
                pool.refresh()
                volumes = pool.listAllVolumes()
            except libvirt.libvirtError:
                volumes = []
            for vol in volumes:
                if ours or vol.name().startswith(prefix):
                    attempt(f"volume {pool.name()}/{vol.name()}", lambda v=vol: v.delete(0))
        if ours:
            attempt(
                f"pool {pool.name()}",
                lambda p=pool: p.isActive() and p.destroy(),
                lambda p=pool: p.delete(0),
                lambda p=pool: p.isPersistent() and p.undefine(),
            )
    return removed
