"""The session-end safety net removes prefixed objects from a real daemon, and only those."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import remove_prefixed

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
