"""The safety nets: a run removes its prefixed objects from a real daemon at the end, and
only those; what dead runs left is swept by the next run, sparing runs going on beside it."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from leftovers import (
    earlier_runs,
    hold_run_lock,
    object_names,
    release_run_lock,
    remove_prefixed,
    sweep_earlier_runs,
)

libvirt = pytest.importorskip("libvirt")


def test_remove_prefixed(system_uri: str, run_prefix: str, tmp_path: Path) -> None:
    prefix = f"{run_prefix}cleanup-"
    conn = libvirt.open(system_uri)
    try:
        conn.defineXML(
            f"<domain type='qemu'><name>{prefix}dom</name><memory unit='MiB'>64</memory>"
            "<os><type arch='x86_64'>hvm</type></os></domain>"
        )
        conn.networkDefineXML(f"<network><name>{prefix}net</name></network>")
        pool = conn.storagePoolCreateXML(
            f"<pool type='dir'><name>{prefix}pool</name><target><path>{tmp_path}</path></target>"
            "</pool>"
        )
        pool.createXML(
            f"<volume><name>{prefix}vol</name><capacity unit='KiB'>64</capacity></volume>"
        )
        other = conn.networkDefineXML(f"<network><name>{run_prefix}kept-net</name></network>")

        removed = remove_prefixed(conn, prefix)

        assert sorted(removed) == sorted(
            [
                f"domain {prefix}dom",
                f"network {prefix}net",
                f"volume {prefix}pool/{prefix}vol",
                f"pool {prefix}pool",
            ]
        )
        assert not [d for d in conn.listAllDomains() if d.name().startswith(prefix)]
        assert not [n for n in conn.listAllNetworks() if n.name().startswith(prefix)]
        assert not [p for p in conn.listAllStoragePools() if p.name().startswith(prefix)]
        assert other.name() in [n.name() for n in conn.listAllNetworks()]
        other.undefine()
    finally:
        remove_prefixed(conn, prefix)
        conn.close()


def test_sweeps_what_dead_runs_left_and_spares_live_runs(system_uri: str, run_prefix: str,
                                                         tmp_path: Path) -> None:
    """A run killed before its cleanup left a network and an fs pool on a loop device; the
    next run to reach the daemon removes both, and nothing of a run still going on."""
    dead, live = (f"plvt-{secrets.token_hex(3)}-" for _ in range(2))
    conn = libvirt.open(system_uri)
    live_lock = hold_run_lock(live)
    try:
        conn.networkDefineXML(f"<network><name>{dead}net</name></network>")
        conn.storagePoolDefineXML(
            f"<pool type='fs'><name>{dead}fs</name><source><device path='/dev/loop63'/>"
            f"<format type='ext4'/></source><target><path>{tmp_path}</path></target></pool>")
        conn.networkDefineXML(f"<network><name>{live}net</name></network>")
        conn.networkDefineXML(f"<network><name>{run_prefix}sweep-own-net</name></network>")

        assert dead in earlier_runs(object_names(conn), run_prefix)
        removed = sweep_earlier_runs(conn, run_prefix)

        assert sorted(removed) == [f"network {dead}net", f"pool {dead}fs"]
        names = object_names(conn)
        assert not [n for n in names if n.startswith(dead)]
        assert f"{live}net" in names and f"{run_prefix}sweep-own-net" in names
        assert live not in earlier_runs(names, run_prefix)
    finally:
        for prefix in (dead, live, f"{run_prefix}sweep-own-"):
            remove_prefixed(conn, prefix, start_pools=False)
        release_run_lock(live, live_lock)
        conn.close()
